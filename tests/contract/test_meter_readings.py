"""The reads Object Storage's meters make for billing (``MeterReadings``), and the provider
over them. Only the SQLite store serves billing today, so only it runs these."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexq.accounts.sqlite import SqliteAccounts
from nexq.app import SCHEMAS
from nexq.core.db import Database
from nexq.core.identity import Account
from nexq.core.metering import UsageRecord
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.meters import StorageMeters
from nexq.storage.model import Bucket, Counters, UsageRow


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteMetadata]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    accounts = SqliteAccounts(db)
    for account_id in ("a", "b"):
        accounts.add_account(
            Account(account_id, f"{account_id}@example.com", "customer", "active", time.time()),
            "h",
        )
    yield SqliteMetadata(db)
    db.close()


def test_hourly_usage_is_summed_over_buckets_and_accounts_are_listed(
    store: SqliteMetadata,
) -> None:
    store.add_usage(
        [
            UsageRow("a", 10, "b1", "one", Counters(data_in=1, data_out=5, class_a=1)),
            UsageRow("a", 10, "b2", "two", Counters(data_out=7, class_b=3)),
            UsageRow("a", 12, "b1", "one", Counters(other=4)),
            UsageRow("b", 9, "b3", "three", Counters(class_b=1)),
        ]
    )
    assert store.hourly_usage("a", 10, 13) == [
        (10, Counters(data_in=1, data_out=12, class_a=1, class_b=3)),
        (12, Counters(other=4)),
    ]
    assert store.hourly_usage("a", 11, 12) == []
    assert store.accounts_with_usage(9, 13) == ["a", "b"]
    assert store.accounts_with_usage(10, 13) == ["a"]
    meters = StorageMeters(store)
    # Only what is priced becomes a record: Data In and other operations are not.
    assert sorted(meters.counted("a", 0, 100), key=lambda r: r.meter) == [
        UsageRecord("a", "storage", "", "class_a_million", 10, 1),
        UsageRecord("a", "storage", "", "class_b_million", 10, 3),
        UsageRecord("a", "storage", "", "egress_gb", 10, 12),
    ]
    assert list(meters.accounts(12, 13)) == ["a"]  # counted, though nothing is priced


def test_every_bucket_s_stored_bytes_are_a_gauge(store: SqliteMetadata) -> None:
    store.add_bucket(Bucket("b1", "one", "a", 1.0))
    store.add_bucket(Bucket("b2", "two", "b", 1.0))
    assert sorted(store.bucket_sizes()) == [("a", "b1", 0), ("b", "b2", 0)]
    assert sorted(StorageMeters(store).gauges(7), key=lambda r: r.resource) == [
        UsageRecord("a", "storage", "b1", "storage_gb_month", 7, 0),
        UsageRecord("b", "storage", "b2", "storage_gb_month", 7, 0),
    ]
