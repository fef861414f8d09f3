"""The reads Object Storage's meters make for billing (``MeterReadings``), and the provider
over them. Only the SQL store serves billing today (on SQLite or PostgreSQL), so only it runs
these."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from nexq.accounts.port import AccountStore
from nexq.core.identity import Account
from nexq.core.metering import UsageRecord
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.meters import StorageMeters
from nexq.storage.model import Bucket, Counters, ObjectMeta, Part, Segment, Upload, UsageRow
from tests.contract.conftest import IMPLEMENTATIONS


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqliteMetadata]:
    (metadata, accounts), close = IMPLEMENTATIONS[request.param](
        request, tmp_path_factory.mktemp("meters")
    )
    assert isinstance(metadata, SqliteMetadata)
    _accounts(accounts)
    yield metadata
    close()


def _accounts(accounts: AccountStore) -> None:
    for account_id in ("a", "b"):
        accounts.add_account(
            Account(account_id, f"{account_id}@example.com", "customer", "active", time.time()),
            "h",
        )


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


def _upload(upload_id: str, bucket_id: str) -> Upload:
    return Upload(upload_id, bucket_id, "big", 1.0, {}, {}, None, None)


def test_the_parts_of_unfinished_uploads_are_stored_bytes_until_completed_or_aborted(
    store: SqliteMetadata,
) -> None:
    # Parts occupy disk, and AWS bills them as storage, until their upload ends.
    store.add_bucket(Bucket("b1", "one", "a", 1.0))
    store.add_bucket(Bucket("b2", "two", "b", 1.0))
    store.put_object(ObjectMeta("b1", "small", 5, "e", 1.0, {}, {}, {}, None, (Segment("s", 5),)))
    for upload_id in ("kept", "dropped"):
        store.add_upload(_upload(upload_id, "b1"))
    store.put_part(Part("kept", 1, 300, "e", 1.0, "k1"))
    store.put_part(Part("kept", 2, 200, "e", 1.0, "k2"))
    store.put_part(Part("kept", 3, 1000, "e", 1.0, "k3"))  # left out of the completion
    store.put_part(Part("dropped", 1, 70, "e", 1.0, "d1"))
    store.put_part(Part("kept", 2, 40, "e", 1.0, "k2b"))  # sent again: counts once, as sent
    assert sorted(store.bucket_sizes()) == [("a", "b1", 5 + 340 + 1000 + 70), ("b", "b2", 0)]
    assert [r.quantity for r in StorageMeters(store).gauges(7) if r.resource == "b1"] == [1415]

    assert store.abort_upload("dropped")
    assert sorted(store.bucket_sizes()) == [("a", "b1", 5 + 340 + 1000), ("b", "b2", 0)]

    done = ObjectMeta(
        "b1", "big", 340, "e", 1.0, {}, {}, {}, None, (Segment("k1", 300), Segment("k2b", 40))
    )
    store.complete_upload(_upload("kept", "b1"), done, [1, 2])
    # The object's bytes once, and nothing of the part it left out.
    assert sorted(store.bucket_sizes()) == [("a", "b1", 5 + 340), ("b", "b2", 0)]
    assert store.stored_bytes("a") == 345


def test_an_aborted_upload_leaves_nothing_stored(store: SqliteMetadata) -> None:
    store.add_bucket(Bucket("b1", "one", "a", 1.0))
    store.add_upload(_upload("u", "b1"))
    store.put_part(Part("u", 1, 123, "e", 1.0, "p1"))
    assert store.bucket_sizes() == [("a", "b1", 123)]
    assert store.abort_upload("u")
    assert store.bucket_sizes() == [("a", "b1", 0)]
