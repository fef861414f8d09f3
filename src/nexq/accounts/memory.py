"""The account store in memory: use cases run on it without a database (tests, tools).

One lock does what SQLite's write transaction does: a login is charged atomically, a key
counted and added in one step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from nexq.accounts.errors import EmailTaken
from nexq.accounts.model import (
    ApiKey,
    LoginState,
    PasswordReset,
    Session,
    api_key_quota_message,
    folded_email,
)
from nexq.accounts.port import TierChange
from nexq.core.errors import QuotaExceeded
from nexq.core.generation import AuthGeneration
from nexq.core.identity import Account


def _position(after: tuple[float, str] | None) -> tuple[float, bytes]:
    return (after[0], after[1].encode()) if after is not None else (float("-inf"), b"")


@dataclass
class _Account:
    account: Account
    password_hash: str
    tier: str | None = None
    limits: dict[str, int | None] = field(default_factory=dict)
    tier_changes: list[TierChange] = field(default_factory=list)  # oldest first


@dataclass
class _ApiKey:
    key: ApiKey
    token_hash: str


class MemoryAccounts:
    """:class:`AccountStore` in memory, thread-safe; ``generation`` is shared with the other
    in-memory stores, whose caches of credentials it invalidates."""

    def __init__(self, generation: AuthGeneration | None = None) -> None:
        self._generation = generation if generation is not None else AuthGeneration()
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._emails: dict[str, str] = {}  # folded email -> account id
        self._throttle: dict[tuple[str, str], LoginState] = {}  # (account, source)
        self._sessions: dict[str, Session] = {}  # by token hash
        self._keys: dict[str, _ApiKey] = {}
        self._tokens: dict[str, str] = {}  # token hash -> key id
        self._resets: dict[str, PasswordReset] = {}  # by token hash

    # accounts ---------------------------------------------------------------------------
    def add_account(self, account: Account, password_hash: str) -> None:
        with self._lock:
            if folded_email(account.email) in self._emails or account.id in self._accounts:
                raise EmailTaken(f"An account with the email {account.email} already exists.")
            self._accounts[account.id] = _Account(account, password_hash)
            self._emails[folded_email(account.email)] = account.id

    def get_account(self, account_id: str) -> Account | None:
        with self._lock:
            held = self._accounts.get(account_id)
            return held.account if held is not None else None

    def find_account(self, email: str) -> Account | None:
        with self._lock:
            found = self._emails.get(folded_email(email))
            return self._accounts[found].account if found is not None else None

    def list_accounts(self, after: tuple[float, str] | None, limit: int) -> list[Account]:
        start = _position(after)
        with self._lock:
            found = [
                a.account
                for a in self._accounts.values()
                if (a.account.created_at, a.account.id.encode()) > start
            ]
        found.sort(key=lambda a: (a.created_at, a.id.encode()))
        return found[:limit] if limit >= 0 else found

    def count_accounts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            for held in self._accounts.values():
                key = (held.account.role, held.account.status)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def set_account_status(self, account_id: str, status: str) -> None:
        with self._lock:
            held = self._accounts.get(account_id)
            if held is not None:
                held.account = replace(held.account, status=status)
            self._generation.bump()

    def password_hash(self, account_id: str) -> str | None:
        with self._lock:
            held = self._accounts.get(account_id)
            return held.password_hash if held is not None else None

    def charge_login(
        self,
        account_id: str,
        sources: Sequence[str],
        charge: Callable[[dict[str, LoginState]], dict[str, LoginState] | float],
    ) -> float:
        with self._lock:
            states = {s: self._throttle.get((account_id, s), LoginState()) for s in sources}
            decided = charge(states)
            if isinstance(decided, float):
                return decided
            for source, state in decided.items():
                self._throttle[(account_id, source)] = state
            return 0.0

    def login_succeeded(self, account_id: str, source: str, any_source: str) -> None:
        with self._lock:
            self._throttle.pop((account_id, source), None)
            whole = self._throttle.get((account_id, any_source))
            if whole is not None:
                failures = max(whole.failures - 1, 0)
                self._throttle[(account_id, any_source)] = replace(whole, failures=failures)

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        with self._lock:
            held = self._accounts.get(account_id)
            if held is not None:
                held.password_hash = password_hash

    def delete_account(self, account_id: str, email: str, status: str) -> None:
        with self._lock:
            held = self._accounts.get(account_id)
            if held is not None:
                self._emails.pop(folded_email(held.account.email), None)
                self._emails[folded_email(email)] = account_id
                held.account = replace(held.account, email=email, status=status)
                held.password_hash = "!"  # noqa: S105 - no hash: nobody logs in
            self._sessions = {h: s for h, s in self._sessions.items() if s.account_id != account_id}
            for key_id in [k for k, v in self._keys.items() if v.key.account_id == account_id]:
                del self._tokens[self._keys.pop(key_id).token_hash]
            self._resets = {h: r for h, r in self._resets.items() if r.account_id != account_id}
            self._throttle = {k: v for k, v in self._throttle.items() if k[0] != account_id}
            self._generation.bump()

    # password resets --------------------------------------------------------------------
    def add_password_reset(self, token_hash: str, reset: PasswordReset) -> None:
        with self._lock:
            self._resets = {
                h: r for h, r in self._resets.items() if r.expires_at >= reset.created_at
            }
            self._resets[token_hash] = reset

    def find_password_reset(self, token_hash: str) -> PasswordReset | None:
        with self._lock:
            return self._resets.get(token_hash)

    def use_password_reset(self, token_hash: str, password_hash: str, now: float) -> str | None:
        with self._lock:
            reset = self._resets.pop(token_hash, None)
            if reset is None or reset.expires_at <= now:
                return None
            held = self._accounts.get(reset.account_id)
            if held is not None:
                held.password_hash = password_hash
            self._sessions = {
                h: s for h, s in self._sessions.items() if s.account_id != reset.account_id
            }
            self._throttle = {k: v for k, v in self._throttle.items() if k[0] != reset.account_id}
            self._resets = {
                h: r for h, r in self._resets.items() if r.account_id != reset.account_id
            }
            return reset.account_id

    # tiers and limits -------------------------------------------------------------------
    def account_tier(self, account_id: str) -> str | None:
        with self._lock:
            held = self._accounts.get(account_id)
            return held.tier if held is not None else None

    def set_account_tier(self, account_id: str, tier: str, at: float | None = None) -> None:
        when = time.time() if at is None else at
        with self._lock:
            held = self._accounts.get(account_id)
            if held is None or held.tier == tier:
                return
            changes = held.tier_changes
            same = next((i for i, c in enumerate(changes) if c.at == when), None)
            if same is not None:  # the same instant: one change, as in SQL
                changes[same] = changes[same]._replace(to_tier=tier)
            else:
                changes.append(TierChange(when, held.tier, tier))
                changes.sort(key=lambda change: change.at)
            held.tier = tier
            self._generation.bump()

    def tier_changes(self, account_id: str, after: float) -> list[TierChange]:
        with self._lock:
            held = self._accounts.get(account_id)
            return [c for c in held.tier_changes if c.at > after] if held is not None else []

    def limit_overrides(self, account_id: str) -> dict[str, int | None]:
        with self._lock:
            held = self._accounts.get(account_id)
            return dict(held.limits) if held is not None else {}

    def set_limit_override(self, account_id: str, name: str, value: int | None) -> None:
        with self._lock:
            held = self._accounts.get(account_id)
            if held is not None:
                held.limits[name] = value
            self._generation.bump()

    def clear_limit_override(self, account_id: str, name: str) -> None:
        with self._lock:
            held = self._accounts.get(account_id)
            if held is not None:
                held.limits.pop(name, None)
            self._generation.bump()

    # sessions ---------------------------------------------------------------------------
    def add_session(self, token_hash: str, session: Session) -> None:
        with self._lock:
            # Expired sessions are dropped here rather than by a timer, as in SQL.
            self._sessions = {
                h: s for h, s in self._sessions.items() if s.expires_at >= session.created_at
            }
            self._sessions[token_hash] = session

    def find_session(self, token_hash: str) -> Session | None:
        with self._lock:
            return self._sessions.get(token_hash)

    def remove_session(self, token_hash: str) -> None:
        with self._lock:
            self._sessions.pop(token_hash, None)

    def remove_sessions(self, account_id: str, keep: str | None) -> None:
        with self._lock:
            self._sessions = {
                h: s for h, s in self._sessions.items() if s.account_id != account_id or h == keep
            }

    # API keys ---------------------------------------------------------------------------
    def add_api_key(self, key: ApiKey, token_hash: str, max_keys: int | None = None) -> None:
        with self._lock:
            if max_keys is not None:
                count = self._count_keys(key.account_id)
                if count >= max_keys:
                    raise QuotaExceeded("api_keys", api_key_quota_message(count))
            if key.id in self._keys or token_hash in self._tokens:
                raise ValueError(f"API key {key.id} or its token is taken")  # unique, in SQL
            self._keys[key.id] = _ApiKey(key, token_hash)
            self._tokens[token_hash] = key.id

    def _count_keys(self, account_id: str) -> int:
        return sum(1 for k in self._keys.values() if k.key.account_id == account_id)

    def _own(self, account_id: str, key_id: str) -> _ApiKey | None:
        held = self._keys.get(key_id)
        return held if held is not None and held.key.account_id == account_id else None

    def count_api_keys(self, account_id: str) -> int:
        with self._lock:
            return self._count_keys(account_id)

    def get_api_key(self, account_id: str, key_id: str) -> ApiKey | None:
        with self._lock:
            held = self._own(account_id, key_id)
            return held.key if held is not None else None

    def find_api_key(self, token_hash: str) -> ApiKey | None:
        with self._lock:
            key_id = self._tokens.get(token_hash)
            return self._keys[key_id].key if key_id is not None else None

    def list_api_keys(
        self, account_id: str, after: tuple[float, str] | None, limit: int
    ) -> list[ApiKey]:
        start = _position(after)
        with self._lock:
            found = [
                k.key
                for k in self._keys.values()
                if k.key.account_id == account_id and (k.key.created_at, k.key.id.encode()) > start
            ]
        found.sort(key=lambda k: (k.created_at, k.id.encode()))
        return found[:limit] if limit >= 0 else found

    def set_api_key_status(self, account_id: str, key_id: str, status: str) -> bool:
        with self._lock:
            held = self._own(account_id, key_id)
            if held is not None:
                held.key = replace(held.key, status=status)
            return held is not None

    def set_api_key_token(self, account_id: str, key_id: str, token_hash: str) -> bool:
        with self._lock:
            held = self._own(account_id, key_id)
            if held is not None:
                if token_hash in self._tokens:
                    raise ValueError("the token is taken")  # unique, in SQL
                del self._tokens[held.token_hash]
                self._tokens[token_hash] = key_id
                held.token_hash = token_hash
            return held is not None

    def remove_api_key(self, account_id: str, key_id: str) -> bool:
        with self._lock:
            held = self._own(account_id, key_id)
            if held is not None:
                del self._keys[key_id]
                del self._tokens[held.token_hash]
            return held is not None

    def touch_api_key(self, key_id: str, when: float) -> None:
        with self._lock:
            held = self._keys.get(key_id)
            if held is not None:
                held.key = replace(held.key, last_used_at=when)
