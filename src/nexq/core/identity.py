"""Identity, shared by every service: accounts, the calling principal, scopes.

The accounts service owns the life cycle (sign-up, sessions, API keys, tiers); every other
service only receives a :class:`Principal` and asks what it may do. Kept here, in the kernel,
so that no service has to import another to know who is calling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nexq.core.errors import DomainError, Forbidden, NotFound


@dataclass(frozen=True, slots=True)
class Account:
    """Who owns resources: a customer or an operator."""

    id: str
    email: str
    role: str  # customer | operator
    status: str  # active | suspended
    created_at: float

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and with what scopes."""

    account: Account
    scopes: frozenset[str]
    api_key_id: str | None = None  # None for a console session
    session_hash: str | None = None
    # The only resources these credentials reach (an S3 access key limited to some buckets:
    # their ids); None reaches every resource of the account.
    reaches: frozenset[str] | None = None
    # Resources of other accounts that let this caller in for the request at hand (a
    # bucket policy's Allow: their ids).
    granted: frozenset[str] = frozenset()

    @property
    def anonymous(self) -> bool:
        """An unsigned request: nobody's account."""
        return not self.account.id


ANONYMOUS = Account(id="", email="", role="anonymous", status="active", created_at=0.0)


@dataclass(frozen=True, slots=True)
class Scope:
    """A permission an API key can hold, as the service that checks it declares it."""

    name: str  # service:read or service:write
    about: str  # what it allows, as the console explains it
    operators_only: bool = False


@dataclass(frozen=True, slots=True)
class ScopeCatalog:
    """Every scope of the installation: what each service declares."""

    scopes: tuple[Scope, ...]

    def of_role(self, role: str) -> tuple[str, ...]:
        """Every scope an account of ``role`` can hold."""
        return tuple(s.name for s in self.scopes if role == "operator" or not s.operators_only)

    def about(self, name: str) -> str:
        return next((s.about for s in self.scopes if s.name == name), "")


def grants(scopes: frozenset[str], needed: str) -> bool:
    """Whether ``scopes`` allow ``needed``; a service's write scope includes its read scope."""
    if needed in scopes:
        return True
    service, _, level = needed.partition(":")
    return level == "read" and f"{service}:write" in scopes


# Errors of identity: every protocol maps them, whichever service raised them -------------


class Unauthenticated(DomainError):
    """The caller could not be identified: no, unknown, revoked or expired credentials."""


class AccountSuspended(Forbidden):
    """The account is suspended."""


class MissingScope(Forbidden):
    """The credentials lack a scope the action needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"This action needs the scope {scope!r}, which the API key lacks.")
        self.scope = scope


class NoSuchAccount(NotFound):
    """The specified account does not exist."""


class BeyondCallerScopes(Forbidden):
    """The caller would obtain or affect a key holding scopes the caller lacks."""

    def __init__(self, action: str, scopes: list[str]) -> None:
        super().__init__(
            f"{action}: the key holds scopes this caller lacks ({', '.join(scopes)}); "
            "a key can never obtain or affect a key wider than itself."
        )
        self.scopes = scopes


class TooManyAttempts(DomainError):
    """Too many failed logins: wait before trying again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed logins for this account; try again in {retry_after} seconds."
        )
        self.retry_after = retry_after


class Authenticator(Protocol):
    """Turns a bearer token (an API key or a console session) into the caller.

    The accounts service provides it; the web kits use it without knowing any service.
    """

    def principal(self, token: str) -> Principal:
        """The caller behind ``token``; Unauthenticated or AccountSuspended when refused."""
        ...
