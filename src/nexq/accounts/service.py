"""Use cases of accounts: sign-up, login, sessions, passwords, operator administration."""

from __future__ import annotations

import functools
import math
import time

from nexq.accounts.errors import AccountSuspended, EmailTaken, TooManyAttempts, Unauthenticated
from nexq.accounts.model import (
    ALL_SCOPES,
    SESSION_PREFIX,
    SESSION_SECONDS,
    TOKEN_LENGTH,
    Principal,
    Session,
    check_email,
    check_password,
    scopes_of_role,
)
from nexq.accounts.port import AccountStore
from nexq.core.crypto import hash_password, hash_token, verify_password
from nexq.core.errors import Invalid
from nexq.core.ids import new_id, random_string
from nexq.storage.errors import NoSuchAccount
from nexq.storage.model import Account

FREE_ATTEMPTS = 5
BLOCK_SECONDS = 10.0
MAX_BLOCK = 900.0


@functools.cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so that a login takes as long either way."""
    return hash_password("not-a-real-password")


class Accounts:
    """Create accounts, log in and out, change passwords, suspend and resume."""

    def __init__(self, store: AccountStore) -> None:
        self._store = store

    def create(self, email: str, password: str, role: str = "customer") -> Account:
        """A new account; the email is unique regardless of case."""
        email = check_email(email)
        check_password(password, email)
        if role not in ("customer", "operator"):
            raise Invalid(f"{role!r} is not a role; use customer or operator.")
        if self._store.find_account(email) is not None:
            raise EmailTaken(f"An account with the email {email} already exists.")
        account = Account(new_id(), email, role, "active", time.time())
        self._store.add_account(account, hash_password(password))
        return account

    def get(self, email: str) -> Account:
        """The account with ``email``."""
        account = self._store.find_account(email.strip())
        if account is None:
            raise NoSuchAccount(f"No account with the email {email}.")
        return account

    def find(self, email: str) -> Account | None:
        """The account with ``email``, if any."""
        return self._store.find_account(email.strip())

    def get_by_id(self, account_id: str) -> Account:
        """The account with ``account_id``."""
        account = self._store.get_account(account_id)
        if account is None:
            raise NoSuchAccount(f"No account with the id {account_id}.")
        return account

    def list(self, after: tuple[float, str] | None, limit: int) -> list[Account]:
        """Every account, oldest first (operators only; the caller checks the scope)."""
        return self._store.list_accounts(after, limit)

    def set_suspended(self, account: Account, suspended: bool) -> Account:
        """Suspend or resume: every key of a suspended account is refused at once."""
        self._store.set_account_status(account.id, "suspended" if suspended else "active")
        return self.get_by_id(account.id)

    def administer(self, caller: Principal, account_id: str, suspended: bool) -> Account:
        """An operator suspends or resumes another account."""
        if account_id == caller.account.id and suspended:
            raise Invalid("Operators cannot suspend their own account.")
        return self.set_suspended(self.get_by_id(account_id), suspended)

    def login(self, email: str, password: str) -> tuple[str, Session, Account]:
        """A new session token for the right email and password; it is returned only here.

        After FREE_ATTEMPTS consecutive failures an account's logins are refused for a delay
        that doubles with each further failure (capped), so guessing a password is slowed
        down across every process while the real owner waits minutes at worst.
        """
        now = time.time()
        account = self._store.find_account(email.strip())
        failures = 0
        if account is not None:
            failures, blocked_until = self._store.login_state(account.id)
            if blocked_until > now:
                raise TooManyAttempts(math.ceil(blocked_until - now))
        stored = self._store.password_hash(account.id) if account is not None else None
        valid = verify_password(stored or _dummy_hash(), password)
        if account is None or not valid:
            if account is not None:
                failures += 1
                delay = 0.0
                if failures >= FREE_ATTEMPTS:
                    delay = min(BLOCK_SECONDS * 2 ** (failures - FREE_ATTEMPTS), MAX_BLOCK)
                self._store.record_login(account.id, True, now + delay)
            raise Unauthenticated("The email or password is wrong.")
        if failures:
            self._store.record_login(account.id, False, 0.0)
        if not account.active:
            raise AccountSuspended("The account is suspended; contact the operator.")
        session = Session(account.id, now, now + SESSION_SECONDS)
        token = SESSION_PREFIX + random_string(TOKEN_LENGTH)
        self._store.add_session(hash_token(token), session)
        return token, session, account

    def logout(self, principal: Principal) -> None:
        """End the caller's session."""
        if principal.session_hash is None:
            raise Invalid("Only a session (from POST /v1/login) can log out; API keys are revoked.")
        self._store.remove_session(principal.session_hash)

    def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Replace the password and end every other session of the account."""
        account = principal.account
        stored = self._store.password_hash(account.id)
        if stored is None or not verify_password(stored, current):
            raise Invalid("The current password is wrong.")
        check_password(new, account.email)
        self._store.set_password_hash(account.id, hash_password(new))
        self._store.remove_sessions(account.id, keep=principal.session_hash)

    def session_principal(self, token: str) -> Principal:
        """Who a session token belongs to; Unauthenticated when unknown or expired."""
        token_hash = hash_token(token)
        session = self._store.find_session(token_hash)
        if session is None or session.expires_at <= time.time():
            raise Unauthenticated("The session is unknown or has expired; log in again.")
        account = self._active(session.account_id)
        scopes = frozenset(scopes_of_role(account.role)) & ALL_SCOPES
        return Principal(account, scopes, session_hash=token_hash)

    def _active(self, account_id: str) -> Account:
        account = self._store.get_account(account_id)
        if account is None:
            raise Unauthenticated("The account of these credentials no longer exists.")
        if not account.active:
            raise AccountSuspended("The account is suspended; contact the operator.")
        return account
