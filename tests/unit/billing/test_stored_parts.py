"""Stored GB-month counts the parts of unfinished multipart uploads, hour by hour, until
their upload is completed (then the object, once) or aborted (then nothing)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from nexq.accounts.limits import Limits
from nexq.accounts.sqlite import SqliteAccounts
from nexq.accounts.tiers import load_tiers
from nexq.app import SCHEMAS
from nexq.billing.service import Billing, hour_of
from nexq.billing.sqlite import SqliteBilling
from nexq.core.db import Database
from nexq.core.identity import Account
from nexq.core.metering import Metered
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.meters import METERS, StorageMeters
from nexq.storage.model import Bucket, ObjectMeta, Part, Segment, Upload

JANUARY = date(2026, 1, 1)
START = hour_of(JANUARY)
HOURS = Decimal(744)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    made = Database(tmp_path / "meta.db", SCHEMAS)
    yield made
    made.close()


def test_parts_are_billed_as_stored_bytes_until_their_upload_ends(db: Database) -> None:
    accounts = SqliteAccounts(db)
    account = Account("acc", "a@example.com", "customer", "active", time.time())
    accounts.add_account(account, "hash")
    store = SqliteMetadata(db)
    now = [START * 3600.0 + 10]
    storage = Metered("storage", "Object Storage", METERS, StorageMeters(store))
    billing = Billing(
        SqliteBilling(db),
        accounts,
        Limits(accounts, load_tiers(None)),
        lambda: [storage],
        clock=lambda: now[0],
    )

    def stored_gb_month() -> Decimal:
        [line] = [ln for ln in billing.statement(account, JANUARY).lines if ln.unit == "GB-month"]
        return line.quantity

    def sample_next_hour() -> None:
        billing.sample_gauges()
        now[0] += 3600

    store.add_bucket(Bucket("b", "bucket", account.id, 1.0))
    for upload_id in ("kept", "dropped"):
        store.add_upload(Upload(upload_id, "b", "big", 1.0, {}, {}, None, None))
    store.put_part(Part("kept", 1, 6 * 10**9, "e", 1.0, "k1"))
    store.put_part(Part("kept", 2, 2 * 10**9, "e", 1.0, "k2"))
    store.put_part(Part("dropped", 1, 10**9, "e", 1.0, "d1"))
    sample_next_hour()  # hour 0: 9 GB of parts, no object
    assert stored_gb_month() == 9 / HOURS

    assert store.abort_upload("dropped")
    sample_next_hour()  # hour 1: the kept upload's 8 GB
    assert stored_gb_month() == (9 + 8) / HOURS

    done = ObjectMeta(
        "b",
        "big",
        8 * 10**9,
        "e",
        1.0,
        {},
        {},
        {},
        None,
        (Segment("k1", 6 * 10**9), Segment("k2", 2 * 10**9)),
    )
    store.complete_upload(Upload("kept", "b", "big", 1.0, {}, {}, None, None), done, [1, 2])
    sample_next_hour()  # hour 2: the object's 8 GB, once
    assert stored_gb_month() == (9 + 8 + 8) / HOURS

    store.add_upload(Upload("gone", "b", "other", 1.0, {}, {}, None, None))
    store.put_part(Part("gone", 1, 3 * 10**9, "e", 1.0, "g1"))
    assert store.abort_upload("gone")
    sample_next_hour()  # hour 3: an upload aborted between two samples is in none
    assert stored_gb_month() == (9 + 8 + 8 + 8) / HOURS
