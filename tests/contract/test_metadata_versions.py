"""The MetadataStore contract for object versions (S3 versioning): every implementation."""

from __future__ import annotations

import dataclasses

import pytest

from nexq.accounts.port import AccountStore
from nexq.storage import errors
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import Bucket, ObjectMeta, Part, Segment, Upload
from nexq.storage.versions import ENABLED, SUSPENDED, new_version_id
from tests.contract.test_metadata_store import account, bucket, obj


@pytest.fixture
def store(stores: tuple[MetadataStore, AccountStore]) -> MetadataStore:
    return stores[0]


@pytest.fixture
def accounts(stores: tuple[MetadataStore, AccountStore]) -> AccountStore:
    return stores[1]


def put(store: MetadataStore, b: Bucket, key: str, path: str, size: int = 1) -> str | None:
    meta = dataclasses.replace(
        obj(b, key, etag=path, paths=(path,)), size=size, segments=(Segment(path, size),)
    )
    return store.put_object(dataclasses.replace(meta, version_id=new_version_id()))


def listing(store: MetadataStore, b: Bucket, prefix: str = "") -> list[tuple[str, str, bool]]:
    """(key, version or "marker:version", is latest) of every version, in S3's order."""
    return [
        (v.key, ("marker:" if v.delete_marker else "") + str(v.version_id), v.is_latest)
        for v, _ in store.list_versions(b.id, prefix, "", None, 1000)
    ]


def versioned(store: MetadataStore, accounts: AccountStore, state: str = ENABLED) -> Bucket:
    b = bucket(store, account(accounts))
    store.set_versioning(b.id, state)
    got = store.get_bucket(b.name)
    assert got is not None and got.versioning == state
    return b


def test_a_never_versioned_bucket_keeps_null_versions(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    assert b.versioning is None and store.get_bucket(b.name) == b
    assert put(store, b, "k", "p1") is None
    assert put(store, b, "k", "p2") is None
    assert store.garbage(10) == ["p1"]
    current = store.get_object(b.id, "k")
    assert current is not None and current.version_id is None
    assert store.get_version(b.id, "k", None) == current
    assert listing(store, b) == [("k", "None", True)]
    removal = store.delete_object(b.id, "k")
    assert removal.removed and not removal.delete_marker
    assert store.delete_object(b.id, "k").removed is False
    assert listing(store, b) == []


def test_enabled_keeps_every_version_and_counts_its_bytes(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts)
    v1 = put(store, b, "k", "p1", size=10)
    v2 = put(store, b, "k", "p2", size=20)
    assert v1 and v2 and v1 != v2
    assert store.garbage(10) == []
    current = store.get_object(b.id, "k")
    assert current is not None and current.version_id == v2
    old = store.get_version(b.id, "k", v1)
    assert old is not None and old.segments[0].path == "p1" and not old.delete_marker
    assert store.bucket_usage(b.id) == (1, 30)
    assert store.stored_bytes(b.account_id) == 30
    assert listing(store, b) == [("k", v2, True), ("k", v1, False)]
    assert store.blob_sizes() == {"p1": 10, "p2": 20}
    assert store.counter_drift() == []


def test_delete_adds_a_marker_and_removing_it_restores_the_object(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts)
    v1 = put(store, b, "k", "p1", size=5)
    removal = store.delete_object(b.id, "k")
    assert removal.delete_marker and removal.marker_added and removal.version_id
    marker = removal.version_id
    assert store.get_object(b.id, "k") is None
    found = store.latest_marker(b.id, "k")
    assert found is not None and found.version_id == marker and found.delete_marker
    assert store.bucket_usage(b.id) == (0, 5)  # the bytes are still stored
    assert listing(store, b) == [("k", f"marker:{marker}", True), ("k", v1, False)]
    gone = store.delete_version(b.id, "k", marker)
    assert gone.removed and gone.delete_marker and gone.version_id == marker
    current = store.get_object(b.id, "k")
    assert current is not None and current.version_id == v1
    assert store.latest_marker(b.id, "k") is None
    assert store.bucket_usage(b.id) == (1, 5)
    assert store.counter_drift() == []


def test_a_marker_is_added_even_where_no_object_was(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts)
    removal = store.delete_object(b.id, "never")
    assert removal.delete_marker and removal.version_id
    assert listing(store, b) == [("never", f"marker:{removal.version_id}", True)]
    assert store.bucket_usage(b.id) == (0, 0)


def test_deleting_the_current_version_promotes_the_previous_one(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts)
    v1 = put(store, b, "k", "p1", size=1)
    v2 = put(store, b, "k", "p2", size=2)
    gone = store.delete_version(b.id, "k", v2)
    assert gone.removed and not gone.delete_marker
    assert store.garbage(10) == ["p2"]
    current = store.get_object(b.id, "k")
    assert current is not None and current.version_id == v1
    assert store.bucket_usage(b.id) == (1, 1)
    assert store.delete_version(b.id, "k", v2).removed is False
    assert store.delete_version(b.id, "k", v1).removed
    assert store.get_object(b.id, "k") is None and listing(store, b) == []
    assert store.bucket_usage(b.id) == (0, 0) and store.counter_drift() == []


def test_a_noncurrent_version_is_removed_alone(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts)
    v1 = put(store, b, "k", "p1")
    v2 = put(store, b, "k", "p2")
    v3 = put(store, b, "k", "p3")
    assert store.delete_version(b.id, "k", v2).removed
    assert listing(store, b) == [("k", v3, True), ("k", v1, False)]
    assert store.garbage(10) == ["p2"]


def test_suspended_overwrites_the_null_version_and_keeps_the_others(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    assert put(store, b, "k", "null1", size=1) is None  # made before versioning
    store.set_versioning(b.id, ENABLED)
    v1 = put(store, b, "k", "p1", size=2)
    store.set_versioning(b.id, SUSPENDED)
    assert put(store, b, "k", "null2", size=4) is None
    # The old null version (noncurrent by now) was replaced: only one null version exists.
    assert listing(store, b) == [("k", "None", True), ("k", v1, False)]
    assert store.garbage(10) == ["null1"]
    assert store.bucket_usage(b.id) == (1, 6)
    assert put(store, b, "k", "null3", size=8) is None
    assert sorted(store.garbage(10)) == ["null1", "null2"]
    assert store.bucket_usage(b.id) == (1, 10) and store.counter_drift() == []


def test_suspended_delete_makes_a_null_marker(store: MetadataStore, accounts: AccountStore) -> None:
    b = versioned(store, accounts)
    v1 = put(store, b, "k", "p1")
    store.set_versioning(b.id, SUSPENDED)
    removal = store.delete_object(b.id, "k")
    assert removal.delete_marker and removal.version_id is None
    assert listing(store, b) == [("k", "marker:None", True), ("k", v1, False)]
    again = store.delete_object(b.id, "k")  # replaces the null marker, adds no second one
    assert again.delete_marker and listing(store, b) == [
        ("k", "marker:None", True),
        ("k", v1, False),
    ]
    marker = store.get_version(b.id, "k", None)
    assert marker is not None and marker.delete_marker


def test_versions_list_in_key_order_newest_first_and_resume_exactly(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts)
    made: dict[str, list[str | None]] = {}
    for key in ("b", "a", "c/1", "a", "b", "a"):
        made.setdefault(key, []).insert(0, put(store, b, key, f"{key}-{len(made.get(key, []))}"))
    store.delete_object(b.id, "b")
    every = store.list_versions(b.id, "", "", None, 1000)
    assert [(v.key, v.is_latest) for v, _ in every] == [
        ("a", True),
        ("a", False),
        ("a", False),
        ("b", True),
        ("b", False),
        ("b", False),
        ("c/1", True),
    ]
    assert [v.version_id for v, _ in every[:3]] == made["a"]
    # Resuming below each entry gives exactly the rest, with is_latest unchanged.
    for index, (version, rank) in enumerate(every):
        rest = store.list_versions(b.id, "", version.key, rank, 1000)
        assert [v for v, _ in rest] == [v for v, _ in every[index + 1 :]]
        assert store.version_rank(b.id, version.key, version.version_id) == rank
    assert [v.key for v, _ in store.list_versions(b.id, "c/", "", None, 10)] == ["c/1"]
    assert len(store.list_versions(b.id, "", "", None, 2)) == 2
    assert store.version_rank(b.id, "a", new_version_id()) is None


def test_a_bucket_with_versions_is_not_empty(store: MetadataStore, accounts: AccountStore) -> None:
    b = versioned(store, accounts)
    store.delete_object(b.id, "only-a-marker")
    with pytest.raises(errors.BucketNotEmpty):
        store.remove_bucket(b.id)
    ((marker, _),) = store.list_versions(b.id, "", "", None, 10)
    store.delete_version(b.id, "only-a-marker", marker.version_id)
    store.remove_bucket(b.id)
    assert store.get_bucket(b.name) is None


def test_completing_an_upload_makes_a_version(store: MetadataStore, accounts: AccountStore) -> None:
    b = versioned(store, accounts)
    v1 = put(store, b, "k", "p1")
    store.add_upload(Upload("u1", b.id, "k", 1.0, {}, {}, None, None))
    store.put_part(Part("u1", 1, 1, "e1", 1.0, "part1"))
    meta: ObjectMeta = dataclasses.replace(
        obj(b, "k", paths=("part1",)), version_id=new_version_id()
    )
    v2 = store.complete_upload(_upload(b), meta, [1])
    assert v2 == meta.version_id
    assert [v for _, v, _ in listing(store, b)] == [v2, v1]
    assert store.garbage(10) == []


def _upload(b: Bucket) -> Upload:
    return Upload("u1", b.id, "k", 1.0, {}, {}, None, None)


def test_bucket_settings_are_kept_replaced_and_go_with_the_bucket(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    assert store.bucket_setting(b.id, "cors") is None
    before = store.auth_generation()
    store.set_bucket_setting(b.id, "cors", "<CORSConfiguration/>")
    store.set_bucket_setting(b.id, "policy", '{"Statement": []}')
    assert store.auth_generation() != before  # every node's cached bucket sees it at once
    assert store.bucket_setting(b.id, "cors") == "<CORSConfiguration/>"
    store.set_bucket_setting(b.id, "cors", "<CORSConfiguration>2</CORSConfiguration>")
    assert store.bucket_setting(b.id, "cors") == "<CORSConfiguration>2</CORSConfiguration>"
    store.set_bucket_setting(b.id, "cors", None)
    assert store.bucket_setting(b.id, "cors") is None
    assert store.bucket_setting(b.id, "policy") == '{"Statement": []}'
    store.remove_bucket(b.id)
    with pytest.raises(errors.NoSuchBucket):
        store.set_bucket_setting(b.id, "cors", "<x/>")
    store.add_bucket(b)  # a new bucket of the same id starts without the old documents
    assert store.bucket_setting(b.id, "policy") is None


def test_listed_versions_carry_their_tags(store: MetadataStore, accounts: AccountStore) -> None:
    b = versioned(store, accounts)
    v1 = put(store, b, "k", "p1")
    put(store, b, "k", "p2")
    store.tag_version(b.id, "k", v1, '[["class", "tmp"], ["team", "a"]]', latest=False)
    store.tag_version(b.id, "k", None, '[["class", "gold"]]', latest=True)
    store.delete_object(b.id, "k")
    assert [v.tags for v, _ in store.list_versions(b.id, "", "", None, 10)] == [
        (),  # the delete marker
        (("class", "gold"),),
        (("class", "tmp"), ("team", "a")),
    ]
