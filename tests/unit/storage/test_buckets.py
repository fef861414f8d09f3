"""Buckets: S3's naming rules, global names, ownership, keys scoped to buckets, the limit."""

from __future__ import annotations

import pytest

from nexq.core.errors import QuotaExceeded
from nexq.storage.errors import (
    AccessDenied,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InvalidBucketName,
    NoSuchBucket,
)
from tests.unit.storage.conftest import Storage


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # too short
        "a" * 64,  # too long
        "Upper",
        "-leading",
        "trailing-",
        "two..dots",
        "dot.-dash",
        "192.168.1.1",
        "xn--punycode",
        "sthree-bucket",
        "name-s3alias",
        "name--ol-s3",
        "under_score",
    ],
)
def test_names_outside_s3_rules_are_refused(storage: Storage, name: str) -> None:
    caller = storage.caller()
    with pytest.raises(InvalidBucketName):
        storage.objects.create_bucket(caller, name)
    assert storage.store.get_bucket(name) is None


@pytest.mark.parametrize("name", ["abc", "a" * 63, "my.bucket-1", "1.2.3.four"])
def test_names_within_s3_rules_are_created(storage: Storage, name: str) -> None:
    caller = storage.caller()
    made = storage.bucket(caller, name)
    assert made.account_id == caller.account.id
    assert storage.store.get_bucket(name) == made
    assert [b.name for b in storage.objects.list_buckets(caller)] == [name]


def test_names_are_global_and_buckets_belong_to_their_account(storage: Storage) -> None:
    alice, bob = storage.caller("acc-a"), storage.caller("acc-b")
    storage.bucket(alice, "shared-name")
    with pytest.raises(BucketAlreadyOwnedByYou):
        storage.bucket(alice, "shared-name")
    with pytest.raises(BucketAlreadyExists):
        storage.bucket(bob, "shared-name")
    with pytest.raises(AccessDenied):
        storage.objects.bucket(bob, "shared-name")
    with pytest.raises(AccessDenied):
        storage.objects.delete_bucket(bob, "shared-name")
    with pytest.raises(NoSuchBucket):
        storage.objects.bucket(bob, "no-such-bucket")
    assert storage.objects.list_buckets(bob) == []
    assert storage.store.get_bucket("shared-name") is not None


def test_a_scoped_key_reaches_only_its_buckets_and_creates_none(storage: Storage) -> None:
    owner = storage.caller()
    granted = storage.bucket(owner, "granted")
    storage.bucket(owner, "other")
    scoped = storage.caller(buckets={granted.id})
    assert storage.objects.bucket(scoped, "granted") == granted
    assert [b.name for b in storage.objects.list_buckets(scoped)] == ["granted"]
    assert [s.bucket.name for s in storage.objects.bucket_stats(scoped)] == ["granted"]
    with pytest.raises(AccessDenied):
        storage.objects.bucket(scoped, "other")
    with pytest.raises(AccessDenied):
        storage.put(scoped, "other", "k", b"x")
    with pytest.raises(AccessDenied):
        storage.objects.create_bucket(scoped, "brand-new")
    assert storage.store.get_bucket("brand-new") is None


def test_a_grant_follows_the_bucket_id_not_its_name(storage: Storage) -> None:
    owner = storage.caller()
    first = storage.bucket(owner, "reused")
    scoped = storage.caller(buckets={first.id})
    storage.put(scoped, "reused", "k", b"x")
    storage.objects.delete_object(scoped, "reused", "k")
    storage.objects.delete_bucket(owner, "reused")
    storage.next_request()
    second = storage.bucket(owner, "reused")
    assert second.id != first.id
    storage.next_request()
    with pytest.raises(AccessDenied):
        storage.objects.bucket(scoped, "reused")
    assert storage.objects.list_buckets(scoped) == []


def test_a_bucket_is_deleted_only_when_empty(storage: Storage) -> None:
    caller = storage.caller()
    storage.bucket(caller, "full")
    storage.put(caller, "full", "k", b"data")
    with pytest.raises(BucketNotEmpty):
        storage.objects.delete_bucket(caller, "full")
    storage.objects.delete_object(caller, "full", "k")
    storage.objects.delete_bucket(caller, "full")
    storage.next_request()
    with pytest.raises(NoSuchBucket):
        storage.objects.bucket(caller, "full")


def test_the_bucket_limit_is_refused_exactly(storage: Storage) -> None:
    storage.limits.values["buckets"] = 2
    alice, bob = storage.caller("acc-a"), storage.caller("acc-b")
    storage.bucket(alice, "one")
    storage.bucket(alice, "two")
    with pytest.raises(QuotaExceeded) as refused:
        storage.bucket(alice, "three")
    assert refused.value.limit == "buckets"
    assert storage.store.get_bucket("three") is None
    storage.bucket(bob, "bobs")  # each account has its own count
    storage.objects.delete_bucket(alice, "two")
    storage.bucket(alice, "three")  # room again
    assert [b.name for b in storage.objects.list_buckets(alice)] == ["one", "three"]


def test_bucket_stats_count_objects_and_bytes(storage: Storage) -> None:
    caller = storage.caller()
    storage.bucket(caller, "stats")
    storage.put(caller, "stats", "a", b"12345")
    storage.put(caller, "stats", "b", b"123")
    storage.put(caller, "stats", "a", b"1")  # overwrite: one object, fewer bytes
    stat = storage.objects.bucket_stat(caller, "stats")
    assert (stat.objects, stat.bytes) == (2, 4)
