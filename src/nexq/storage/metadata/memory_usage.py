"""Metering in the in-memory metadata store: hourly usage rows."""

from __future__ import annotations

from collections.abc import Iterable

from nexq.storage.metadata.memory_base import MemoryBase
from nexq.storage.model import Counters, UsageRow


class MemoryUsage(MemoryBase):
    """Usage rows, added and read."""

    # metering ---------------------------------------------------------------------------
    def add_usage(self, rows: Iterable[UsageRow]) -> None:
        batch = list(rows)
        with self._lock:
            for row in batch:
                position = (row.account_id, row.hour, row.bucket_id)
                # Additive; the row keeps the name it was first counted under, as in SQL.
                name, counters = self._usage.get(position, (row.bucket_name, Counters()))
                self._usage[position] = (name, counters + row.counters)

    def usage_rows(
        self, account_id: str, from_hour: int, to_hour: int
    ) -> list[tuple[str, int, Counters]]:
        with self._lock:
            found = [
                (hour, bucket_id, name, counters)
                for (account, hour, bucket_id), (name, counters) in self._usage.items()
                if account == account_id and from_hour <= hour < to_hour
            ]
        found.sort(key=lambda row: (row[0], row[1].encode()))
        return [(name, hour, counters) for hour, _, name, counters in found]
