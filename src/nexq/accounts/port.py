"""What accounts need from a metadata store. Every implementation passes tests/contract."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from nexq.accounts.model import ApiKey, LoginState, PasswordReset, Session
from nexq.core.identity import Account


class TierChange(NamedTuple):
    """An account moved from one tier to another (tier ids; None is the installation's
    default, which an account has until it first chooses)."""

    at: float  # Unix time
    from_tier: str | None
    to_tier: str


class AccountStore(Protocol):
    """Accounts, their password hashes, console sessions and API keys."""

    # accounts
    def add_account(self, account: Account, password_hash: str) -> None:
        """Insert; raises EmailTaken (a Conflict) when the email, compared as
        :meth:`find_account` does, is taken."""

    def get_account(self, account_id: str) -> Account | None: ...
    def find_account(self, email: str) -> Account | None:
        """The account with ``email``, compared without regard to the case of ASCII letters
        (É and é are two emails: the contract is SQLite's NOCASE, which a store on another
        engine keeps, e.g. PostgreSQL with a unique index on the ASCII-lowered email)."""

    def list_accounts(self, after: tuple[float, str] | None, limit: int) -> list[Account]:
        """Accounts in (created_at, id) order, after the given position."""

    def count_accounts(self) -> dict[tuple[str, str], int]:
        """How many accounts there are, by (role, status)."""

    def set_account_status(self, account_id: str, status: str) -> None:
        """Change the status; every cached credential of the account is re-read."""

    def password_hash(self, account_id: str) -> str | None: ...
    def charge_login(
        self,
        account_id: str,
        sources: Sequence[str],
        charge: Callable[[dict[str, LoginState]], dict[str, LoginState] | float],
    ) -> float:
        """Atomically, across threads and processes: read the login states of ``sources``
        (a default state where none is kept), and store what ``charge`` returns; if it
        returns seconds to wait instead, store nothing and return them (else 0)."""

    def login_succeeded(self, account_id: str, source: str, any_source: str) -> None:
        """Forget the failures of ``source``, and take back the attempt charged to
        ``any_source`` (the whole account's counter)."""

    def set_password_hash(self, account_id: str, password_hash: str) -> None: ...
    def delete_account(self, account_id: str, email: str, status: str) -> None:
        """Keep the row under ``email`` and ``status``, with no usable password; end its
        sessions, API keys, password resets and login counters; every cached credential of
        the account is re-read (the auth generation moves)."""

    # password resets
    def add_password_reset(self, token_hash: str, reset: PasswordReset) -> None:
        """Insert, dropping every reset that expired before ``reset`` was made."""

    def find_password_reset(self, token_hash: str) -> PasswordReset | None: ...
    def use_password_reset(self, token_hash: str, password_hash: str, now: float) -> str | None:
        """Atomically: remove the reset if it is unexpired at ``now``, set the account's
        password, end its sessions and its other resets; the account's id, or None if there
        was no such reset (unknown, expired, or used by a concurrent call)."""

    # tiers and limits
    def account_tier(self, account_id: str) -> str | None:
        """The account's tier id, or None for the installation's default."""

    def set_account_tier(self, account_id: str, tier: str, at: float | None = None) -> None:
        """Move the account to ``tier`` at ``at`` (Unix time; now when None), and record the
        change in its tier history in the same write (a move to the tier it has records
        nothing; a second change at the same instant replaces the first's destination)."""

    def tier_changes(self, account_id: str, after: float) -> list[TierChange]:
        """The account's tier changes strictly after ``after``, oldest first."""

    def limit_overrides(self, account_id: str) -> dict[str, int | None]:
        """Operator overrides by limit name (None = unlimited)."""

    def set_limit_override(self, account_id: str, name: str, value: int | None) -> None: ...
    def clear_limit_override(self, account_id: str, name: str) -> None: ...

    # sessions
    def add_session(self, token_hash: str, session: Session) -> None:
        """Insert, dropping every session that expired before ``session`` began (logins are
        the house-keeping of sessions: no timer)."""

    def find_session(self, token_hash: str) -> Session | None: ...
    def remove_session(self, token_hash: str) -> None: ...
    def remove_sessions(self, account_id: str, keep: str | None) -> None:
        """End every session of the account except the one whose hash is ``keep``."""

    # API keys
    def add_api_key(self, key: ApiKey, token_hash: str, max_keys: int | None = None) -> None:
        """Insert; QuotaExceeded when the account already has ``max_keys`` keys."""

    def count_api_keys(self, account_id: str) -> int: ...
    def get_api_key(self, account_id: str, key_id: str) -> ApiKey | None: ...
    def find_api_key(self, token_hash: str) -> ApiKey | None: ...
    def list_api_keys(
        self, account_id: str, after: tuple[float, str] | None, limit: int
    ) -> list[ApiKey]:
        """The account's keys in (created_at, id) order, after the given position."""

    def set_api_key_status(self, account_id: str, key_id: str, status: str) -> bool: ...
    def set_api_key_token(self, account_id: str, key_id: str, token_hash: str) -> bool: ...
    def remove_api_key(self, account_id: str, key_id: str) -> bool: ...
    def touch_api_key(self, key_id: str, when: float) -> None:
        """Record a use (callers throttle it: it is a write)."""
