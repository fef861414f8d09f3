"""Where the KMS keys of accounts are kept (``storage.kms`` has their use cases): the
``kms_keys`` table, in the metadata database (SQLite or PostgreSQL), or in memory.

A row holds the key's material sealed with the master key (``core.crypto.SecretBox``),
never in clear; a master-key rotation re-wraps the rows through ``sealed_page`` and
``replace_sealed`` (``core.keyring.SealedStore``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from nexq.core import sql

ENABLED = "Enabled"
DISABLED = "Disabled"


class AliasTaken(Exception):
    """Another key of the account has the alias already."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored KMS key: ``sealed`` is its material sealed with the master key."""

    id: str
    account_id: str
    alias: str | None
    description: str
    state: str
    managed: bool  # AWS managed (the account's aws/s3 default): cannot be disabled
    created_at: float
    sealed: bytes = field(repr=False)


class KmsKeyStore(Protocol):
    """The KMS keys of every account (each node of an installation shares them)."""

    def add_key(self, record: KeyRecord) -> None:
        """Store a new key; AliasTaken if the account has a key of that alias already."""
        ...

    def key(self, key_id: str) -> KeyRecord | None: ...

    def key_by_alias(self, account_id: str, alias: str) -> KeyRecord | None: ...

    def keys(self, account_id: str) -> list[KeyRecord]:
        """Every key of the account, oldest first."""
        ...

    def set_state(self, key_id: str, state: str) -> None: ...

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        """(id, sealed) with id > ``after``, in id order (for a rotation)."""
        ...

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Store each (id, old, new) where the value still is ``old``; how many."""
        ...


_COLUMNS = "id, account_id, alias, description, state, managed, created_at, sealed"


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        str(row[0]),
        str(row[1]),
        None if row[2] is None else str(row[2]),
        str(row[3]),
        str(row[4]),
        bool(row[5]),
        float(row[6]),
        bytes(row[7]),
    )


class SqlKmsKeys:
    """:class:`KmsKeyStore` in the metadata database (SQLite or PostgreSQL)."""

    def __init__(self, db: sql.Database) -> None:
        self._db = db

    def add_key(self, record: KeyRecord) -> None:
        r = record
        try:
            self._db.write(
                lambda conn: conn.execute(
                    f"INSERT INTO kms_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - fixed column names
                    (
                        r.id,
                        r.account_id,
                        r.alias,
                        r.description,
                        r.state,
                        int(r.managed),
                        r.created_at,
                        r.sealed,
                    ),
                )
            )
        except sql.integrity_errors():
            raise AliasTaken(record.alias) from None

    def key(self, key_id: str) -> KeyRecord | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_COLUMNS} FROM kms_keys WHERE id = ?", (key_id,))  # noqa: S608 - fixed column names
            .fetchone()
        )
        return None if row is None else _record(row)

    def key_by_alias(self, account_id: str, alias: str) -> KeyRecord | None:
        row = (
            self._db.reader()
            .execute(
                f"SELECT {_COLUMNS} FROM kms_keys WHERE account_id = ? AND alias = ?",  # noqa: S608 - fixed column names
                (account_id, alias),
            )
            .fetchone()
        )
        return None if row is None else _record(row)

    def keys(self, account_id: str) -> list[KeyRecord]:
        rows = self._db.reader().execute(
            f"SELECT {_COLUMNS} FROM kms_keys WHERE account_id = ? ORDER BY created_at, id",  # noqa: S608 - fixed column names
            (account_id,),
        )
        return [_record(row) for row in rows]

    def set_state(self, key_id: str, state: str) -> None:
        self._db.write(
            lambda conn: conn.execute("UPDATE kms_keys SET state = ? WHERE id = ?", (state, key_id))
        )

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        rows = self._db.reader().execute(
            "SELECT id, sealed FROM kms_keys WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
        return [(str(r[0]), bytes(r[1])) for r in rows]

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        def write(conn: sql.Connection) -> int:
            return sum(
                conn.execute(
                    "UPDATE kms_keys SET sealed = ? WHERE id = ? AND sealed = ?", (new, kid, old)
                ).rowcount
                for kid, old, new in changes
            )

        return self._db.write(write)


class MemoryKmsKeys:
    """:class:`KmsKeyStore` in memory (use cases run without a database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, KeyRecord] = {}

    def add_key(self, record: KeyRecord) -> None:
        with self._lock:
            if record.alias is not None and any(
                r.account_id == record.account_id and r.alias == record.alias
                for r in self._rows.values()
            ):
                raise AliasTaken(record.alias)
            self._rows[record.id] = record

    def key(self, key_id: str) -> KeyRecord | None:
        with self._lock:
            return self._rows.get(key_id)

    def key_by_alias(self, account_id: str, alias: str) -> KeyRecord | None:
        with self._lock:
            return next(
                (r for r in self._rows.values() if r.account_id == account_id and r.alias == alias),
                None,
            )

    def keys(self, account_id: str) -> list[KeyRecord]:
        with self._lock:
            mine = [r for r in self._rows.values() if r.account_id == account_id]
        return sorted(mine, key=lambda r: (r.created_at, r.id))

    def set_state(self, key_id: str, state: str) -> None:
        with self._lock:
            found = self._rows.get(key_id)
            if found is not None:
                self._rows[key_id] = replace(found, state=state)

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        with self._lock:
            return [(k, self._rows[k].sealed) for k in sorted(self._rows) if k > after][:limit]

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        done = 0
        with self._lock:
            for kid, old, new in changes:
                found = self._rows.get(kid)
                if found is not None and found.sealed == old:
                    self._rows[kid] = replace(found, sealed=new)
                    done += 1
        return done
