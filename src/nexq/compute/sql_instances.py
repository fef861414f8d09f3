"""The SQL store of instances (SQLite or PostgreSQL), in the metadata database."""

from __future__ import annotations

import time
from typing import Any

from nexq.compute.errors import InstanceExists
from nexq.compute.instance import INSTANCES_LIMIT, Instance, Status, count_refusal
from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, Database

_COLUMNS = (
    "id, account_id, name, image, size, vcpus, memory_mib, disk_gib, ssh_key_id, ssh_key_name, "
    "public_key, status, reason, ssh_port, created_at, updated_at"
)
_LIVE = "deleted_at IS NULL"


def _instance(row: tuple[Any, ...]) -> Instance:
    values = list(row)
    values[11] = Status(values[11])
    return Instance(*values)


class SqlInstances:
    """Instances on a SQL :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db

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
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        owner deleted meanwhile stays Deleting); whether it moved."""
        only = f" AND status IN ({', '.join('?' for _ in expect)})" if expect else ""

        def write(conn: Connection) -> bool:
            moved = conn.execute(
                "UPDATE compute_instances SET status = ?, reason = ?, updated_at = ? "  # noqa: S608 - marks only
                f"WHERE id = ? AND {_LIVE}{only}",
                (str(status), reason, time.time(), instance_id, *(str(s) for s in expect)),
            ).rowcount
            return bool(moved)

        return self._db.write(write)

    def set_port(self, instance_id: str, port: int) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE compute_instances SET ssh_port = ? WHERE id = ?", (port, instance_id)
            )
        )

    def mark_deleted(self, instance_id: str) -> None:
        """Its machine and disk are gone: the row stays for metering, its name is free."""
        now = time.time()
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE compute_instances SET deleted_at = ?, updated_at = ?, ssh_port = NULL "
                "WHERE id = ?",
                (now, now, instance_id),
            )
        )

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
