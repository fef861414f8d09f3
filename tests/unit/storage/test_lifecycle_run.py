"""The lifecycle job (Lifecycle.run) on the in-memory stores: what expires, what goes for
good, what is aborted, what is left alone because it changed after the walk saw it."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from nexq.core.identity import Principal
from nexq.storage.access_keys import AccessKeys
from nexq.storage.blobs.memory import MemoryBlobStore
from nexq.storage.directory import Directory
from nexq.storage.lifecycle import (
    DAY,
    Candidate,
    Due,
    Expiration,
    Filter,
    FilterForm,
    NoncurrentVersionExpiration,
    Rule,
)
from nexq.storage.lifecycle_json import rules_to_json
from nexq.storage.lifecycle_run import DailyLifecycle, Lifecycle, LifecycleReport
from nexq.storage.metadata.memory import MemoryMetadata
from nexq.storage.multipart import Multipart
from nexq.storage.service import NewContent, ObjectStorage
from nexq.storage.versions import ENABLED, Removal
from tests.unit.quotas import TierLimits
from tests.unit.storage.conftest import Storage


def later(days: float) -> float:
    return time.time() + days * DAY


def configure(storage: Storage, caller: Principal, bucket: str, *rules: Rule) -> None:
    storage.objects.set_bucket_document(caller, bucket, "lifecycle", rules_to_json(rules))


def expire(days: int, prefix: str | None = None, rule_id: str = "expire") -> Rule:
    form = FilterForm.EMPTY if prefix is None else FilterForm.PREFIX
    return Rule(rule_id, True, Filter(form, prefix=prefix), Expiration(days=days))


def noncurrent(days: int, keep: int | None = None) -> Rule:
    return Rule(
        "noncurrent", True, Filter(), noncurrent_expiration=NoncurrentVersionExpiration(days, keep)
    )


def keys(storage: Storage, caller: Principal, bucket: str) -> list[str]:
    return [o.key for o in storage.objects.list_objects(caller, bucket, "", "", None, 1000).objects]


def versions(storage: Storage, bucket_id: str) -> list[tuple[str, bool]]:
    """(key, is a delete marker) of every version, in S3's order."""
    return [
        (v.key, v.delete_marker)
        for v, _ in storage.store.list_versions(bucket_id, "", "", None, 1000)
    ]


@pytest.fixture
def owner(storage: Storage) -> Principal:
    return storage.caller()


@pytest.mark.blob_files
def test_due_objects_expire_and_the_rest_stays(storage: Storage, owner: Principal) -> None:
    bucket = storage.bucket(owner, "plain")
    old = storage.put(owner, "plain", "logs/a", b"12345")
    storage.put(owner, "plain", "data/b", b"678")
    configure(storage, owner, "plain", expire(1, "logs/"))
    # Written today: due at the second midnight UTC from now, not before.
    assert Lifecycle(storage.store).run(later(0.5)).expired == 0
    moment = later(3)
    report = Lifecycle(storage.store).run(moment)
    assert (report.buckets, report.expired, report.left_alone, report.failed) == (1, 1, 0, [])
    assert keys(storage, owner, "plain") == ["data/b"]
    # Unversioned: gone for good, its bytes uncounted and its blob left to the janitor.
    assert versions(storage, bucket.id) == [("data/b", False)]
    assert storage.store.bucket_usage(bucket.id) == (1, 3)
    assert old.segments[0].path in storage.store.garbage(100)
    assert storage.store.counter_drift() == []
    # Idempotent: nothing more is due.
    assert Lifecycle(storage.store).run(moment) == LifecycleReport(moment, buckets=1)


def test_in_a_versioned_bucket_expiry_adds_a_delete_marker(
    storage: Storage, owner: Principal
) -> None:
    bucket = storage.bucket(owner, "kept")
    storage.objects.set_versioning(owner, "kept", ENABLED)
    storage.put(owner, "kept", "k", b"12345")
    configure(storage, owner, "kept", expire(1))
    assert Lifecycle(storage.store).run(later(3)).expired == 1
    assert keys(storage, owner, "kept") == []
    assert versions(storage, bucket.id) == [("k", True), ("k", False)]
    # The version is kept: it still counts as stored bytes, as after a DeleteObject.
    assert storage.store.bucket_usage(bucket.id) == (0, 5)
    assert storage.store.garbage(100) == []
    assert storage.store.counter_drift() == []


@pytest.mark.blob_files
def test_noncurrent_versions_go_keeping_the_newest_ones(storage: Storage, owner: Principal) -> None:
    bucket = storage.bucket(owner, "history")
    storage.objects.set_versioning(owner, "history", ENABLED)
    v1 = storage.put(owner, "history", "k", b"1")
    v2 = storage.put(owner, "history", "k", b"22")
    v3 = storage.put(owner, "history", "k", b"333")
    configure(storage, owner, "history", noncurrent(1, keep=1))
    report = Lifecycle(storage.store).run(later(3))
    assert (report.noncurrent_deleted, report.expired) == (1, 0)
    kept = [v.version_id for v, _ in storage.store.list_versions(bucket.id, "", "", None, 10)]
    assert kept == [v3.version_id, v2.version_id]
    assert storage.store.bucket_usage(bucket.id) == (1, 5)
    assert storage.store.garbage(100) == [v1.segments[0].path]


def test_a_lone_delete_marker_is_removed_and_a_shadowing_one_kept(
    storage: Storage, owner: Principal
) -> None:
    bucket = storage.bucket(owner, "markers")
    storage.objects.set_versioning(owner, "markers", ENABLED)
    alone = storage.put(owner, "markers", "alone", b"1")
    storage.put(owner, "markers", "shadowed", b"2")
    storage.objects.delete_object(owner, "markers", "alone")
    storage.objects.delete_object(owner, "markers", "shadowed")
    storage.objects.delete_object(owner, "markers", "alone", alone.version_id)
    marker_only = Rule("m", True, Filter(), Expiration(expired_object_delete_marker=True))
    configure(storage, owner, "markers", marker_only)
    report = Lifecycle(storage.store).run(later(0))
    assert (report.delete_markers_removed, report.noncurrent_deleted) == (1, 0)
    assert versions(storage, bucket.id) == [("shadowed", True), ("shadowed", False)]


def test_a_marker_left_alone_by_this_run_goes_in_the_same_run(
    storage: Storage, owner: Principal
) -> None:
    bucket = storage.bucket(owner, "sweep")
    storage.objects.set_versioning(owner, "sweep", ENABLED)
    storage.put(owner, "sweep", "k", b"1")
    storage.put(owner, "sweep", "k", b"2")
    storage.objects.delete_object(owner, "sweep", "k")
    marker = Rule("m", True, Filter(), Expiration(expired_object_delete_marker=True))
    configure(storage, owner, "sweep", marker, noncurrent(1))
    report = Lifecycle(storage.store).run(later(3))
    assert (report.noncurrent_deleted, report.delete_markers_removed) == (2, 1)
    assert versions(storage, bucket.id) == [] and storage.store.bucket_usage(bucket.id) == (0, 0)


def test_versions_a_run_makes_wait_for_the_next_run(storage: Storage, owner: Principal) -> None:
    bucket = storage.bucket(owner, "steps")
    storage.objects.set_versioning(owner, "steps", ENABLED)
    storage.put(owner, "steps", "k", b"12345")
    configure(
        storage,
        owner,
        "steps",
        Rule("all", True, Filter(), Expiration(days=1), NoncurrentVersionExpiration(1)),
    )
    first = Lifecycle(storage.store).run(later(3))
    # The version it made noncurrent became so just now, not days ago.
    assert (first.expired, first.noncurrent_deleted, first.delete_markers_removed) == (1, 0, 0)
    second = Lifecycle(storage.store).run(later(3))
    assert (second.expired, second.noncurrent_deleted, second.delete_markers_removed) == (0, 1, 1)
    assert versions(storage, bucket.id) == [] and storage.store.bucket_usage(bucket.id) == (0, 0)


@pytest.mark.blob_files
def test_incomplete_uploads_are_aborted_under_the_rules_prefix(
    storage: Storage, owner: Principal
) -> None:
    storage.bucket(owner, "uploads")
    stale = storage.multipart.create(owner, "uploads", "tmp/big", {}, {}, None, None)
    body = storage.objects.receive()
    body.write(b"part")
    part = storage.multipart.upload_part(owner, "uploads", "tmp/big", stale.id, 1, body, None, {})
    kept = storage.multipart.create(owner, "uploads", "keep/big", {}, {}, None, None)
    abort = Rule("abort", True, Filter(FilterForm.PREFIX, prefix="tmp/"), abort_after_days=2)
    configure(storage, owner, "uploads", abort)
    assert Lifecycle(storage.store).run(later(1)).uploads_aborted == 0
    assert Lifecycle(storage.store).run(later(3)).uploads_aborted == 1
    assert storage.store.get_upload(stale.id) is None
    assert storage.store.get_upload(kept.id) is not None
    assert part.path in storage.store.garbage(100)


def test_filters_on_tags_and_sizes_pick_what_expires(storage: Storage, owner: Principal) -> None:
    storage.bucket(owner, "tagged")
    storage.put(owner, "tagged", "tmp", b"123", NewContent({}, {}, tags=(("class", "tmp"),)))
    storage.put(
        owner, "tagged", "tmp-but-big", b"1" * 50, NewContent({}, {}, tags=(("class", "tmp"),))
    )
    storage.put(owner, "tagged", "kept", b"123", NewContent({}, {}, tags=(("class", "gold"),)))
    small_tmp = Filter(FilterForm.AND, tags=(("class", "tmp"),), less_than=10)
    configure(storage, owner, "tagged", Rule("tmp", True, small_tmp, Expiration(days=1)))
    assert Lifecycle(storage.store).run(later(3)).expired == 1
    assert keys(storage, owner, "tagged") == ["kept", "tmp-but-big"]


def test_disabled_rules_and_buckets_without_rules_are_not_walked(
    storage: Storage, owner: Principal
) -> None:
    storage.bucket(owner, "off")
    storage.bucket(owner, "none")
    storage.put(owner, "off", "k", b"1")
    storage.put(owner, "none", "k", b"1")
    configure(storage, owner, "off", Rule("off", False, Filter(), Expiration(days=1)))
    report = Lifecycle(storage.store).run(later(30))
    assert (report.buckets, report.expired) == (0, 0)
    assert keys(storage, owner, "off") == ["k"] and keys(storage, owner, "none") == ["k"]


def test_small_pages_walk_keys_across_page_boundaries(storage: Storage, owner: Principal) -> None:
    bucket = storage.bucket(owner, "paged")
    storage.objects.set_versioning(owner, "paged", ENABLED)
    for key in ("a", "b", "c"):
        for n in range(4):
            storage.put(owner, "paged", key, bytes(n + 1))
    configure(storage, owner, "paged", noncurrent(1, keep=1))
    # Two versions a page: every key's versions span pages, and the state of a key (how many
    # newer noncurrent versions) carries over from one page to the next.
    report = Lifecycle(storage.store, page=2).run(later(3))
    assert report.noncurrent_deleted == 6
    assert [k for k, _ in versions(storage, bucket.id)] == ["a", "a", "b", "b", "c", "c"]
    assert storage.store.counter_drift() == []


def test_a_bucket_that_fails_is_reported_and_the_others_still_run(
    storage: Storage, owner: Principal
) -> None:
    broken = storage.bucket(owner, "broken")
    storage.bucket(owner, "fine")
    storage.put(owner, "fine", "k", b"1")
    configure(storage, owner, "fine", expire(1))
    storage.store.set_bucket_setting(broken.id, "lifecycle", "not json")
    report = Lifecycle(storage.store).run(later(3))
    assert report.expired == 1 and len(report.failed) == 1
    assert report.failed[0].startswith(f"{broken.id}: ")


# --- concurrent writes ---------------------------------------------------------------------


class RacingStore(MemoryMetadata):
    """The in-memory store, with a write of another client landing just before the job's
    first action: after its walk saw the version, before the store acts on it."""

    race: Callable[[], object] | None = None

    def apply_lifecycle(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        decide: Callable[[Candidate], Due],
    ) -> tuple[Due, Removal]:
        race, self.race = self.race, None
        if race is not None:
            race()
        return super().apply_lifecycle(bucket_id, key, version_id, decide)


@pytest.fixture
def racing(storage: Storage) -> tuple[Storage, RacingStore]:
    """The fixture's installation, on a RacingStore."""
    store, blobs, limits = RacingStore(storage.accounts.get), MemoryBlobStore(), TierLimits()
    objects = ObjectStorage(store, blobs, Directory(store, storage.box), None, limits)
    multipart, keys_ = Multipart(store, objects), AccessKeys(store, storage.box, limits)
    raced = Storage(storage.accounts, store, blobs, limits, storage.box, objects, multipart, keys_)
    return raced, store


def test_an_object_overwritten_after_the_walk_is_not_deleted(
    racing: tuple[Storage, RacingStore],
) -> None:
    storage, store = racing
    owner = storage.caller()
    storage.bucket(owner, "race")
    storage.put(owner, "race", "k", b"old")
    configure(storage, owner, "race", expire(1))
    store.race = lambda: storage.put(owner, "race", "k", b"new")
    report = Lifecycle(store).run(later(3))
    assert (report.expired, report.left_alone) == (0, 1)
    assert storage.read(owner, "race", "k") == b"new"


def test_an_object_retagged_after_the_walk_is_judged_by_its_new_tags(
    racing: tuple[Storage, RacingStore],
) -> None:
    storage, store = racing
    owner = storage.caller()
    storage.bucket(owner, "retag")
    storage.put(owner, "retag", "k", b"1", NewContent({}, {}, tags=(("class", "tmp"),)))
    tmp = Filter(FilterForm.TAG, tags=(("class", "tmp"),))
    configure(storage, owner, "retag", Rule("tmp", True, tmp, Expiration(days=1)))
    store.race = lambda: storage.objects.tag_object(owner, "retag", "k", None, (("class", "gold"),))
    assert Lifecycle(store).run(later(3)).left_alone == 1
    assert keys(storage, owner, "retag") == ["k"]


def test_a_noncurrent_version_made_current_again_is_not_deleted(
    racing: tuple[Storage, RacingStore],
) -> None:
    storage, store = racing
    owner = storage.caller()
    storage.bucket(owner, "undo")
    storage.objects.set_versioning(owner, "undo", ENABLED)
    storage.put(owner, "undo", "k", b"first")
    second = storage.put(owner, "undo", "k", b"second")
    configure(storage, owner, "undo", noncurrent(1))
    # The newest version goes for good meanwhile: the first one is the current one again.
    store.race = lambda: storage.objects.delete_object(owner, "undo", "k", second.version_id)
    report = Lifecycle(store).run(later(3))
    assert (report.noncurrent_deleted, report.left_alone) == (0, 1)
    assert storage.read(owner, "undo", "k") == b"first"


# --- the background job --------------------------------------------------------------------


def test_the_job_runs_at_once_then_once_an_interval(storage: Storage, owner: Principal) -> None:
    ticks = iter([0.0, 100.0, 3600.0, 3700.0])
    job = DailyLifecycle(Lifecycle(storage.store), 3600.0, clock=lambda: next(ticks))
    assert job.tick() is not None  # the first tick after the process took the job
    assert job.tick() is None  # 100 s later
    assert job.tick() is not None  # an interval after the first
    assert job.tick() is None
