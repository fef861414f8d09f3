"""The Container Registry as a provider of meters: stored GB-month per registry
(deduplicated: a layer shared by repositories counts once), egress GB (the bytes of pulled
blobs and manifests), pulls and pushes.

Counters are kept in memory per process and added to hourly rows every few seconds (and
when the process stops): a pull never waits for a write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from nexq.core.metering import Meter, MeterKind, UsageRecord
from nexq.core.sql import Connection, Database
from nexq.registry.sqlite import SqlRegistry

SERVICE = "registry"
GB = 10**9
THOUSAND = 1000

STORED = Meter(
    "registry_storage_gb_month",
    "Registry storage",
    "GB-month",
    MeterKind.GAUGE,
    GB,
    "bytes of distinct layers and manifests stored, each hour",
)
EGRESS = Meter("registry_egress_gb", "Registry egress", "GB", MeterKind.COUNTER, GB, "bytes pulled")
PULLS = Meter(
    "registry_pulls_thousand",
    "Image pulls",
    "thousand pulls",
    MeterKind.COUNTER,
    THOUSAND,
    "manifests downloaded",
)
PUSHES = Meter(
    "registry_pushes_thousand",
    "Image pushes",
    "thousand pushes",
    MeterKind.COUNTER,
    THOUSAND,
    "manifests uploaded",
)
METERS = (STORED, EGRESS, PULLS, PUSHES)
FLUSH_SECONDS = 5.0


class RegistryMeter:
    """Counts as things happen; :meth:`flush` adds the counts to the hourly rows."""

    def __init__(self, db: Database, store: SqlRegistry) -> None:
        self._db = db
        self._store = store
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str, int], int] = {}

    def count(self, account_id: str, registry_id: str, meter: Meter, quantity: int) -> None:
        if quantity <= 0:
            return
        key = (account_id, registry_id, meter.name, int(time.time() // 3600))
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + quantity

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return

        def write(conn: Connection) -> None:
            conn.executemany(
                "INSERT INTO registry_usage(account_id, registry_id, meter, hour, quantity) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, hour, registry_id, meter) "
                "DO UPDATE SET quantity = registry_usage.quantity + excluded.quantity",
                [(*key, quantity) for key, quantity in pending.items()],
            )

        try:
            self._db.write(write)
        except BaseException:
            with self._lock:  # counted again at the next flush, never lost
                for key, quantity in pending.items():
                    self._pending[key] = self._pending.get(key, 0) + quantity
            raise

    # MeterProvider -----------------------------------------------------------------------

    def counted(self, account_id: str, from_hour: int, to_hour: int) -> Iterator[UsageRecord]:
        rows = (
            self._db.reader()
            .execute(
                "SELECT registry_id, meter, hour, quantity FROM registry_usage "
                "WHERE account_id = ? AND hour >= ? AND hour < ? ORDER BY hour",
                (account_id, from_hour, to_hour),
            )
            .fetchall()
        )
        for registry_id, meter, hour, quantity in rows:
            yield UsageRecord(account_id, SERVICE, registry_id, meter, hour, quantity)

    def accounts(self, from_hour: int, to_hour: int) -> Iterator[str]:
        reader = self._db.reader()
        counted = reader.execute(
            "SELECT DISTINCT account_id FROM registry_usage WHERE hour >= ? AND hour < ?",
            (from_hour, to_hour),
        ).fetchall()
        holding = reader.execute("SELECT DISTINCT account_id FROM registry_registries").fetchall()
        yield from sorted({r[0] for r in counted} | {r[0] for r in holding})

    def gauges(self, hour: int) -> Iterator[UsageRecord]:
        for registry in self._store.all_registries():
            stored = self._store.stored_bytes(registry.id)
            yield UsageRecord(registry.account_id, SERVICE, registry.id, STORED.name, hour, stored)
