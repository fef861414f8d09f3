"""Object Lock's default retention: the rule S3, REST, the console and dcp share, and the use
case that changes it only on a bucket made with Object Lock."""

from __future__ import annotations

import time

import pytest

from nexq.storage.errors import InvalidArgument
from nexq.storage.locks import ObjectLocks
from nexq.storage.object_lock import (
    DAY,
    InvalidBucketState,
    LockConfiguration,
    MalformedDefaultRetention,
    default_retention,
)
from nexq.storage.versions import ENABLED
from tests.unit.storage.conftest import Storage


@pytest.mark.parametrize(
    ("mode", "days", "years"),
    [("GOVERNANCE", 1, None), ("COMPLIANCE", None, 1), ("GOVERNANCE", 36_500, None)],
)
def test_a_mode_with_one_period_is_a_default_retention(
    mode: str, days: int | None, years: int | None
) -> None:
    assert default_retention(mode, days, years) == LockConfiguration(mode, days, years)
    assert default_retention("COMPLIANCE", None, 100).years == 100


def test_nothing_at_all_is_no_default_retention() -> None:
    config = default_retention(None, None, None)
    assert config == LockConfiguration() and config.default_retention(time.time()) is None


@pytest.mark.parametrize(
    ("mode", "days", "years"),
    [
        ("GOVERNANCE", None, None),
        ("GOVERNANCE", 1, 1),
        (None, 3, None),
        ("FOREVER", 3, None),
        ("governance", 3, None),  # S3's modes are upper case
    ],
)
def test_a_mode_and_exactly_one_period_are_needed(
    mode: str | None, days: int | None, years: int | None
) -> None:
    with pytest.raises(MalformedDefaultRetention):
        default_retention(mode, days, years)


@pytest.mark.parametrize(
    ("days", "years", "message"),
    [
        (0, None, "positive"),
        (None, -2, "positive"),
        (36_501, None, "at most 36500 days"),
        (None, 101, "at most 100 years"),
    ],
)
def test_a_period_out_of_bounds_is_refused(
    days: int | None, years: int | None, message: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        default_retention("COMPLIANCE", days, years)
    assert message in refused.value.message


def test_the_default_retention_changes_only_on_a_bucket_made_with_object_lock(
    storage: Storage,
) -> None:
    caller = storage.caller()
    locks = ObjectLocks(storage.objects)
    storage.objects.create_bucket(caller, "locked", object_lock=True)
    plain = storage.bucket(caller, "plain")
    storage.objects.set_versioning(caller, "plain", ENABLED)
    storage.next_request()
    assert locks.lock(caller, "locked") == LockConfiguration()
    assert locks.lock(caller, "plain") is None

    with pytest.raises(InvalidBucketState):
        locks.set_default_retention(caller, "plain", LockConfiguration("GOVERNANCE", 1))
    storage.next_request()
    assert locks.lock(caller, "plain") is None
    assert storage.store.bucket_setting(plain.id, "objectLock") is None

    wanted = default_retention("GOVERNANCE", 2, None)
    assert locks.set_default_retention(caller, "locked", wanted) == wanted
    storage.next_request()
    assert locks.lock(caller, "locked") == wanted
    before = time.time()
    made = storage.put(caller, "locked", "k", b"kept")
    assert made.lock_mode == "GOVERNANCE"
    assert made.lock_until is not None and made.lock_until >= before + 2 * DAY
