"""Object Storage as a provider of meters: what billing prices, read from storage's tables.

Priced (SPEC.md "Billing"): stored GB-month, egress GB (Data Out), Class A and Class B
operations per million. Data In and the other operations are counted (docs/metering.md) but
not priced, so they are no meters.
"""

from __future__ import annotations

from collections.abc import Iterator

from nexq.core.metering import Meter, MeterKind, UsageRecord
from nexq.storage.metadata.port import MeterReadings

SERVICE = "storage"  # the descriptor's name: records and tiers.toml sections use it
GB = 10**9
MILLION = 10**6

STORED = Meter(
    "storage_gb_month", "Storage", "GB-month", MeterKind.GAUGE, GB, "bytes stored, each hour"
)
EGRESS = Meter("egress_gb", "Egress", "GB", MeterKind.COUNTER, GB, "bytes of Data Out")
CLASS_A = Meter(
    "class_a_million",
    "Class A operations",
    "million operations",
    MeterKind.COUNTER,
    MILLION,
    "PUT, POST and LIST requests",
)
CLASS_B = Meter(
    "class_b_million",
    "Class B operations",
    "million operations",
    MeterKind.COUNTER,
    MILLION,
    "GET and HEAD requests",
)
# In the order invoices list them.
METERS = (STORED, EGRESS, CLASS_A, CLASS_B)


class StorageMeters:
    """:class:`core.metering.MeterProvider` over the hourly usage rows and bucket counters."""

    def __init__(self, store: MeterReadings) -> None:
        self._store = store

    def counted(self, account_id: str, from_hour: int, to_hour: int) -> Iterator[UsageRecord]:
        # Summed over the account's buckets in SQL: a statement reads one row per hour, not
        # one per bucket and hour (budgets price every budgeted account every few seconds).
        for hour, counters in self._store.hourly_usage(account_id, from_hour, to_hour):
            for meter, quantity in (
                (EGRESS, counters.data_out),
                (CLASS_A, counters.class_a),
                (CLASS_B, counters.class_b),
            ):
                if quantity:
                    yield UsageRecord(account_id, SERVICE, "", meter.name, hour, quantity)

    def accounts(self, from_hour: int, to_hour: int) -> list[str]:
        return self._store.accounts_with_usage(from_hour, to_hour)

    def gauges(self, hour: int) -> Iterator[UsageRecord]:
        for account_id, bucket_id, stored in self._store.bucket_sizes():
            yield UsageRecord(account_id, SERVICE, bucket_id, STORED.name, hour, stored)
