"""Use cases of accounts: sign-up, login, sessions, passwords, operator administration."""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections.abc import Callable, Sequence

from nexq.accounts.errors import AccountHolds, EmailTaken, NoSuchResetLink
from nexq.accounts.model import (
    ANY_SOURCE,
    DELETED,
    OWN_SCOPES,
    RESET_PREFIX,
    RESET_SECONDS,
    SESSION_PREFIX,
    SESSION_SECONDS,
    TOKEN_LENGTH,
    LoginState,
    PasswordReset,
    Session,
    check_email,
    check_password,
    tombstone_email,
)
from nexq.accounts.port import AccountStore
from nexq.core.crypto import hash_password, hash_token, verify_password
from nexq.core.errors import Invalid
from nexq.core.holdings import Departure, refusal
from nexq.core.identity import (
    Account,
    AccountSuspended,
    NoSuchAccount,
    Principal,
    ScopeCatalog,
    TooManyAttempts,
    Unauthenticated,
)
from nexq.core.ids import new_id, random_string

# Per (account, source address): after FREE_ATTEMPTS failures in a row, that address waits
# BLOCK_SECONDS, doubling with each further failure, up to MAX_BLOCK.
FREE_ATTEMPTS = 5
BLOCK_SECONDS = 10.0
MAX_BLOCK = 900.0
# The backstop against guesses spread over many addresses: the whole account, every address
# together, after ACCOUNT_FREE_ATTEMPTS failures within ACCOUNT_WINDOW seconds.
ACCOUNT_FREE_ATTEMPTS = 50
ACCOUNT_WINDOW = 900.0
ACCOUNT_BLOCK_SECONDS = 60.0


def login_source(address: str | None) -> str:
    """The unit a login throttle counts: an IPv4 address, or an IPv6 /64 (one subscriber
    usually holds a whole /64, so counting single IPv6 addresses would count nothing)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _delay(failures: int, free: int, base: float) -> float:
    return 0.0 if failures < free else min(base * 2 ** (failures - free), MAX_BLOCK)


def _charge(
    source: str, now: float
) -> Callable[[dict[str, LoginState]], dict[str, LoginState] | float]:
    """The rule, applied inside the store's transaction: a blocked source or account waits;
    otherwise the attempt is counted as a failure before the password is even checked (a
    success takes it back), so concurrent guesses cannot all pass an unchanged counter."""

    def charge(states: dict[str, LoginState]) -> dict[str, LoginState] | float:
        pair, account = states[source], states[ANY_SOURCE]
        wait = max(pair.blocked_until, account.blocked_until) - now
        if wait > 0:
            return wait
        if now - account.updated_at > ACCOUNT_WINDOW:
            account = LoginState()  # the backstop counts recent failures only
        pair_failures, account_failures = pair.failures + 1, account.failures + 1
        return {
            source: LoginState(
                pair_failures,
                now + _delay(pair_failures, FREE_ATTEMPTS, BLOCK_SECONDS),
                now,
            ),
            ANY_SOURCE: LoginState(
                account_failures,
                now + _delay(account_failures, ACCOUNT_FREE_ATTEMPTS, ACCOUNT_BLOCK_SECONDS),
                now,
            ),
        }

    return charge


@functools.cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so that a login takes as long either way."""
    return hash_password("not-a-real-password")


class Accounts:
    """Create accounts, log in and out, change passwords, suspend and resume."""

    def __init__(
        self,
        store: AccountStore,
        scopes: ScopeCatalog = OWN_SCOPES,
        departures: Callable[[], Sequence[Departure]] = tuple,
    ) -> None:
        self._store = store
        self._scopes = scopes  # every service's (app.py); Account's own alone by default
        # Every service's part in deleting an account (app.py: the descriptors, once built).
        self._departures = departures

    def count(self) -> dict[tuple[str, str], int]:
        """How many accounts there are, by (role, status)."""
        return self._store.count_accounts()

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

    def principal(self, account: Account) -> Principal:
        """``account`` acting with every scope of its role (as the operator's commands do)."""
        return Principal(account, frozenset(self._scopes.of_role(account.role)))

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

    def login(
        self, email: str, password: str, address: str | None = None
    ) -> tuple[str, Session, Account]:
        """A new session token for the right email and password; it is returned only here.

        Failures are counted per (account, source address): after FREE_ATTEMPTS in a row,
        that address waits a delay that doubles with each further failure (capped), while
        the owner logging in from elsewhere is not held up by a stranger's guesses. Guesses
        spread over many addresses meet the account-wide backstop.
        """
        now = time.time()
        account = self._store.find_account(email.strip())
        source = login_source(address)
        if account is not None:
            wait = self._store.charge_login(account.id, [source, ANY_SOURCE], _charge(source, now))
            if wait > 0:
                raise TooManyAttempts(math.ceil(wait))
        stored = self._store.password_hash(account.id) if account is not None else None
        valid = verify_password(stored or _dummy_hash(), password)
        if account is None or not valid:
            raise Unauthenticated("The email or password is wrong.")
        self._store.login_succeeded(account.id, source, ANY_SOURCE)
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

    def issue_password_reset(self, account: Account) -> tuple[str, PasswordReset]:
        """A one-time reset token for ``account`` (the operator hands it over: there is no
        mail server); it is returned only here, and only its hash is kept."""
        if not account.active:
            raise Invalid(f"The account {account.email} is {account.status}; resume it first.")
        now = time.time()
        reset = PasswordReset(account.id, now, now + RESET_SECONDS)
        token = RESET_PREFIX + random_string(TOKEN_LENGTH)
        self._store.add_password_reset(hash_token(token), reset)
        return token, reset

    def password_reset(self, token: str) -> Account:
        """Whose password ``token`` resets; NoSuchResetLink when unknown, used or expired."""
        reset = self._store.find_password_reset(hash_token(token))
        if reset is None:
            raise NoSuchResetLink(
                "This password reset link is unknown or has already been used; "
                "ask your operator for a new one."
            )
        if reset.expires_at <= time.time():
            raise NoSuchResetLink(
                "This password reset link has expired (a link lasts one hour); "
                "ask your operator for a new one."
            )
        account = self._store.get_account(reset.account_id)
        if account is None or not account.active:
            raise NoSuchResetLink("The account of this password reset link is not active.")
        return account

    def reset_password(self, token: str, new: str) -> Account:
        """Set the password through a reset token, once: the token is spent and every session
        of the account ends (whoever held the old password is logged out)."""
        account = self.password_reset(token)
        check_password(new, account.email)  # a refused password leaves the link usable
        if self._store.use_password_reset(hash_token(token), hash_password(new), time.time()):
            return account
        raise NoSuchResetLink(
            "This password reset link has just been used or has expired; "
            "ask your operator for a new one."
        )

    def delete(self, principal: Principal, password: str) -> None:
        """The holder deletes their own account, proving it with the password."""
        account = principal.account
        stored = self._store.password_hash(account.id)
        if stored is None or not verify_password(stored, password):
            raise Invalid("The password is wrong.")
        self.remove(account)

    def remove(self, account: Account) -> None:
        """Delete ``account`` (the holder's request, or the operator's command): refused,
        naming what is left, while it holds resources in any service. Its credentials stop
        working at once; its row stays, under an email nobody can use (invoices and closed
        tickets name it), and its email may sign up again."""
        if account.status == DELETED:
            raise NoSuchAccount(f"The account {account.email} is deleted already.")
        if account.role == "operator" and self._last_operator(account):
            raise Invalid("This is the only active operator account; it cannot be deleted.")
        owner = self.principal(account)
        held = [h for d in self._departures() for h in d.held(owner)]
        if held:
            raise AccountHolds(refusal(held))
        # A request in flight when the services were asked may still make something; the
        # account is refused from here on, so that nothing more can be.
        self._store.delete_account(account.id, tombstone_email(account.id, account.email), DELETED)
        for departure in self._departures():
            departure.settle(owner)

    def _last_operator(self, account: Account) -> bool:
        counts = self._store.count_accounts()
        return account.active and counts.get(("operator", "active"), 0) <= 1

    def session_principal(self, token: str) -> Principal:
        """Who a session token belongs to; Unauthenticated when unknown or expired."""
        token_hash = hash_token(token)
        session = self._store.find_session(token_hash)
        if session is None or session.expires_at <= time.time():
            raise Unauthenticated("The session is unknown or has expired; log in again.")
        account = self._active(session.account_id)
        scopes = frozenset(self._scopes.of_role(account.role))
        return Principal(account, scopes, session_hash=token_hash)

    def _active(self, account_id: str) -> Account:
        account = self._store.get_account(account_id)
        if account is None or account.status == DELETED:
            raise Unauthenticated("The account of these credentials no longer exists.")
        if not account.active:
            raise AccountSuspended("The account is suspended; contact the operator.")
        return account
