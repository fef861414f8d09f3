"""The SQL store of SSH keys (SQLite or PostgreSQL), in the metadata database."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nexq.compute.errors import NoSuchSshKey, SshKeyAdded, SshKeyNameTaken
from nexq.compute.model import SSH_KEYS_LIMIT, SshKey
from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, Database

_COLUMNS = (
    "id, account_id, name, public_key, kind, bits, fingerprint, comment, is_default, created_at"
)
_OLDEST_FIRST = "ORDER BY created_at, id"


def _key(row: tuple[Any, ...]) -> SshKey:
    key_id, account_id, name, public_key, kind, bits, fingerprint, comment, default, at = row
    return SshKey(
        key_id, account_id, name, public_key, kind, bits, fingerprint, comment, bool(default), at
    )


class SqlSshKeys:
    """:class:`SshKeyStore` on a SQL :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_ssh_key(self, key: SshKey, max_count: int | None) -> SshKey:
        def write(conn: Connection) -> SshKey:
            _name_free(conn, key.account_id, key.name)
            same = conn.execute(
                "SELECT name FROM compute_ssh_keys WHERE account_id = ? AND fingerprint = ?",
                (key.account_id, key.fingerprint),
            ).fetchone()
            if same:
                raise SshKeyAdded(
                    f"public_key: this key ({key.fingerprint}) is in the account already, "
                    f"named {same[0]!r}."
                )
            (count,) = conn.execute(
                "SELECT count(*) FROM compute_ssh_keys WHERE account_id = ?", (key.account_id,)
            ).fetchone()
            if max_count is not None and count >= max_count:
                raise QuotaExceeded(
                    SSH_KEYS_LIMIT,
                    f"The account has {count} SSH keys, its {SSH_KEYS_LIMIT} limit; delete "
                    "one it no longer uses or ask for a higher tier.",
                )
            made = replace(key, default=count == 0)  # the first key is the default
            conn.execute(
                f"INSERT INTO compute_ssh_keys({_COLUMNS}) "  # noqa: S608 - fixed columns
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    made.id,
                    made.account_id,
                    made.name,
                    made.public_key,
                    made.kind,
                    made.bits,
                    made.fingerprint,
                    made.comment,
                    1 if made.default else 0,
                    made.created_at,
                ),
            )
            return made

        return self._db.write(write)

    def get_ssh_key(self, key_id: str) -> SshKey | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_COLUMNS} FROM compute_ssh_keys WHERE id = ?", (key_id,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return _key(row) if row else None

    def list_ssh_keys(self, account_id: str) -> list[SshKey]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_COLUMNS} FROM compute_ssh_keys WHERE account_id = ? {_OLDEST_FIRST}",  # noqa: S608 - fixed columns
                (account_id,),
            )
            .fetchall()
        )
        return [_key(r) for r in rows]

    def rename_ssh_key(self, key: SshKey, name: str) -> SshKey:
        def write(conn: Connection) -> None:
            if name != key.name:
                _name_free(conn, key.account_id, name)
            renamed = conn.execute(
                "UPDATE compute_ssh_keys SET name = ? WHERE id = ?", (name, key.id)
            )
            if renamed.rowcount != 1:
                raise _gone(key)

        self._db.write(write)
        return replace(key, name=name)

    def set_default_ssh_key(self, key: SshKey) -> SshKey:
        self._db.write(lambda conn: _make_default(conn, key))
        return replace(key, default=True)

    def delete_ssh_key(self, key: SshKey) -> SshKey | None:
        def write(conn: Connection) -> SshKey | None:
            row = conn.execute(
                "SELECT is_default FROM compute_ssh_keys WHERE id = ?", (key.id,)
            ).fetchone()
            conn.execute("DELETE FROM compute_ssh_keys WHERE id = ?", (key.id,))
            if not row or not row[0]:
                return None
            oldest = conn.execute(
                f"SELECT {_COLUMNS} FROM compute_ssh_keys WHERE account_id = ? "  # noqa: S608 - fixed columns
                f"{_OLDEST_FIRST} LIMIT 1",
                (key.account_id,),
            ).fetchone()
            if oldest is None:
                return None
            successor = _key(oldest)
            _make_default(conn, successor)
            return replace(successor, default=True)

        return self._db.write(write)

    def count_ssh_keys(self, account_id: str) -> int:
        row = (
            self._db.reader()
            .execute("SELECT count(*) FROM compute_ssh_keys WHERE account_id = ?", (account_id,))
            .fetchone()
        )
        return int(row[0])


def _name_free(conn: Connection, account_id: str, name: str) -> None:
    if conn.execute(
        "SELECT 1 FROM compute_ssh_keys WHERE account_id = ? AND name = ?", (account_id, name)
    ).fetchone():
        raise SshKeyNameTaken(f"name: the account has an SSH key named {name!r} already.")


def _gone(key: SshKey) -> NoSuchSshKey:
    return NoSuchSshKey(f"No SSH key {key.id} in this account (it was just deleted).")


def _make_default(conn: Connection, key: SshKey) -> None:
    if not conn.execute("SELECT 1 FROM compute_ssh_keys WHERE id = ?", (key.id,)).fetchone():
        raise _gone(key)
    # Two statements, the old default cleared first: PostgreSQL checks the one-default
    # index row by row, so a single UPDATE could see two defaults on its way.
    conn.execute(
        "UPDATE compute_ssh_keys SET is_default = 0 WHERE account_id = ? AND is_default = 1 "
        "AND id <> ?",
        (key.account_id, key.id),
    )
    conn.execute("UPDATE compute_ssh_keys SET is_default = 1 WHERE id = ?", (key.id,))
