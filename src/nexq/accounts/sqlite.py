"""The SQL account store (SQLite or PostgreSQL), sharing the metadata database with the
other services."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

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
from nexq.core.identity import Account
from nexq.core.sql import Connection, Database, integrity_errors

_ACCOUNT_COLUMNS = "id, email, role, status, created_at"
_KEY_COLUMNS = "id, account_id, name, description, scopes, status, created_at, last_used_at"


def _bump_auth(conn: Connection) -> None:
    # Every process re-reads cached S3 credentials when this counter moves.
    conn.execute("UPDATE generations SET value = value + 1 WHERE name = 'auth'")


def _api_key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=row[0],
        account_id=row[1],
        name=row[2],
        description=row[3],
        scopes=frozenset(json.loads(row[4])),
        status=row[5],
        created_at=row[6],
        last_used_at=row[7],
    )


def _after(after: tuple[float, str] | None) -> tuple[float, str]:
    return after if after is not None else (float("-inf"), "")


class SqliteAccounts:
    """:class:`AccountStore` on a SQL :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _one(self, sql: str, *args: object) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._db.reader().execute(sql, args).fetchone()
        return row

    def _changed(self, sql: str, *args: object) -> bool:
        return self._db.write(lambda conn: conn.execute(sql, args).rowcount > 0)

    def _limits_changed(self, sql: str, *args: object) -> None:
        # Every process caches limits per auth generation: moving it makes the change hold
        # on the very next request, on any worker or node.
        def write(conn: Connection) -> None:
            conn.execute(sql, args)
            _bump_auth(conn)

        self._db.write(write)

    # accounts ---------------------------------------------------------------------------
    def add_account(self, account: Account, password_hash: str) -> None:
        def write(conn: Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO accounts({_ACCOUNT_COLUMNS}, password_hash) "  # noqa: S608 - fixed column names
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        account.id,
                        account.email,
                        account.role,
                        account.status,
                        account.created_at,
                        password_hash,
                    ),
                )
            except integrity_errors():
                raise EmailTaken(
                    f"An account with the email {account.email} already exists."
                ) from None

        self._db.write(write)

    def get_account(self, account_id: str) -> Account | None:
        row = self._one(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", account_id)  # noqa: S608 - fixed column names
        return Account(*row) if row else None

    def find_account(self, email: str) -> Account | None:
        # lower(email) folds ASCII letters only in both engines (as the unique index does);
        # the email asked for is folded here, so the database's own locale plays no part.
        row = self._one(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE lower(email) = ?",  # noqa: S608 - fixed column names
            folded_email(email),
        )
        return Account(*row) if row else None

    def list_accounts(self, after: tuple[float, str] | None, limit: int) -> list[Account]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE (created_at, id) > (?, ?) "  # noqa: S608 - fixed column names
                "ORDER BY created_at, id LIMIT ?",
                (*_after(after), limit),
            )
            .fetchall()
        )
        return [Account(*row) for row in rows]

    def count_accounts(self) -> dict[tuple[str, str], int]:
        rows = (
            self._db.reader()
            .execute("SELECT role, status, count(*) FROM accounts GROUP BY role, status")
            .fetchall()
        )
        return {(str(role), str(status)): int(count) for role, status, count in rows}

    def set_account_status(self, account_id: str, status: str) -> None:
        def write(conn: Connection) -> None:
            conn.execute("UPDATE accounts SET status = ? WHERE id = ?", (status, account_id))
            _bump_auth(conn)

        self._db.write(write)

    def password_hash(self, account_id: str) -> str | None:
        row = self._one("SELECT password_hash FROM accounts WHERE id = ?", account_id)
        return str(row[0]) if row else None

    def charge_login(
        self,
        account_id: str,
        sources: Sequence[str],
        charge: Callable[[dict[str, LoginState]], dict[str, LoginState] | float],
    ) -> float:
        # One write of the group committer: its transaction holds SQLite's write lock, so
        # concurrent attempts (any thread, any process) are charged one after the other.
        def write(conn: Connection) -> float:
            states = {}
            for source in sources:
                row = conn.execute(
                    "SELECT failures, blocked_until, updated_at FROM login_throttle "
                    "WHERE account_id = ? AND source = ?",
                    (account_id, source),
                ).fetchone()
                states[source] = LoginState(*row) if row else LoginState()
            decided = charge(states)
            if isinstance(decided, float):
                return decided
            conn.executemany(
                "INSERT INTO login_throttle(account_id, source, failures, blocked_until, "
                "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, source) DO UPDATE "
                "SET failures = excluded.failures, blocked_until = excluded.blocked_until, "
                "updated_at = excluded.updated_at",
                [
                    (account_id, source, s.failures, s.blocked_until, s.updated_at)
                    for source, s in decided.items()
                ],
            )
            return 0.0

        return self._db.write(write)

    def login_succeeded(self, account_id: str, source: str, any_source: str) -> None:
        def write(conn: Connection) -> None:
            conn.execute(
                "DELETE FROM login_throttle WHERE account_id = ? AND source = ?",
                (account_id, source),
            )
            conn.execute(
                "UPDATE login_throttle SET failures = CASE WHEN failures > 0 THEN failures - 1 "
                "ELSE 0 END "
                "WHERE account_id = ? AND source = ?",
                (account_id, any_source),
            )

        self._db.write(write)

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        self._changed(
            "UPDATE accounts SET password_hash = ? WHERE id = ?", password_hash, account_id
        )

    def delete_account(self, account_id: str, email: str, status: str) -> None:
        def write(conn: Connection) -> None:
            # "!" is no hash the verifier accepts: nobody logs in as the row that stays.
            conn.execute(
                "UPDATE accounts SET email = ?, status = ?, password_hash = '!' WHERE id = ?",
                (email, status, account_id),
            )
            for table in ("sessions", "api_keys", "password_resets", "login_throttle"):
                conn.execute(f"DELETE FROM {table} WHERE account_id = ?", (account_id,))  # noqa: S608 - fixed table names
            _bump_auth(conn)

        self._db.write(write)

    # password resets --------------------------------------------------------------------
    def add_password_reset(self, token_hash: str, reset: PasswordReset) -> None:
        def write(conn: Connection) -> None:
            # Expired resets are dropped here rather than by a timer, as sessions are.
            conn.execute("DELETE FROM password_resets WHERE expires_at < ?", (reset.created_at,))
            conn.execute(
                "INSERT INTO password_resets(token_hash, account_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, reset.account_id, reset.created_at, reset.expires_at),
            )

        self._db.write(write)

    def find_password_reset(self, token_hash: str) -> PasswordReset | None:
        row = self._one(
            "SELECT account_id, created_at, expires_at FROM password_resets WHERE token_hash = ?",
            token_hash,
        )
        return PasswordReset(*row) if row else None

    def use_password_reset(self, token_hash: str, password_hash: str, now: float) -> str | None:
        def write(conn: Connection) -> str | None:
            # The DELETE decides who uses the reset: of two concurrent calls one removes the
            # row, the other finds nothing to remove.
            row = conn.execute(
                "SELECT account_id FROM password_resets WHERE token_hash = ? AND expires_at > ?",
                (token_hash, now),
            ).fetchone()
            gone = conn.execute(
                "DELETE FROM password_resets WHERE token_hash = ?", (token_hash,)
            ).rowcount
            if row is None or gone == 0:
                return None
            account_id = str(row[0])
            conn.execute(
                "UPDATE accounts SET password_hash = ? WHERE id = ?", (password_hash, account_id)
            )
            # Every other link of the account is spent too: the password they were for is set.
            for table in ("sessions", "login_throttle", "password_resets"):
                conn.execute(f"DELETE FROM {table} WHERE account_id = ?", (account_id,))  # noqa: S608 - fixed table names
            return account_id

        return self._db.write(write)

    # tiers and limits -------------------------------------------------------------------
    def account_tier(self, account_id: str) -> str | None:
        row = self._one("SELECT tier FROM accounts WHERE id = ?", account_id)
        return str(row[0]) if row and row[0] is not None else None

    def set_account_tier(self, account_id: str, tier: str, at: float | None = None) -> None:
        when = time.time() if at is None else at

        def write(conn: Connection) -> None:
            row = conn.execute("SELECT tier FROM accounts WHERE id = ?", (account_id,)).fetchone()
            if row is None or row[0] == tier:
                return
            conn.execute("UPDATE accounts SET tier = ? WHERE id = ?", (tier, account_id))
            conn.execute(
                "INSERT INTO tier_changes(account_id, changed_at, from_tier, to_tier) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (account_id, changed_at) DO UPDATE SET "
                "to_tier = excluded.to_tier",
                (account_id, when, row[0], tier),
            )
            _bump_auth(conn)  # cached limits are re-read on every process

        self._db.write(write)

    def tier_changes(self, account_id: str, after: float) -> list[TierChange]:
        rows = (
            self._db.reader()
            .execute(
                "SELECT changed_at, from_tier, to_tier FROM tier_changes "
                "WHERE account_id = ? AND changed_at > ? ORDER BY changed_at",
                (account_id, after),
            )
            .fetchall()
        )
        return [TierChange(float(r[0]), r[1], str(r[2])) for r in rows]

    def limit_overrides(self, account_id: str) -> dict[str, int | None]:
        rows = (
            self._db.reader()
            .execute("SELECT name, value FROM account_limits WHERE account_id = ?", (account_id,))
            .fetchall()
        )
        return {str(name): value for name, value in rows}

    def set_limit_override(self, account_id: str, name: str, value: int | None) -> None:
        self._limits_changed(
            "INSERT INTO account_limits(account_id, name, value) VALUES (?, ?, ?) "
            "ON CONFLICT(account_id, name) DO UPDATE SET value = excluded.value",
            account_id,
            name,
            value,
        )

    def clear_limit_override(self, account_id: str, name: str) -> None:
        self._limits_changed(
            "DELETE FROM account_limits WHERE account_id = ? AND name = ?", account_id, name
        )

    # sessions ---------------------------------------------------------------------------
    def add_session(self, token_hash: str, session: Session) -> None:
        def write(conn: Connection) -> None:
            # Expired sessions are dropped here rather than by a timer: logins are rare.
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (session.created_at,))
            conn.execute(
                "INSERT INTO sessions(token_hash, account_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, session.account_id, session.created_at, session.expires_at),
            )

        self._db.write(write)

    def find_session(self, token_hash: str) -> Session | None:
        row = self._one(
            "SELECT account_id, created_at, expires_at FROM sessions WHERE token_hash = ?",
            token_hash,
        )
        return Session(*row) if row else None

    def remove_session(self, token_hash: str) -> None:
        self._changed("DELETE FROM sessions WHERE token_hash = ?", token_hash)

    def remove_sessions(self, account_id: str, keep: str | None) -> None:
        self._changed(
            "DELETE FROM sessions WHERE account_id = ? AND token_hash IS DISTINCT FROM ?",
            account_id,
            keep,
        )

    # API keys ---------------------------------------------------------------------------
    def add_api_key(self, key: ApiKey, token_hash: str, max_keys: int | None = None) -> None:
        def write(conn: Connection) -> None:
            if max_keys is not None:
                (count,) = conn.execute(
                    "SELECT count(*) FROM api_keys WHERE account_id = ?", (key.account_id,)
                ).fetchone()
                if count >= max_keys:
                    raise QuotaExceeded("api_keys", api_key_quota_message(count))
            conn.execute(
                f"INSERT INTO api_keys({_KEY_COLUMNS}, token_hash) "  # noqa: S608 - fixed column names
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.account_id,
                    key.name,
                    key.description,
                    json.dumps(sorted(key.scopes)),
                    key.status,
                    key.created_at,
                    key.last_used_at,
                    token_hash,
                ),
            )

        self._db.write(write)

    def count_api_keys(self, account_id: str) -> int:
        row = self._one("SELECT count(*) FROM api_keys WHERE account_id = ?", account_id)
        return int(row[0]) if row else 0

    def get_api_key(self, account_id: str, key_id: str) -> ApiKey | None:
        row = self._one(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ? AND account_id = ?",  # noqa: S608 - fixed column names
            key_id,
            account_id,
        )
        return _api_key(row) if row else None

    def find_api_key(self, token_hash: str) -> ApiKey | None:
        row = self._one(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE token_hash = ?", token_hash)  # noqa: S608 - fixed column names
        return _api_key(row) if row else None

    def list_api_keys(
        self, account_id: str, after: tuple[float, str] | None, limit: int
    ) -> list[ApiKey]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE account_id = ? "  # noqa: S608 - fixed column names
                "AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?",
                (account_id, *_after(after), limit),
            )
            .fetchall()
        )
        return [_api_key(row) for row in rows]

    def set_api_key_status(self, account_id: str, key_id: str, status: str) -> bool:
        return self._changed(
            "UPDATE api_keys SET status = ? WHERE id = ? AND account_id = ?",
            status,
            key_id,
            account_id,
        )

    def set_api_key_token(self, account_id: str, key_id: str, token_hash: str) -> bool:
        return self._changed(
            "UPDATE api_keys SET token_hash = ? WHERE id = ? AND account_id = ?",
            token_hash,
            key_id,
            account_id,
        )

    def remove_api_key(self, account_id: str, key_id: str) -> bool:
        return self._changed(
            "DELETE FROM api_keys WHERE id = ? AND account_id = ?", key_id, account_id
        )

    def touch_api_key(self, key_id: str, when: float) -> None:
        self._changed("UPDATE api_keys SET last_used_at = ? WHERE id = ?", when, key_id)
