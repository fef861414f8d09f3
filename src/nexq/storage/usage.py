"""Usage reports of Object Storage: what an account's buckets took in, sent out and did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import Counters


@dataclass(frozen=True, slots=True)
class BucketUsage:
    bucket: str
    counters: Counters


@dataclass(frozen=True, slots=True)
class DailyUsage:
    day: date
    counters: Counters


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage in [start, end): per bucket (every current bucket, plus deleted ones with usage),
    per UTC day, and in total."""

    start: date
    end: date
    buckets: list[BucketUsage]
    days: list[DailyUsage]
    totals: Counters = field(default_factory=Counters)


def _hour(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) // 3600


class Usage:
    """Reads the hourly usage rows that the meters flush."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def held(self, account_id: str) -> tuple[int, int, int]:
        """What the account stores now: (buckets, objects, stored bytes, every version)."""
        return self._store.account_usage(account_id)

    def report(self, account_id: str, start: date, end: date) -> UsageReport:
        """The account's usage from ``start`` (inclusive) to ``end`` (exclusive), UTC days."""
        rows = self._store.usage_rows(account_id, _hour(start), _hour(end))
        per_bucket: dict[str, Counters] = {
            b.name: Counters() for b in self._store.list_buckets(account_id)
        }
        per_day: dict[date, Counters] = {}
        day = start
        while day < end:
            per_day[day] = Counters()
            day += timedelta(days=1)
        totals = Counters()
        for bucket_name, hour, counters in rows:
            per_bucket[bucket_name] = per_bucket.get(bucket_name, Counters()) + counters
            when = datetime.fromtimestamp(hour * 3600, UTC).date()
            per_day[when] = per_day.get(when, Counters()) + counters
            totals = totals + counters
        return UsageReport(
            start=start,
            end=end,
            buckets=[BucketUsage(name, c) for name, c in sorted(per_bucket.items())],
            days=[DailyUsage(d, c) for d, c in sorted(per_day.items())],
            totals=totals,
        )
