"""The MetadataStore contract for lifecycle actions: a version described as it stands and
acted on in one step, and the buckets a lifecycle job walks; every implementation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from nexq.accounts.port import AccountStore
from nexq.storage.lifecycle import NOTHING_DUE, Action, Candidate, Due
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import Bucket, Segment
from nexq.storage.versions import Removal, new_version_id
from tests.contract.test_metadata_store import account, bucket, obj
from tests.contract.test_metadata_versions import versioned


@pytest.fixture
def store(stores: tuple[MetadataStore, AccountStore]) -> MetadataStore:
    return stores[0]


@pytest.fixture
def accounts(stores: tuple[MetadataStore, AccountStore]) -> AccountStore:
    return stores[1]


def put(store: MetadataStore, b: Bucket, key: str, path: str, modified: float) -> str | None:
    meta = dataclasses.replace(
        obj(b, key, etag=path, paths=(path,)),
        size=len(path),
        segments=(Segment(path, len(path)),),
        last_modified=modified,
        tags=(("class", "tmp"),),
        version_id=new_version_id(),
    )
    return store.put_object(meta)


def seen(store: MetadataStore, b: Bucket, key: str, version_id: str | None) -> Candidate | None:
    """How the store describes a version to the rules (deciding nothing)."""
    shown: list[Candidate] = []

    def decide(candidate: Candidate) -> Due:
        shown.append(candidate)
        return NOTHING_DUE

    assert store.apply_lifecycle(b.id, key, version_id, decide) == (NOTHING_DUE, Removal())
    return shown[0] if shown else None


def deciding(action: Action) -> Callable[[Candidate], Due]:
    return lambda candidate: Due(action, "rule", 0.0)


def test_each_version_is_described_as_it_stands(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts)
    v1 = put(store, b, "k", "p1", 1000.0)
    v2 = put(store, b, "k", "p22", 2000.0)
    v3 = put(store, b, "k", "p333", 3000.0)
    marker = store.delete_object(b.id, "k").version_id
    marked_at = store.list_versions(b.id, "", "", None, 1)[0][0].last_modified
    tags = {"class": "tmp"}
    assert seen(store, b, "k", marker) == Candidate(
        "k", 0, {}, marked_at, is_delete_marker=True, only_version=False
    )
    assert seen(store, b, "k", v3) == Candidate(
        "k", 4, tags, 3000.0, is_latest=False, noncurrent_since=marked_at
    )
    assert seen(store, b, "k", v2) == Candidate(
        "k", 3, tags, 2000.0, False, noncurrent_since=3000.0, newer_noncurrent_count=1
    )
    assert seen(store, b, "k", v1) == Candidate(
        "k", 2, tags, 1000.0, False, noncurrent_since=2000.0, newer_noncurrent_count=2
    )
    current = put(store, b, "other", "p4", 4000.0)
    assert seen(store, b, "other", current) == Candidate("other", 2, tags, 4000.0)
    assert seen(store, b, "k", new_version_id()) is None
    assert seen(store, b, "missing", None) is None
    assert len(store.list_versions(b.id, "", "", None, 10)) == 5  # nothing was done


def test_a_marker_with_no_other_version_is_alone(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts)
    store.delete_object(b.id, "k")
    ((marker, _),) = store.list_versions(b.id, "", "", None, 10)
    found = seen(store, b, "k", marker.version_id)
    assert found is not None and found.is_latest and found.only_version


def test_an_unversioned_expiry_deletes_the_object_and_frees_its_bytes(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    put(store, b, "k", "p1", 1000.0)
    due, removal = store.apply_lifecycle(b.id, "k", None, deciding(Action.EXPIRE_CURRENT))
    assert due.action is Action.EXPIRE_CURRENT and removal.removed
    assert store.get_object(b.id, "k") is None
    assert store.bucket_usage(b.id) == (0, 0) and store.garbage(10) == ["p1"]


def test_versioned_actions_are_done_as_deletes_do(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts)
    v1 = put(store, b, "k", "p1", 1000.0)
    v2 = put(store, b, "k", "p22", 2000.0)
    # Expiring the current version stacks a delete marker; its bytes stay counted.
    due, removal = store.apply_lifecycle(b.id, "k", v2, deciding(Action.EXPIRE_CURRENT))
    assert due.action is Action.EXPIRE_CURRENT and removal.marker_added
    assert store.get_object(b.id, "k") is None and store.bucket_usage(b.id) == (0, 5)
    # An action the version cannot take is not taken: v1 is no current version.
    assert store.apply_lifecycle(b.id, "k", v1, deciding(Action.EXPIRE_CURRENT)) == (
        NOTHING_DUE,
        Removal(),
    )
    for version, path in ((v1, "p1"), (v2, "p22")):
        due, removal = store.apply_lifecycle(b.id, "k", version, deciding(Action.DELETE_NONCURRENT))
        assert removal.removed and path in store.garbage(10)
    assert store.bucket_usage(b.id) == (0, 0)
    ((marker, _),) = store.list_versions(b.id, "", "", None, 10)
    due, removal = store.apply_lifecycle(
        b.id, "k", marker.version_id, deciding(Action.REMOVE_DELETE_MARKER)
    )
    assert removal.removed and removal.delete_marker
    assert store.list_versions(b.id, "", "", None, 10) == []
    assert store.counter_drift() == []


def test_buckets_with_a_setting_are_listed_by_id_a_page_at_a_time(
    store: MetadataStore, accounts: AccountStore
) -> None:
    owner = account(accounts)
    made = [bucket(store, owner, name) for name in ("b-three", "b-one", "b-two", "b-none")]
    for b in made[:3]:
        store.set_bucket_setting(b.id, "lifecycle", f"rules of {b.name}")
    store.set_bucket_setting(made[3].id, "cors", "<CORSConfiguration/>")
    first = store.buckets_with_setting("lifecycle", "", 2)
    assert first + store.buckets_with_setting("lifecycle", first[-1], 2) == [
        "id-b-one",
        "id-b-three",
        "id-b-two",
    ]
    assert store.buckets_with_setting("lifecycle", "id-b-two", 2) == []
