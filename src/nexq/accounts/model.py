"""Accounts' pure types and rules: API keys, sessions, scopes, password rules."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from nexq.core.errors import Invalid
from nexq.core.identity import Scope, ScopeCatalog

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def folded_email(email: str) -> str:
    """How emails compare: regardless of the case of ASCII letters only, as SQLite's NOCASE
    and ``lower()`` in both engines fold them (É and é stay two emails)."""
    return email.translate(_ASCII_LOWER)


# Tokens carry a recognisable prefix so that secret scanners can find leaked ones.
API_KEY_PREFIX = "nxq_"
SESSION_PREFIX = "nxs_"
RESET_PREFIX = "nxr_"
TOKEN_LENGTH = 40  # base62 characters after the prefix: ~238 bits
SESSION_SECONDS = 12 * 3600
# A password reset link the operator hands over lasts long enough to be passed on by chat or
# phone, and no longer: whoever reads it afterwards finds it spent.
RESET_SECONDS = 3600

# Account's own scopes; every other service declares its own (app.py gathers them all).
SCOPES = (
    Scope("account:read", "Read the account and its API keys."),
    Scope("account:write", "Change the password; create, revoke and regenerate API keys."),
    Scope("admin:read", "Operators: list accounts, read the support queue.", operators_only=True),
    Scope(
        "admin:write",
        "Operators: suspend and resume accounts, handle support tickets.",
        operators_only=True,
    ),
)
OWN_SCOPES = ScopeCatalog(SCOPES)  # what Account alone grants (tests, tools)

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
PASSWORD_RULES = (
    f"A password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long "
    "and must not be the email address."
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 254
MAX_NAME = 100
MAX_DESCRIPTION = 500


def check_email(email: str) -> str:
    """The email, trimmed; Invalid when it cannot be one."""
    email = email.strip()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise Invalid(f"{email!r} is not an email address.")
    return email


def check_password(password: str, email: str) -> None:
    """Invalid, stating the rules, when ``password`` breaks them."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or password.lower() == email.lower():
        raise Invalid(PASSWORD_RULES)


def api_key_quota_message(count: int) -> str:
    """The explanation of a refused new API key: the account has ``count``, its limit."""
    return (
        f"The account already has {count} API keys, its api_keys limit; "
        "delete one (revoked keys count until deleted) or move to a larger service tier."
    )


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A platform API key; only a hash of its token is ever stored."""

    id: str
    account_id: str
    name: str
    description: str
    scopes: frozenset[str]
    status: str  # active | revoked
    created_at: float
    last_used_at: float | None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class LoginState:
    """Failed logins counted against one (account, source address), or the whole account."""

    failures: int = 0
    blocked_until: float = 0.0
    updated_at: float = 0.0


# The counter of the whole account (every source together) is kept under this source name.
ANY_SOURCE = "*"


@dataclass(frozen=True, slots=True)
class Session:
    """A console login; it can do what its account can do until it expires."""

    account_id: str
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class PasswordReset:
    """A one-time password reset the operator issued; only a hash of its token is kept."""

    account_id: str
    created_at: float
    expires_at: float


# A deleted account keeps its row (invoices name it) under an email nobody can sign up with
# or log in as, so that its own email is free for a new account.
DELETED = "deleted"


def tombstone_email(account_id: str, email: str) -> str:
    """What a deleted account's email becomes: unique, recognisable, never typed at a login."""
    return f"deleted:{account_id}:{email}"
