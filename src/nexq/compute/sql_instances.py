"""The SQL store of instances (SQLite or PostgreSQL), in the metadata database."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nexq.compute.errors import InstanceExists
from nexq.compute.instance import INSTANCES_LIMIT, Instance, Status, count_refusal
from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, Database

_COLUMNS = (
    "id, account_id, name, image, size, vcpus, memory_mib, disk_gib, ssh_key_id, ssh_key_name, "
    "public_key, status, reason, ssh_port, created_at, updated_at, source, backup_keep"
)
_LIVE = "deleted_at IS NULL"


def _end_run(conn: Connection, instance_id: str, now: float) -> None:
    conn.execute(
        "UPDATE compute_instance_runs SET ended_at = ? WHERE instance_id = ? AND ended_at IS NULL",
        (now, instance_id),
    )


def _instance(row: tuple[Any, ...]) -> Instance:
    values = list(row)
    values[11] = Status(values[11])
    return Instance(*values)


# A run of an instance's machine opens when the instance becomes Running and closes when it
# stops running: Stopped, Error, or asked to be deleted (Stopping and Rebooting still run).
RUN_ENDS = (Status.STOPPED, Status.ERROR, Status.DELETING)


@dataclass(frozen=True, slots=True)
class Run:
    """A time an instance's machine ran (``ended_at`` None: it runs now)."""

    instance_id: str
    account_id: str
    size: str
    started_at: float
    ended_at: float | None


class SqlInstances:
    """Instances on a SQL :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def add(self, instance: Instance, max_count: int | None) -> None:
        """Insert ``instance``: InstanceExists for a name the account uses, QuotaExceeded
        at ``max_count`` instances (both checked in the transaction that writes it)."""

        def write(conn: Connection) -> None:
            if conn.execute(
                f"SELECT 1 FROM compute_instances WHERE account_id = ? AND name = ? AND {_LIVE}",  # noqa: S608 - fixed text
                (instance.account_id, instance.name),
            ).fetchone():
                raise InstanceExists(f"name: the account has an instance named {instance.name!r}.")
            (count,) = conn.execute(
                f"SELECT count(*) FROM compute_instances WHERE account_id = ? AND {_LIVE}",  # noqa: S608 - fixed text
                (instance.account_id,),
            ).fetchone()
            if max_count is not None and count >= max_count:
                raise QuotaExceeded(INSTANCES_LIMIT, count_refusal(count))
            conn.execute(
                f"INSERT INTO compute_instances({_COLUMNS}) "  # noqa: S608 - fixed columns
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    instance.id,
                    instance.account_id,
                    instance.name,
                    instance.image,
                    instance.size,
                    instance.vcpus,
                    instance.memory_mib,
                    instance.disk_gib,
                    instance.ssh_key_id,
                    instance.ssh_key_name,
                    instance.public_key,
                    str(instance.status),
                    instance.reason,
                    instance.ssh_port,
                    instance.created_at,
                    instance.updated_at,
                    instance.source,
                    instance.backup_keep,
                ),
            )

        self._db.write(write)

    def get(self, instance_id: str) -> Instance | None:
        return self._one(f"id = ? AND {_LIVE}", (instance_id,))

    def named(self, account_id: str, name: str) -> Instance | None:
        return self._one(f"account_id = ? AND name = ? AND {_LIVE}", (account_id, name))

    def of_account(self, account_id: str) -> list[Instance]:
        """The account's instances, oldest first."""
        return self._many(f"account_id = ? AND {_LIVE}", (account_id,))

    def live(self) -> list[Instance]:
        """Every instance not deleted yet, of every account (the provisioner's work)."""
        return self._many(_LIVE, ())

    def set_status(
        self, instance_id: str, status: Status, reason: str = "", expect: tuple[Status, ...] = ()
    ) -> bool:
        """Move to ``status``, only from a state of ``expect`` when given (an instance its
        owner deleted meanwhile stays Deleting); whether it moved. Its runs open and close
        in the same transaction, so instance-hours are exactly the time it was Running."""
        only = f" AND status IN ({', '.join('?' for _ in expect)})" if expect else ""
        now = self._clock()

        def write(conn: Connection) -> bool:
            moved = conn.execute(
                "UPDATE compute_instances SET status = ?, reason = ?, updated_at = ? "  # noqa: S608 - marks only
                f"WHERE id = ? AND {_LIVE}{only}",
                (str(status), reason, now, instance_id, *(str(s) for s in expect)),
            ).rowcount
            if moved and status == Status.RUNNING:
                conn.execute(
                    "INSERT INTO compute_instance_runs"
                    "(instance_id, account_id, size, started_at, ended_at) "
                    "SELECT id, account_id, size, ?, NULL FROM compute_instances i WHERE id = ? "
                    "AND NOT EXISTS (SELECT 1 FROM compute_instance_runs r "
                    "WHERE r.instance_id = i.id AND r.ended_at IS NULL)",
                    (now, instance_id),
                )
            elif moved and status in RUN_ENDS:
                _end_run(conn, instance_id, now)
            return bool(moved)

        return self._db.write(write)

    def runs_between(self, start: float, end: float, account_id: str | None = None) -> list[Run]:
        """The runs that overlap [start, end), of one account or of all."""
        which = " AND account_id = ?" if account_id is not None else ""
        rows = (
            self._db.reader()
            .execute(
                "SELECT instance_id, account_id, size, started_at, ended_at "  # noqa: S608 - marks only
                "FROM compute_instance_runs WHERE started_at < ? "
                f"AND (ended_at IS NULL OR ended_at > ?){which} ORDER BY started_at",
                (end, start, *([account_id] if account_id is not None else [])),
            )
            .fetchall()
        )
        return [Run(*row) for row in rows]

    def set_port(self, instance_id: str, port: int) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE compute_instances SET ssh_port = ? WHERE id = ?", (port, instance_id)
            )
        )

    def set_backup_keep(self, instance_id: str, keep: int) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE compute_instances SET backup_keep = ? WHERE id = ?", (keep, instance_id)
            )
        )

    def mark_deleted(self, instance_id: str) -> None:
        """Its machine and disk are gone: the row stays for metering, its name is free."""
        now = self._clock()

        def write(conn: Connection) -> None:
            conn.execute(
                "UPDATE compute_instances SET deleted_at = ?, updated_at = ?, ssh_port = NULL "
                "WHERE id = ?",
                (now, now, instance_id),
            )
            _end_run(conn, instance_id, now)

        self._db.write(write)

    def _one(self, where: str, args: tuple[Any, ...]) -> Instance | None:
        found = self._many(where, args)
        return found[0] if found else None

    def _many(self, where: str, args: tuple[Any, ...]) -> list[Instance]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_COLUMNS} FROM compute_instances WHERE {where} "  # noqa: S608 - fixed text
                "ORDER BY created_at, id",
                args,
            )
            .fetchall()
        )
        return [_instance(row) for row in rows]
