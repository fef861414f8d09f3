"""Empty bucket on the in-memory stores: every version, delete marker and upload goes through
the store's DeleteObjects path (stored bytes exact), what object lock protects is kept and
counted by why, and the run's state is the bucket's document (another process resumes it)."""

from __future__ import annotations

import itertools

import pytest

from nexq.core.identity import Principal
from nexq.storage.emptying import DONE, RUNNING, BucketEmptying, Emptier, Emptying
from nexq.storage.errors import AccessDenied, BucketNotEmpty
from nexq.storage.locks import ObjectLocks
from nexq.storage.versions import ENABLED
from tests.unit.storage.conftest import Storage


@pytest.fixture
def owner(storage: Storage) -> Principal:
    return storage.caller()


def test_a_versioned_bucket_is_emptied_then_deleted(storage: Storage, owner: Principal) -> None:
    storage.bucket(owner, "full")
    storage.objects.set_versioning(owner, "full", ENABLED)
    for n in range(30):
        storage.put(owner, "full", f"k{n % 7}", b"x" * n)  # 7 keys, several versions each
    storage.objects.delete_object(owner, "full", "k1")  # a delete marker
    storage.multipart.create(owner, "full", "big", {}, {}, None, None)
    other = storage.bucket(owner, "other")
    storage.put(owner, "other", "stays", b"12345")
    bucket_id = storage.objects.bucket(owner, "full").id
    before = storage.store.account_usage("acc-a")

    emptying = BucketEmptying(storage.objects, storage.store)
    started = emptying.start(owner, "full")
    assert started.running and emptying.start(owner, "full") == started  # one run at a time
    # Page of 4: many pages, each rank-ordered, and a second pass for what the first skipped.
    clock = itertools.count(1000.0, 0.5)
    assert Emptier(storage.store, lambda: next(clock), page=4, progress_seconds=0).tick() == 1

    done = emptying.status(owner, "full")
    assert done is not None and not done.running
    assert (done.deleted, done.uploads_aborted, done.kept) == (31, 1, 0)  # 30 + 1 marker
    assert storage.store.bucket_setting(bucket_id, RUNNING) is None
    assert storage.store.bucket_usage(bucket_id) == (0, 0)
    # Only the emptied bucket's bytes went: the account's stored bytes are exact.
    assert before[1] == 7 and storage.store.account_usage("acc-a") == (2, 1, 5)
    assert storage.store.bucket_usage(other.id) == (1, 5)
    storage.objects.delete_bucket(owner, "full")


def test_locked_versions_are_kept_and_counted_by_why(storage: Storage, owner: Principal) -> None:
    storage.objects.create_bucket(owner, "locked", object_lock=True)
    for n in range(5):
        storage.put(owner, "locked", f"free{n}", b"free")
    held = storage.put(owner, "locked", "held", b"held")
    kept = storage.put(owner, "locked", "kept", b"kept")
    locks = ObjectLocks(storage.objects)
    locks.set_legal_hold(owner, "locked", "held", held.version_id, True)
    until = 4_000_000_000.0
    locks.set_retention(owner, "locked", "kept", kept.version_id, ("GOVERNANCE", until), False)
    emptying = BucketEmptying(storage.objects, storage.store)
    emptying.start(owner, "locked")
    Emptier(storage.store, page=2).tick()

    done = emptying.status(owner, "locked")
    assert done is not None
    assert (done.deleted, done.kept_legal_hold, done.kept_retention, done.kept_other) == (
        5,
        1,
        1,
        0,
    )
    with pytest.raises(BucketNotEmpty):
        storage.objects.delete_bucket(owner, "locked")
    # Once the hold is lifted, emptying again removes that one; retention still keeps the other.
    locks.set_legal_hold(owner, "locked", "held", held.version_id, False)
    emptying.start(owner, "locked")
    Emptier(storage.store).tick()
    again = emptying.status(owner, "locked")
    assert again is not None and (again.deleted, again.kept_retention) == (1, 1)


def test_a_run_resumes_from_its_document_and_only_the_owner_starts_one(
    storage: Storage, owner: Principal
) -> None:
    bucket = storage.bucket(owner, "resumed")
    for n in range(6):
        storage.put(owner, "resumed", f"k{n}", b"abc")
    # A run a dead process left halfway: its count goes on from there.
    halfway = Emptying(started_at=1.0, deleted=10, passes=1)
    storage.store.set_bucket_setting(bucket.id, RUNNING, halfway.to_json())
    Emptier(storage.store).tick()
    done = Emptying.parse(storage.store.bucket_setting(bucket.id, DONE))
    assert done is not None and (done.deleted, done.started_at) == (16, 1.0)

    scoped = storage.caller(buckets={bucket.id})  # an access key limited to the bucket
    with pytest.raises(AccessDenied):
        BucketEmptying(storage.objects, storage.store).start(scoped, "resumed")
