"""The SQL store of snapshots and backups (SQLite or PostgreSQL), in the metadata database."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nexq.compute.disk_copy import CopyKind, CopyStatus, DiskCopy
from nexq.compute.errors import CopyExists
from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, Database

_COLUMNS = (
    "id, account_id, kind, name, instance_id, instance_name, image, disk_gib, status, reason, "
    "size_bytes, scheduled, expires_at, created_at, updated_at"
)
_LIVE = "deleted_at IS NULL"


def _copy(row: tuple[Any, ...]) -> DiskCopy:
    values = list(row)
    values[2] = CopyKind(values[2])
    values[8] = CopyStatus(values[8])
    values[11] = bool(values[11])
    return DiskCopy(*values)


def count_refusal(kind: CopyKind, count: int) -> str:
    return (
        f"The account has {count} {kind}s, its {kind.limit} limit; delete one it no longer "
        "needs or ask for a higher tier."
    )


class SqlDiskCopies:
    """Snapshots and backups on a SQL :class:`Database`."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def add(self, copy: DiskCopy, max_count: int | None) -> None:
        """Insert ``copy``: CopyExists for a name the account uses for its kind,
        QuotaExceeded at ``max_count`` of its kind (both checked as the row is written)."""

        def write(conn: Connection) -> None:
            if conn.execute(
                "SELECT 1 FROM compute_disk_copies "  # noqa: S608 - fixed text
                f"WHERE account_id = ? AND kind = ? AND name = ? AND {_LIVE}",
                (copy.account_id, str(copy.kind), copy.name),
            ).fetchone():
                raise CopyExists(f"name: the account has a {copy.kind} named {copy.name!r}.")
            (count,) = conn.execute(
                "SELECT count(*) FROM compute_disk_copies "  # noqa: S608 - fixed text
                f"WHERE account_id = ? AND kind = ? AND {_LIVE}",
                (copy.account_id, str(copy.kind)),
            ).fetchone()
            if max_count is not None and count >= max_count:
                raise QuotaExceeded(copy.kind.limit, count_refusal(copy.kind, count))
            conn.execute(
                f"INSERT INTO compute_disk_copies({_COLUMNS}) "  # noqa: S608 - fixed columns
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    copy.id,
                    copy.account_id,
                    str(copy.kind),
                    copy.name,
                    copy.instance_id,
                    copy.instance_name,
                    copy.image,
                    copy.disk_gib,
                    str(copy.status),
                    copy.reason,
                    copy.size_bytes,
                    int(copy.scheduled),
                    copy.expires_at,
                    copy.created_at,
                    copy.updated_at,
                ),
            )

        self._db.write(write)

    def get(self, copy_id: str) -> DiskCopy | None:
        found = self._many(f"id = ? AND {_LIVE}", (copy_id,))
        return found[0] if found else None

    def named(self, account_id: str, kind: CopyKind, name: str) -> DiskCopy | None:
        found = self._many(
            f"account_id = ? AND kind = ? AND (name = ? OR id = ?) AND {_LIVE}",
            (account_id, str(kind), name, name),
        )
        return found[0] if found else None

    def of_account(self, account_id: str, kind: CopyKind) -> list[DiskCopy]:
        """The account's copies of ``kind``, oldest first."""
        return self._many(f"account_id = ? AND kind = ? AND {_LIVE}", (account_id, str(kind)))

    def of_instance(self, instance_id: str) -> list[DiskCopy]:
        return self._many(f"instance_id = ? AND {_LIVE}", (instance_id,))

    def live(self) -> list[DiskCopy]:
        """Every copy not deleted yet, of every account (the copier's work)."""
        return self._many(_LIVE, ())

    def set_status(
        self,
        copy_id: str,
        status: CopyStatus,
        reason: str = "",
        expect: tuple[CopyStatus, ...] = (),
        size_bytes: int | None = None,
    ) -> bool:
        """Move to ``status``, only from a state of ``expect`` when given; whether it moved."""
        only = f" AND status IN ({', '.join('?' for _ in expect)})" if expect else ""
        sized = ", size_bytes = ?" if size_bytes is not None else ""
        args = (size_bytes,) if size_bytes is not None else ()
        return bool(
            self._db.write(
                lambda conn: (
                    conn.execute(
                        "UPDATE compute_disk_copies "  # noqa: S608 - marks only
                        f"SET status = ?, reason = ?, updated_at = ?{sized} "
                        f"WHERE id = ? AND {_LIVE}{only}",
                        (
                            str(status),
                            reason,
                            self._clock(),
                            *args,
                            copy_id,
                            *(str(s) for s in expect),
                        ),
                    ).rowcount
                )
            )
        )

    def mark_deleted(self, copy_id: str) -> None:
        """Its file is gone: the row stays for metering, its name is free."""
        now = self._clock()
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE compute_disk_copies SET deleted_at = ?, updated_at = ? WHERE id = ?",
                (now, now, copy_id),
            )
        )

    def _many(self, where: str, args: tuple[Any, ...]) -> list[DiskCopy]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_COLUMNS} FROM compute_disk_copies WHERE {where} "  # noqa: S608 - fixed text
                "ORDER BY created_at, id",
                args,
            )
            .fetchall()
        )
        return [_copy(row) for row in rows]
