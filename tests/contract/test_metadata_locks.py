"""The MetadataStore contract for Object Lock and conditional deletes: every implementation."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest

from nexq.accounts.port import AccountStore
from nexq.storage import errors
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import ObjectMeta
from nexq.storage.object_lock import COMPLIANCE, GOVERNANCE, DeleteConditions, ObjectLocked
from nexq.storage.versions import ENABLED, Deletion
from tests.contract.test_metadata_versions import put, versioned


@pytest.fixture
def store(stores: tuple[MetadataStore, AccountStore]) -> MetadataStore:
    return stores[0]


@pytest.fixture
def accounts(stores: tuple[MetadataStore, AccountStore]) -> AccountStore:
    return stores[1]


def lock(
    mode: str | None, days: float = 1.0, hold: bool | None = None
) -> Callable[[ObjectMeta], ObjectMeta]:
    until = time.time() + days * 86_400 if mode else None

    def amend(meta: ObjectMeta) -> ObjectMeta:
        return dataclasses.replace(meta, lock_mode=mode, lock_until=until, legal_hold=hold)

    return amend


def test_a_locked_version_is_never_removed(store: MetadataStore, accounts: AccountStore) -> None:
    b = versioned(store, accounts, ENABLED)
    v1 = put(store, b, "k", "p1")
    amended = store.amend_version(b.id, "k", v1, lock(COMPLIANCE), latest=False)
    assert amended is not None and amended.lock_mode == COMPLIANCE
    got = store.get_version(b.id, "k", v1)
    assert got is not None and got.lock_mode == COMPLIANCE and got.lock_until is not None
    with pytest.raises(ObjectLocked):
        store.delete_version(b.id, "k", v1)
    (refused,) = store.delete_objects(b.id, [Deletion("k", v1, True, bypass_governance=True)])
    assert isinstance(refused, ObjectLocked)
    marker = store.delete_object(b.id, "k")  # a delete marker removes nothing: allowed
    assert marker.delete_marker
    assert store.get_version(b.id, "k", v1) is not None and store.garbage(10) == []


def test_governance_gives_way_to_a_bypass(store: MetadataStore, accounts: AccountStore) -> None:
    b = versioned(store, accounts, ENABLED)
    v1 = put(store, b, "k", "p1")
    store.amend_version(b.id, "k", None, lock(GOVERNANCE), latest=True)
    (refused,) = store.delete_objects(b.id, [Deletion("k", v1, True)])
    assert isinstance(refused, ObjectLocked)
    (done,) = store.delete_objects(b.id, [Deletion("k", v1, True, bypass_governance=True)])
    assert not isinstance(done, Exception) and done.removed
    assert store.garbage(10) == ["p1"]


def test_a_legal_hold_and_an_expired_retention(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts, ENABLED)
    v1 = put(store, b, "k", "p1")
    store.amend_version(b.id, "k", v1, lock(None, hold=True), latest=False)
    with pytest.raises(ObjectLocked):
        store.delete_version(b.id, "k", v1)
    store.amend_version(b.id, "k", v1, lock(COMPLIANCE, days=-1), latest=False)  # expired
    assert store.delete_version(b.id, "k", v1).removed


def test_a_legal_hold_never_set_is_told_from_one_set_off(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts, ENABLED)
    v1 = put(store, b, "k", "p1")
    v2 = put(store, b, "k", "p2")
    first = store.get_version(b.id, "k", v1)
    assert first is not None and first.legal_hold is None
    for hold in (True, False, None):
        for version, latest in ((v1, False), (v2, True)):  # a noncurrent row and the latest
            store.amend_version(b.id, "k", version, lock(None, hold=hold), latest=latest)
            got = store.get_version(b.id, "k", version)
            assert got is not None and got.legal_hold is hold


def test_one_refusal_leaves_the_other_deletions(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = versioned(store, accounts, ENABLED)
    v1 = put(store, b, "a", "pa")
    v2 = put(store, b, "b", "pb")
    store.amend_version(b.id, "a", v1, lock(COMPLIANCE), latest=False)
    done = store.delete_objects(b.id, [Deletion("a", v1, True), Deletion("b", v2, True)])
    assert isinstance(done[0], ObjectLocked)
    assert not isinstance(done[1], Exception) and done[1].removed
    assert store.garbage(10) == ["pb"] and store.counter_drift() == []


def test_conditional_deletes(store: MetadataStore, accounts: AccountStore) -> None:
    b = versioned(store, accounts, ENABLED)
    put(store, b, "k", "etag-1", size=5)
    wrong, size, gone = store.delete_objects(
        b.id,
        [
            Deletion("k", conditions=DeleteConditions(etag="other")),
            Deletion("k", conditions=DeleteConditions(size=4)),
            Deletion("missing", conditions=DeleteConditions(etag="*")),
        ],
    )
    assert isinstance(wrong, errors.PreconditionFailed)
    assert isinstance(size, errors.PreconditionFailed)
    assert isinstance(gone, errors.NoSuchKey)
    assert store.get_object(b.id, "k") is not None
    (done,) = store.delete_objects(
        b.id, [Deletion("k", conditions=DeleteConditions(etag='"etag-1"', size=5))]
    )
    assert not isinstance(done, Exception) and done.delete_marker
    assert store.get_object(b.id, "k") is None


def test_amending_a_version_replaces_its_stored_headers(
    store: MetadataStore, accounts: AccountStore
) -> None:
    """An object ACL rides in a version's headers: PutObjectAcl amends them in place, one
    version at a time, the current one or an older one."""
    b = versioned(store, accounts, ENABLED)
    v1 = put(store, b, "k", "p1")
    v2 = put(store, b, "k", "p2")

    def acl(text: str) -> Callable[[ObjectMeta], ObjectMeta]:
        return lambda meta: dataclasses.replace(meta, headers={**meta.headers, "x-nexq-acl": text})

    store.amend_version(b.id, "k", v1, acl("old"), latest=False)
    store.amend_version(b.id, "k", None, acl("new"), latest=True)
    older, current = store.get_version(b.id, "k", v1), store.get_version(b.id, "k", v2)
    assert older is not None and older.headers["x-nexq-acl"] == "old"
    assert current is not None and current.headers["x-nexq-acl"] == "new"
    latest = store.get_object(b.id, "k")
    assert latest is not None and latest.headers["x-nexq-acl"] == "new"
