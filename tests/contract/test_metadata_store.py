"""The MetadataStore contract: every implementation passes these."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexq.accounts.port import AccountStore
from nexq.accounts.sqlite import SqliteAccounts
from nexq.core.db import Database
from nexq.core.schema import MIGRATIONS
from nexq.storage import errors
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.model import AccessKey, Account, Bucket, ObjectMeta, Part, Segment, Upload


def sqlite(tmp_path: Path) -> tuple[MetadataStore, AccountStore, Callable[[], None]]:
    db = Database(tmp_path / "meta.db", tmp_path, MIGRATIONS)
    return SqliteMetadata(db), SqliteAccounts(db), db.close


IMPLEMENTATIONS = {"sqlite": sqlite}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[MetadataStore, AccountStore]]:
    impl, accounts, close = IMPLEMENTATIONS[request.param](tmp_path)
    yield impl, accounts
    close()


@pytest.fixture
def store(stores: tuple[MetadataStore, AccountStore]) -> MetadataStore:
    return stores[0]


@pytest.fixture
def accounts(stores: tuple[MetadataStore, AccountStore]) -> AccountStore:
    """Accounts live in the same database (the account store's own contract is elsewhere)."""
    return stores[1]


def account(accounts: AccountStore, name: str = "a") -> Account:
    acc = Account(f"acc-{name}", f"{name}@example.com", "customer", "active", time.time())
    accounts.add_account(acc, "hash")
    return acc


def bucket(store: MetadataStore, owner: Account, name: str = "bucket") -> Bucket:
    b = Bucket(f"id-{name}", name, owner.id, time.time())
    store.add_bucket(b)
    return b


def obj(b: Bucket, key: str, etag: str = "e", paths: tuple[str, ...] = ("p",)) -> ObjectMeta:
    return ObjectMeta(
        b.id,
        key,
        1,
        etag,
        time.time(),
        {"content-type": "x/y"},
        {"m": "v"},
        {},
        None,
        tuple(Segment(p, 1) for p in paths),
    )


def test_accounts_case_insensitive(store: MetadataStore, accounts: AccountStore) -> None:
    acc = account(accounts)
    assert accounts.find_account("A@EXAMPLE.COM") == acc
    accounts.set_account_status(acc.id, "suspended")
    found = store.get_account(acc.id)
    assert found is not None and found.status == "suspended"


def test_bucket_names_are_global(store: MetadataStore, accounts: AccountStore) -> None:
    a, b = account(accounts, "a"), account(accounts, "b")
    bucket(store, a, "shared")
    with pytest.raises(errors.BucketAlreadyOwnedByYou):
        bucket(store, a, "shared")
    with pytest.raises(errors.BucketAlreadyExists):
        store.add_bucket(Bucket("other-id", "shared", b.id, time.time()))
    assert [x.name for x in store.list_buckets(a.id)] == ["shared"]
    assert store.list_buckets(b.id) == []


def test_bucket_delete_only_when_empty(store: MetadataStore, accounts: AccountStore) -> None:
    b = bucket(store, account(accounts))
    store.put_object(obj(b, "k"))
    with pytest.raises(errors.BucketNotEmpty):
        store.remove_bucket(b.id)
    assert store.delete_object(b.id, "k") is True
    assert store.delete_object(b.id, "k") is False
    store.remove_bucket(b.id)
    assert store.get_bucket("bucket") is None


def test_objects_roundtrip_and_garbage(store: MetadataStore, accounts: AccountStore) -> None:
    b = bucket(store, account(accounts))
    first = obj(b, "k", "e1", ("p1",))
    store.put_object(first)
    assert store.get_object(b.id, "k") == first
    store.put_object(obj(b, "k", "e2", ("p2",)))
    assert store.garbage(10) == ["p1"]
    store.forget_garbage(["p1"])
    store.delete_object(b.id, "k")
    deadline = time.monotonic() + 5
    while store.garbage(10) != ["p2"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.garbage(10) == ["p2"]
    assert store.bucket_usage(b.id) == (0, 0)


def test_conditional_writes_are_atomic(store: MetadataStore, accounts: AccountStore) -> None:
    b = bucket(store, account(accounts))
    store.put_object(obj(b, "k", "e1"), if_none_match=True)
    with pytest.raises(errors.PreconditionFailed):
        store.put_object(obj(b, "k", "e2"), if_none_match=True)
    with pytest.raises(errors.PreconditionFailed):
        store.put_object(obj(b, "k", "e3"), if_match='"nope"')
    store.put_object(obj(b, "k", "e4"), if_match='"e1"')
    with pytest.raises(errors.NoSuchKey):
        store.put_object(obj(b, "missing", "e5"), if_match='"e1"')
    wins: list[str] = []

    def race(tag: str) -> None:
        try:
            store.put_object(obj(b, "race", tag), if_none_match=True)
            wins.append(tag)
        except errors.PreconditionFailed:
            pass

    threads = [threading.Thread(target=race, args=(f"t{i}",)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_listing_order_prefix_and_start(store: MetadataStore, accounts: AccountStore) -> None:
    b = bucket(store, account(accounts))
    keys = ["a", "a/b", "a/c", "b", "\u00e9", "z", "~"]
    for k in keys:
        store.put_object(obj(b, k, paths=(k,)))
    assert [o.key for o in store.list_objects(b.id, "", "", True, 100)] == sorted(
        keys, key=str.encode
    )
    assert [o.key for o in store.list_objects(b.id, "a/", "", True, 100)] == ["a/b", "a/c"]
    assert [o.key for o in store.list_objects(b.id, "", "a/b", False, 2)] == ["a/c", "b"]
    assert [o.key for o in store.list_objects(b.id, "", "a/b", True, 1)] == ["a/b"]


def test_multipart_lifecycle(store: MetadataStore, accounts: AccountStore) -> None:
    b = bucket(store, account(accounts))
    up = Upload("u1", b.id, "k", time.time(), {}, {}, None, None)
    store.add_upload(up)
    for n in (1, 2, 3):
        store.put_part(Part("u1", n, 10, f"e{n}", time.time(), f"part{n}"))
    store.put_part(Part("u1", 2, 10, "e2b", time.time(), "part2b"))
    assert [p.etag for p in store.list_parts("u1", 0, 10)] == ["e1", "e2b", "e3"]
    assert [p.number for p in store.list_parts("u1", 1, 1)] == [2]
    assert [u.id for u in store.list_uploads(b.id, "", None, 10)] == ["u1"]
    meta = obj(b, "k", "etag-2", ("part1", "part2b"))
    store.complete_upload(up, meta, [1, 2])
    assert store.get_upload("u1") is None
    assert sorted(store.garbage(10)) == ["part2", "part3"]
    with pytest.raises(errors.NoSuchUpload):
        store.put_part(Part("u1", 4, 1, "e", time.time(), "late"))
    with pytest.raises(errors.NoSuchUpload):
        store.complete_upload(up, meta, [1])
    assert store.abort_upload("u1") is False
    assert store.blob_sizes() == {"part1": 1, "part2b": 1}  # as the object names them
    assert store.referenced_paths() == {"part1", "part2b", "part2", "part3"}


def test_access_keys_and_generation(store: MetadataStore, accounts: AccountStore) -> None:
    acc = account(accounts)
    b = bucket(store, acc)
    before = store.auth_generation()
    key = AccessKey(
        "NQAKaaaaaaaaaaaaaaaa", acc.id, "label", "active", time.time(), frozenset({b.id})
    )
    store.add_access_key(key, b"sealed")
    assert store.auth_generation() > before
    found = store.get_access_key(key.id)
    assert found == (key, b"sealed")
    assert store.list_access_keys(acc.id) == [key]
    assert store.bucket_names([b.id]) == {b.id: "bucket"}
    assert store.set_access_key_status(acc.id, key.id, "revoked") is True
    assert store.set_access_key_status("other-account", key.id, "active") is False
    revoked = store.get_access_key(key.id)
    assert revoked is not None and revoked[0].status == "revoked"
    store.remove_bucket(b.id)
    after = store.get_access_key(key.id)
    assert after is not None and after[0].bucket_ids == frozenset()
    assert store.remove_access_key(acc.id, key.id) is True
    assert store.get_access_key(key.id) is None
