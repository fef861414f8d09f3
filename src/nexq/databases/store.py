"""The Databases service's rows, in the metadata database (SQLite or PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import astuple, fields
from typing import Any

from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, Database
from nexq.databases.errors import DatabaseExists
from nexq.databases.model import Database as Instance
from nexq.databases.model import Status, count_refusal

COLUMNS = ", ".join(f.name for f in fields(Instance))
_MARKS = ", ".join("?" for _ in fields(Instance))
_LIVE = ", ".join(f"'{s}'" for s in Status.LIVE)
# What the CA's key is sealed for (bound as associated data: a row cannot pass for another).
SEALED_CONTEXT = "databases/"


_FLAGS = [i for i, f in enumerate(fields(Instance)) if f.type in ("bool", bool)]


def _instance(row: Any) -> Instance:
    values = list(row)
    for index in _FLAGS:
        values[index] = bool(values[index])
    return Instance(*values)


class SqlDatabases:
    """Databases and the service's secrets."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, instance: Instance, max_count: int | None) -> None:
        """Insert ``instance`` unless the account has a live database of its name or
        ``max_count`` databases already (checked in the same transaction)."""

        def write(conn: Connection) -> None:
            names = [
                row[0]
                for row in conn.execute(
                    f"SELECT name FROM databases_instances WHERE account_id = ? "  # noqa: S608 - fixed states
                    f"AND status IN ({_LIVE})",
                    (instance.account_id,),
                ).fetchall()
            ]
            if instance.name in names:
                raise DatabaseExists(f"name: the account has a database named {instance.name!r}.")
            if max_count is not None and len(names) >= max_count:
                raise QuotaExceeded("databases", count_refusal(len(names)))
            conn.execute(
                f"INSERT INTO databases_instances({COLUMNS}) VALUES ({_MARKS})",  # noqa: S608 - fixed columns
                astuple(instance),
            )

        self._db.write(write)

    def get(self, database_id: str) -> Instance | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {COLUMNS} FROM databases_instances WHERE id = ?", (database_id,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return _instance(row) if row else None

    def named(self, account_id: str, name: str) -> Instance | None:
        row = (
            self._db.reader()
            .execute(
                f"SELECT {COLUMNS} FROM databases_instances WHERE account_id = ? AND name = ? "  # noqa: S608 - fixed columns
                f"AND status IN ({_LIVE})",
                (account_id, name),
            )
            .fetchone()
        )
        return _instance(row) if row else None

    def of_account(self, account_id: str) -> list[Instance]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {COLUMNS} FROM databases_instances WHERE account_id = ? "  # noqa: S608 - fixed columns
                f"AND status IN ({_LIVE}) ORDER BY name",
                (account_id,),
            )
            .fetchall()
        )
        return [_instance(r) for r in rows]

    def live(self) -> list[Instance]:
        """Every database not deleted, oldest first (the order they get room on the host)."""
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {COLUMNS} FROM databases_instances WHERE status IN ({_LIVE}) "  # noqa: S608 - fixed columns
                "ORDER BY created_at, id"
            )
            .fetchall()
        )
        return [_instance(r) for r in rows]

    def metered_between(
        self, start: float, end: float, account_id: str | None = None
    ) -> list[Instance]:
        """Databases that ran at some time in [start, end)."""
        query = (
            f"SELECT {COLUMNS} FROM databases_instances WHERE running_since IS NOT NULL "  # noqa: S608 - fixed columns
            "AND running_since < ? AND (deleted_at IS NULL OR deleted_at > ?)"
        )
        parameters: list[Any] = [end, start]
        if account_id is not None:
            query += " AND account_id = ?"
            parameters.append(account_id)
        rows = self._db.reader().execute(query, parameters).fetchall()
        return [_instance(r) for r in rows]

    def update(self, database_id: str, **changes: Any) -> None:
        allowed = {f.name for f in fields(Instance)}
        if not changes or not set(changes) <= allowed:
            raise ValueError(f"unknown columns: {set(changes) - allowed}")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._db.write(
            lambda conn: conn.execute(
                f"UPDATE databases_instances SET {assignments} WHERE id = ?",  # noqa: S608 - column names checked above
                (*changes.values(), database_id),
            )
        )

    def set_status(
        self, database_id: str, status: str, reason: str = "", expect: tuple[str, ...] = ()
    ) -> bool:
        """Move to ``status`` (only from a state of ``expect``, when given: a database its
        owner deleted meanwhile stays Deleting); whether it moved. The first move to Running
        starts the metering clock, the move to Deleted stops it."""
        now = time.time()
        only = f" AND status IN ({', '.join('?' for _ in expect)})" if expect else ""

        def write(conn: Connection) -> bool:
            moved = conn.execute(
                "UPDATE databases_instances SET status = ?, reason = ?, "  # noqa: S608 - marks only
                "running_since = CASE WHEN ? = ? AND running_since IS NULL THEN ? "
                "ELSE running_since END, "
                f"deleted_at = CASE WHEN ? = ? THEN ? ELSE deleted_at END WHERE id = ?{only}",
                (
                    status,
                    reason,
                    status,
                    Status.RUNNING,
                    now,
                    status,
                    Status.DELETED,
                    now,
                    database_id,
                    *expect,
                ),
            ).rowcount
            return bool(moved)

        return self._db.write(write)

    def place(self, database_id: str, port: int, node_ports: Sequence[int] = ()) -> bool:
        """Give a database waiting for room its port and its nodes' (unless it was deleted
        meanwhile)."""
        nodes = ",".join(str(p) for p in node_ports)

        def write(conn: Connection) -> bool:
            return bool(
                conn.execute(
                    "UPDATE databases_instances SET port = ?, node_ports = ?, status = ?, "
                    "reason = '' WHERE id = ? AND status IN (?, ?)",
                    (
                        port,
                        nodes,
                        Status.PROVISIONING,
                        database_id,
                        Status.PROVISIONING,
                        Status.PENDING,
                    ),
                ).rowcount
            )

        return self._db.write(write)

    def ports_in_use(self) -> set[int]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT port, node_ports FROM databases_instances WHERE port IS NOT NULL "  # noqa: S608 - fixed states
                f"AND status IN ({_LIVE})"
            )
            .fetchall()
        )
        return {int(r[0]) for r in rows} | {int(p) for r in rows for p in str(r[1]).split(",") if p}

    # secrets: the certificate authority, the backup repository's key ---------------------

    def secret(self, secret_id: str) -> tuple[str, bytes] | None:
        """(public part, sealed part) of a secret."""
        row = (
            self._db.reader()
            .execute("SELECT public, sealed FROM databases_secrets WHERE id = ?", (secret_id,))
            .fetchone()
        )
        return (str(row[0]), bytes(row[1])) if row else None

    def add_secret(self, secret_id: str, public: str, sealed: bytes) -> tuple[str, bytes]:
        """Store a secret unless one was stored first (by another process); the one kept."""

        def write(conn: Connection) -> tuple[str, bytes]:
            row = conn.execute(
                "SELECT public, sealed FROM databases_secrets WHERE id = ?", (secret_id,)
            ).fetchone()
            if row:
                return str(row[0]), bytes(row[1])
            conn.execute(
                "INSERT INTO databases_secrets(id, public, sealed, created_at) VALUES (?, ?, ?, ?)",
                (secret_id, public, sealed, time.time()),
            )
            return public, sealed

        return self._db.write(write)

    # SealedStore: a master-key rotation re-wraps the CA's key ------------------------------

    sealed_label = "database secrets"

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        rows = (
            self._db.reader()
            .execute(
                "SELECT id, sealed FROM databases_secrets WHERE id > ? ORDER BY id LIMIT ?",
                (after.removeprefix(SEALED_CONTEXT), limit),
            )
            .fetchall()
        )
        return [(SEALED_CONTEXT + str(r[0]), bytes(r[1])) for r in rows]

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        def write(conn: Connection) -> int:
            done = 0
            for context, old, new in changes:
                done += conn.execute(
                    "UPDATE databases_secrets SET sealed = ? WHERE id = ? AND sealed = ?",
                    (new, context.removeprefix(SEALED_CONTEXT), old),
                ).rowcount
            return done

        return self._db.write(write)
