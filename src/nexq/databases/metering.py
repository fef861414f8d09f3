"""The Databases service as a provider of meters: instance-hours per plan (the primary and
each replica, from the first time the database ran until it was deleted), provisioned
storage GB-month and backup storage GB-month (both sampled every hour).

Instance-hours are read from the databases' rows, not counted as they happen: the time a
database ran is in its row (running_since, deleted_at), so nothing is lost when no Nexq
process runs for a while and nothing needs flushing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from nexq.core.metering import Meter, MeterKind, UsageRecord
from nexq.databases.backups import Backups
from nexq.databases.engine import EngineError
from nexq.databases.model import Database, Status
from nexq.databases.plans import PlanCatalog
from nexq.databases.store import SqlDatabases

log = logging.getLogger("nexq.databases")
SERVICE = "databases"
GB = 10**9
MIB = 1024 * 1024
HOUR = 3600

STORAGE = Meter(
    "database_storage_gb_month",
    "Database storage",
    "GB-month",
    MeterKind.GAUGE,
    GB,
    "bytes of storage provisioned for each node, each hour",
)


BACKUPS = Meter(
    "database_backup_gb_month",
    "Database backups",
    "GB-month",
    MeterKind.GAUGE,
    GB,
    "bytes of a database's backups (full backups and archived WAL) in the repository, each hour",
)


def hours_meter(plan_id: str, plan_name: str) -> Meter:
    return Meter(
        f"database_{plan_id}_hours",
        f"Database instances ({plan_name})",
        "instance-hour",
        MeterKind.COUNTER,
        HOUR,
        "seconds each node of a database of this plan ran",
    )


def meters(plans: PlanCatalog) -> tuple[Meter, ...]:
    return (*(hours_meter(p.id, p.name) for p in plans.plans.values()), STORAGE, BACKUPS)


class DatabaseMeter:
    """Reads what the databases used from their rows."""

    def __init__(
        self,
        store: SqlDatabases,
        backups: Backups,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backups = backups
        self._store = store
        self._clock = clock

    def counted(self, account_id: str, from_hour: int, to_hour: int) -> Iterator[UsageRecord]:
        start, end = from_hour * HOUR, min(to_hour * HOUR, self._clock())
        for database in self._store.metered_between(start, end, account_id):
            yield from self._hours(database, start, end)

    def _hours(self, database: Database, start: float, end: float) -> Iterator[UsageRecord]:
        assert database.running_since is not None
        ran_from = max(start, database.running_since)
        ran_to = min(end, database.deleted_at or end)
        meter = f"database_{database.plan}_hours"
        hour = int(ran_from // HOUR)
        while hour * HOUR < ran_to:
            seconds = min(ran_to, (hour + 1) * HOUR) - max(ran_from, hour * HOUR)
            if seconds > 0:
                yield UsageRecord(
                    database.account_id,
                    SERVICE,
                    database.id,
                    meter,
                    hour,
                    round(seconds) * database.nodes,
                )
            hour += 1

    def accounts(self, from_hour: int, to_hour: int) -> Iterator[str]:
        found = self._store.metered_between(from_hour * HOUR, to_hour * HOUR)
        yield from sorted({d.account_id for d in found})

    def gauges(self, hour: int) -> Iterator[UsageRecord]:
        for database in self._store.live():
            if database.status in (Status.PENDING, Status.DELETING):
                continue
            yield UsageRecord(
                database.account_id,
                SERVICE,
                database.id,
                STORAGE.name,
                hour,
                database.storage_mib * MIB * database.nodes,
            )
            if database.backups:
                yield UsageRecord(
                    database.account_id,
                    SERVICE,
                    database.id,
                    BACKUPS.name,
                    hour,
                    self._backup_bytes(database),
                )

    def _backup_bytes(self, database: Database) -> int:
        try:
            return self._backups.history(database.id, database.port).size
        except EngineError:  # the repository did not answer: this hour's sample is lost
            log.warning("database %s: its backups' size could not be read", database.id)
            return 0
