"""The MetadataStore contract: every implementation passes these."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from nexq.accounts.port import AccountStore
from nexq.core.errors import QuotaExceeded
from nexq.core.identity import Account
from nexq.storage import errors
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import (
    AccessKey,
    Bucket,
    Counters,
    ObjectMeta,
    Part,
    Segment,
    Upload,
    UsageRow,
)
from nexq.storage.versions import Deletion


@pytest.fixture
def store(stores: tuple[MetadataStore, AccountStore]) -> MetadataStore:
    return stores[0]


@pytest.fixture
def accounts(stores: tuple[MetadataStore, AccountStore]) -> AccountStore:
    """The accounts the metadata store sees (the account store's own contract is elsewhere)."""
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
    assert store.delete_object(b.id, "k").removed
    assert not store.delete_object(b.id, "k").removed
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


def test_uploads_resume_where_their_order_left_off(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    # (key, id) is the whole order, whatever the times: ids carry the initiation time
    # (multipart.upload_id) and are unique, even for uploads begun in the same instant.
    for upload_id, key, initiated in [
        ("u3", "k", 1.0),
        ("u1", "k", 2.0),
        ("u2", "k", 1.0),
        ("u0", "j", 3.0),
        ("u9", "l", 0.0),
    ]:
        store.add_upload(Upload(upload_id, b.id, key, initiated, {}, {}, None, None))

    def ids(after: tuple[str, str | None] | None, limit: int = 10) -> list[str]:
        return [u.id for u in store.list_uploads(b.id, "", after, limit)]

    assert ids(None) == ["u0", "u1", "u2", "u3", "u9"]
    assert ids(("k", "u1"), 2) == ["u2", "u3"]
    assert ids(("k", "u15")) == ["u2", "u3", "u9"]  # a marker whose upload has ended
    assert ids(("k", None)) == ["u9"]  # after every upload of the key


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


def test_sealed_secrets_are_paged_and_replaced_only_if_unchanged(
    store: MetadataStore, accounts: AccountStore
) -> None:
    acc = account(accounts)
    for key_id in ("NQAKb", "NQAKa", "NQAKc"):
        store.add_access_key(
            AccessKey(key_id, acc.id, "l", "active", 1.0, None), b"old-" + key_id.encode()
        )
    store.add_access_key(
        AccessKey("NQAKi", acc.id, "presigned URLs", "active", 1.0, None), b"old-i", internal=True
    )
    assert store.sealed_secrets("", 2) == [("NQAKa", b"old-NQAKa"), ("NQAKb", b"old-NQAKb")]
    assert [k for k, _ in store.sealed_secrets("NQAKb", 10)] == ["NQAKc", "NQAKi"]
    generation = store.auth_generation()
    changes = [
        ("NQAKa", b"old-NQAKa", b"new-a"),
        ("NQAKb", b"stale", b"new-b"),
        ("NQAKx", b"", b"n"),
    ]
    assert store.replace_sealed_secrets(changes) == 1
    found = store.get_access_key("NQAKa")
    assert found is not None and found[1] == b"new-a"
    found = store.get_access_key("NQAKb")
    assert found is not None and found[1] == b"old-NQAKb"
    assert store.auth_generation() == generation  # same secrets: caches stay valid


def test_access_keys_list_by_creation_then_id(store: MetadataStore, accounts: AccountStore) -> None:
    acc = account(accounts)
    # The API's cursor is (created_at, id): keys made in the same instant must not swap.
    for key_id, created_at in [("NQAKc", 2.0), ("NQAKb", 1.0), ("NQAKz", 1.0), ("NQAKa", 1.0)]:
        store.add_access_key(AccessKey(key_id, acc.id, "l", "active", created_at, None), b"s")
    listed = [k.id for k in store.list_access_keys(acc.id)]
    assert listed == ["NQAKa", "NQAKb", "NQAKz", "NQAKc"]


def sized(b: Bucket, key: str, size: int, path: str | None = None) -> ObjectMeta:
    return ObjectMeta(
        b.id, key, size, "e", time.time(), {}, {}, {}, None, (Segment(path or key, size),)
    )


def test_account_counter_follows_every_write(store: MetadataStore, accounts: AccountStore) -> None:
    a, other = account(accounts, "a"), account(accounts, "o")
    b1, b2, b3 = bucket(store, a, "one"), bucket(store, a, "two"), bucket(store, other, "three")

    def check(objects: int, stored: int) -> None:
        per_bucket = [store.bucket_usage(b.id) for b in (b1, b2)]
        assert sum(n for n, _ in per_bucket) == objects
        assert sum(size for _, size in per_bucket) == stored
        assert store.stored_bytes(a.id) == stored
        assert store.account_usage(a.id) == (2, objects, stored)
        assert store.installation_usage() == (3, objects + 1, stored + 7)  # with other's z
        assert store.counter_drift() == []

    store.put_object(sized(b1, "x", 100))
    store.put_object(sized(b2, "y", 50))
    store.put_object(sized(b3, "z", 7))  # another account's bytes are not ours
    check(2, 150)
    store.put_object(sized(b1, "x", 30, "x2"))  # overwrite, smaller
    check(2, 80)
    store.put_object(sized(b2, "y", 500, "y2"))  # overwrite, larger
    check(2, 530)
    up = Upload("u1", b1.id, "x", time.time(), {}, {}, None, None)
    store.add_upload(up)
    store.put_part(Part("u1", 1, 40, "e1", time.time(), "part1"))
    store.put_part(Part("u1", 2, 60, "e2", time.time(), "part2"))
    check(2, 530)  # parts are not stored bytes until completed
    done = ObjectMeta(
        b1.id,
        "x",
        100,
        "e",
        time.time(),
        {},
        {},
        {},
        None,
        (Segment("part1", 40), Segment("part2", 60)),
        parts_count=2,
    )
    store.complete_upload(up, done, [1, 2])  # replaces the 30-byte x
    check(2, 600)
    assert store.delete_object(b2.id, "y").removed
    check(1, 100)
    assert not store.delete_object(b2.id, "y").removed
    check(1, 100)
    store.remove_bucket(b2.id)
    assert store.stored_bytes(a.id) == 100 and store.account_usage(a.id) == (1, 1, 100)
    assert store.stored_bytes(other.id) == 7
    assert store.stored_bytes("nobody") == 0


def test_storage_quota_is_exact_under_concurrent_writers(
    store: MetadataStore, accounts: AccountStore
) -> None:
    a = account(accounts)
    b1, b2 = bucket(store, a, "one"), bucket(store, a, "two")
    quota = 10 * 100
    refused: list[str] = []
    stored: list[str] = []

    def put(i: int) -> None:
        try:
            store.put_object(sized((b1, b2)[i % 2], f"k{i}", 100), quota=quota)
            stored.append(f"k{i}")
        except QuotaExceeded as exc:
            assert exc.limit == "storage_bytes"
            refused.append(f"k{i}")

    threads = [threading.Thread(target=put, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stored) == 10 and len(refused) == 22
    assert store.stored_bytes(a.id) == quota
    assert store.account_usage(a.id) == (2, 10, quota)
    key = stored[0]
    owner = b1 if int(key[1:]) % 2 == 0 else b2
    store.put_object(sized(owner, key, 60, "smaller"), quota=quota)  # shrinking always fits
    store.put_object(sized(owner, key, 100, "again"), quota=quota)  # and growing back to it
    with pytest.raises(QuotaExceeded):
        store.put_object(sized(owner, key, 101, "over"), quota=quota)
    final = store.get_object(owner.id, key)
    assert final is not None and final.size == 100
    assert store.stored_bytes(a.id) == quota and store.counter_drift() == []


def test_keys_order_as_utf8_bytes_not_utf16(store: MetadataStore, accounts: AccountStore) -> None:
    b = bucket(store, account(accounts))
    # UTF-16 would put the emoji (a surrogate pair) before U+E000 and U+FFFF; UTF-8 after.
    keys = ["\uffff", "\U0001f600", "\ue000", "a", "\U0010ffff/x", "\U0010ffff"]
    for k in keys:
        store.put_object(obj(b, k, paths=(k,)))
    listed = [o.key for o in store.list_objects(b.id, "", "", True, 100)]
    assert listed == ["a", "\ue000", "\uffff", "\U0001f600", "\U0010ffff", "\U0010ffff/x"]
    assert listed == sorted(keys, key=str.encode)
    # No string follows every key under this prefix: the listing runs to the end.
    under = store.list_objects(b.id, "\U0010ffff", "", True, 100)
    assert [o.key for o in under] == ["\U0010ffff", "\U0010ffff/x"]
    # A start before the prefix starts at the prefix.
    assert [o.key for o in store.list_objects(b.id, "\uffff", "a", False, 100)] == ["\uffff"]
    store.add_upload(Upload("u2", b.id, "\U0001f600", 1.0, {}, {}, None, None))
    store.add_upload(Upload("u1", b.id, "\uffff", 1.0, {}, {}, None, None))
    assert [u.id for u in store.list_uploads(b.id, "", None, 10)] == ["u1", "u2"]


def test_values_read_back_are_copies(store: MetadataStore, accounts: AccountStore) -> None:
    b = bucket(store, account(accounts))
    written = obj(b, "k")
    store.put_object(written)
    written.headers["content-type"] = "changed/after"
    read = store.get_object(b.id, "k")
    assert read is not None and read.headers == {"content-type": "x/y"}
    read.metadata["m"] = "changed"
    again = store.get_object(b.id, "k")
    assert again is not None and again.metadata == {"m": "v"}
    up = Upload("u1", b.id, "k", 1.0, {"content-type": "a/b"}, {}, None, None)
    store.add_upload(up)
    up.headers["content-type"] = "changed/after"
    found = store.get_upload("u1")
    assert found is not None and found.headers == {"content-type": "a/b"}


def test_a_write_into_a_deleted_bucket_is_refused(
    store: MetadataStore, accounts: AccountStore
) -> None:
    owner = account(accounts)
    b = bucket(store, owner)
    store.remove_bucket(b.id)
    with pytest.raises(errors.NoSuchBucket):
        store.put_object(obj(b, "k"))
    assert store.get_object(b.id, "k") is None
    assert store.bucket_usage(b.id) == (0, 0) and store.stored_bytes(owner.id) == 0


def test_unfinished_uploads_go_with_their_bucket(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    store.add_upload(Upload("u1", b.id, "k", 1.0, {}, {}, None, None))
    store.put_part(Part("u1", 1, 3, "e1", 1.0, "part1"))
    store.remove_bucket(b.id)  # as S3: uploads do not keep a bucket
    assert store.get_bucket("bucket") is None and store.bucket_names([b.id]) == {}
    assert store.get_upload("u1") is None and store.list_parts("u1", 0, 10) == []
    assert store.garbage(10) == ["part1"]


def test_a_refused_completion_leaves_the_upload(
    store: MetadataStore, accounts: AccountStore
) -> None:
    b = bucket(store, account(accounts))
    store.put_object(replace(sized(b, "k", 10), last_modified=1.0))
    up = Upload("u1", b.id, "k", 2.0, {}, {}, None, None)  # after the object was written
    store.add_upload(up)
    store.put_part(Part("u1", 1, 40, "e1", 2.0, "part1"))
    done = sized(b, "k", 40, "part1")
    with pytest.raises(errors.PreconditionFailed):
        store.complete_upload(up, done, [1], if_none_match=True)
    with pytest.raises(QuotaExceeded):
        store.complete_upload(up, done, [1], quota=39)  # replacing 10 bytes by 40
    assert store.get_upload("u1") == up
    assert [p.number for p in store.list_parts("u1", 0, 10)] == [1]
    current = store.get_object(b.id, "k")
    assert current is not None and current.size == 10 and store.garbage(10) == []
    store.complete_upload(up, done, [1], if_match='"e"', quota=40)
    assert store.stored_bytes(b.account_id) == 40 and store.garbage(10) == ["k"]


def test_an_object_deleted_during_an_upload_conflicts_with_its_if_none_match(
    store: MetadataStore, accounts: AccountStore
) -> None:
    """As S3: a Complete with If-None-Match after the key's object was deleted since the
    upload began is a conflict (409), though no object is there; an upload of another key,
    or one begun after the delete, completes."""
    b = bucket(store, account(accounts))
    store.put_object(sized(b, "k", 10))
    for upload_id, key in (("u1", "k"), ("u2", "other")):
        store.add_upload(Upload(upload_id, b.id, key, 2.0, {}, {}, None, None))
        store.put_part(Part(upload_id, 1, 40, "e1", 2.0, f"part-{upload_id}"))
    store.delete_object(b.id, "k")
    up = store.get_upload("u1")
    assert up is not None
    with pytest.raises(errors.ConditionalRequestConflict):
        store.complete_upload(up, sized(b, "k", 40, "part-u1"), [1], if_none_match=True)
    assert store.get_upload("u1") == up and store.get_object(b.id, "k") is None
    other = store.get_upload("u2")
    assert other is not None
    store.complete_upload(other, sized(b, "other", 40, "part-u2"), [1], if_none_match=True)
    store.add_upload(Upload("u3", b.id, "k", 3.0, {}, {}, None, None))
    store.put_part(Part("u3", 1, 40, "e1", 3.0, "part-u3"))
    later = store.get_upload("u3")
    assert later is not None
    store.complete_upload(later, sized(b, "k", 40, "part-u3"), [1], if_none_match=True)
    # Without the condition the first upload still completes (over the new object).
    store.complete_upload(up, sized(b, "k", 40, "part-u1"), [1])


def test_an_object_written_during_an_upload_conflicts_with_its_if_match(
    store: MetadataStore, accounts: AccountStore
) -> None:
    """As S3: a Complete with If-Match after the key was written since the upload began is a
    conflict (409), even when the ETag matches; the upload stays for a retry to decide."""
    b = bucket(store, account(accounts))
    up = Upload("u1", b.id, "k", 2.0, {}, {}, None, None)
    store.add_upload(up)
    store.put_part(Part("u1", 1, 40, "e1", 2.0, "part1"))
    store.put_object(replace(sized(b, "k", 10), last_modified=3.0))
    done = sized(b, "k", 40, "part1")
    with pytest.raises(errors.ConditionalRequestConflict):
        store.complete_upload(up, done, [1], if_match='"e"')
    assert store.get_upload("u1") == up
    current = store.get_object(b.id, "k")
    assert current is not None and current.size == 10


def test_used_bytes_count_the_parts_of_unfinished_uploads(
    store: MetadataStore, accounts: AccountStore
) -> None:
    a, other = account(accounts, "a"), account(accounts, "o")
    one, two, theirs = bucket(store, a, "one"), bucket(store, a, "two"), bucket(store, other, "t")
    store.put_object(sized(one, "x", 100))
    for upload_id, b in (("u1", one), ("u2", two), ("u3", theirs)):
        store.add_upload(Upload(upload_id, b.id, "x", 1.0, {}, {}, None, None))
    store.put_part(Part("u1", 1, 40, "e", 1.0, "u1-1"))
    store.put_part(Part("u1", 2, 60, "e", 1.0, "u1-2"))
    store.put_part(Part("u2", 1, 7, "e", 1.0, "u2-1"))
    store.put_part(Part("u3", 1, 1000, "e", 1.0, "u3-1"))  # another account's parts
    assert store.used_bytes(a.id, max_age=60.0) == 207 and store.used_bytes(other.id) == 1000
    assert store.stored_bytes(a.id) == 100  # parts are not stored bytes
    store.put_part(Part("u1", 2, 10, "e", 1.0, "u1-2b"))  # a replaced part counts once
    assert store.used_bytes(a.id) == 157  # read now, whatever was remembered
    with pytest.raises(QuotaExceeded) as refused:
        store.put_part(Part("u2", 2, 44, "e", 1.0, "u2-2"), quota=200)  # 201
    assert refused.value.limit == "storage_bytes"
    assert [p.number for p in store.list_parts("u2", 0, 10)] == [1]
    assert store.garbage(10) == ["u1-2"] and store.used_bytes(a.id) == 157
    store.put_part(Part("u2", 2, 43, "e", 1.0, "u2-2"), quota=200)  # exactly at the quota
    with pytest.raises(QuotaExceeded):  # a replacement counts what it adds: 1 byte here
        store.put_part(Part("u1", 1, 41, "e", 1.0, "u1-1b"), quota=200)
    store.put_part(Part("u1", 1, 40, "e", 1.0, "u1-1c"), quota=200)  # adds nothing: fits
    store.put_part(Part("u1", 1, 30, "e", 1.0, "u1-1d"), quota=150)  # shrinking always fits
    assert store.used_bytes(a.id) == 190
    [first] = store.list_parts("u1", 0, 1)
    assert (first.size, first.path) == (30, "u1-1d")
    # A completion turns parts into stored bytes; an abort and a deleted bucket free them.
    done = ObjectMeta(
        one.id, "x", 40, "e", 1.0, {}, {}, {}, None, (Segment("u1-1d", 30), Segment("u1-2b", 10))
    )
    store.complete_upload(Upload("u1", one.id, "x", 1.0, {}, {}, None, None), done, [1, 2])
    assert store.stored_bytes(a.id) == 40 and store.used_bytes(a.id) == 40 + 50
    assert store.abort_upload("u2") and store.used_bytes(a.id) == 40
    store.add_upload(Upload("u4", two.id, "y", 1.0, {}, {}, None, None))
    store.put_part(Part("u4", 1, 5, "e", 1.0, "u4-1"), quota=45)
    store.remove_bucket(two.id)
    assert store.used_bytes(a.id) == 40 and store.used_bytes(other.id) == 1000
    assert store.used_bytes("nobody") == 0


def test_parts_fill_the_quota_exactly_under_concurrent_writers(
    store: MetadataStore, accounts: AccountStore
) -> None:
    a = account(accounts)
    b = bucket(store, a)
    store.put_object(sized(b, "k", 300))
    for upload_id in ("u1", "u2"):
        store.add_upload(Upload(upload_id, b.id, "k", 1.0, {}, {}, None, None))
    stored: list[int] = []

    def put(i: int) -> None:
        try:
            store.put_part(Part(f"u{1 + i % 2}", 1 + i, 100, "e", 1.0, f"p{i}"), quota=1000)
            stored.append(i)
        except QuotaExceeded:
            pass

    threads = [threading.Thread(target=put, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stored) == 7 and store.used_bytes(a.id) == 1000
    held = store.list_parts("u1", 0, 100) + store.list_parts("u2", 0, 100)
    assert sorted(p.path for p in held) == sorted(f"p{i}" for i in stored)


def test_grants_name_buckets_of_the_key_account(
    store: MetadataStore, accounts: AccountStore
) -> None:
    a, other = account(accounts, "a"), account(accounts, "o")
    mine, theirs = bucket(store, a, "mine"), bucket(store, other, "theirs")
    gone = bucket(store, a, "gone")
    store.remove_bucket(gone.id)  # deleted after the caller looked it up
    for granted in ({gone.id}, {mine.id, theirs.id}):
        key = AccessKey("NQAKaaaaaaaaaaaaaaaa", a.id, "l", "active", 1.0, frozenset(granted))
        with pytest.raises(errors.NoSuchBucket):
            store.add_access_key(key, b"s")
        assert store.get_access_key(key.id) is None
    ok = AccessKey("NQAKaaaaaaaaaaaaaaaa", a.id, "l", "active", 1.0, frozenset({mine.id}))
    store.add_access_key(ok, b"s")
    assert store.list_access_keys(a.id) == [ok]


def test_a_bucket_is_added_with_its_versioning_and_first_settings_at_once(
    store: MetadataStore, accounts: AccountStore
) -> None:
    a = account(accounts, "a")
    made = Bucket("b1", "locked", a.id, 1.0, versioning="Enabled")
    store.add_bucket(made, settings={"public-access": '{"all":true}', "lock": "{}"})
    assert store.get_bucket("locked") == made
    assert store.bucket_setting("b1", "public-access") == '{"all":true}'
    assert store.bucket_setting("b1", "lock") == "{}"
    # Refused (a taken name): neither the bucket nor any of its settings is stored.
    with pytest.raises(errors.BucketAlreadyOwnedByYou):
        store.add_bucket(Bucket("b2", "locked", a.id, 1.0), settings={"cors": "<x/>"})
    assert store.bucket_setting("b2", "cors") is None


def test_bucket_and_access_key_limits(store: MetadataStore, accounts: AccountStore) -> None:
    a, other = account(accounts, "a"), account(accounts, "o")
    store.add_bucket(Bucket("b1", "one", a.id, 1.0), max_buckets=2)
    store.add_bucket(Bucket("b2", "two", a.id, 1.0), max_buckets=2)
    store.add_bucket(Bucket("b3", "three", other.id, 1.0), max_buckets=1)  # counted apart
    with pytest.raises(QuotaExceeded) as refused:
        store.add_bucket(Bucket("b4", "four", a.id, 1.0), max_buckets=2)
    assert refused.value.limit == "buckets" and store.get_bucket("four") is None
    store.add_access_key(AccessKey("NQAK1", a.id, "l", "revoked", 1.0, None), b"s", max_keys=1)
    # The internal key is never counted, and never refused for the others.
    store.add_access_key(
        AccessKey("NQAKi", a.id, "presigned URLs", "active", 1.0, None), b"i", internal=True
    )
    with pytest.raises(QuotaExceeded) as refused:
        store.add_access_key(AccessKey("NQAK2", a.id, "l", "active", 1.0, None), b"s", max_keys=1)
    assert refused.value.limit == "access_keys" and store.get_access_key("NQAK2") is None
    store.add_access_key(AccessKey("NQAK3", other.id, "l", "active", 1.0, None), b"s", max_keys=1)


def test_the_internal_key_is_only_replaced_whole(
    store: MetadataStore, accounts: AccountStore
) -> None:
    a, other = account(accounts, "a"), account(accounts, "o")
    internal = AccessKey("NQAKi", a.id, "presigned URLs", "active", 1.0, None)
    store.add_access_key(internal, b"sealed-i", internal=True)
    store.add_access_key(AccessKey("NQAKk", a.id, "l", "active", 1.0, None), b"s")
    assert store.internal_access_key(a.id) == (internal, b"sealed-i")
    assert store.internal_access_key(other.id) is None
    assert [k.id for k in store.list_access_keys(a.id)] == ["NQAKk"]
    assert store.get_access_key("NQAKi") == (internal, b"sealed-i")  # it signs requests
    assert store.set_access_key_status(a.id, "NQAKi", "revoked") is False
    assert store.remove_access_key(a.id, "NQAKi") is False
    before = store.auth_generation()
    assert store.remove_internal_access_keys(other.id) == 0
    assert store.remove_internal_access_keys(a.id) == 1
    assert store.auth_generation() > before
    assert store.internal_access_key(a.id) is None and store.get_access_key("NQAKi") is None
    assert store.get_access_key("NQAKk") is not None


def test_the_auth_generation_moves_with_buckets_and_keys_only(
    store: MetadataStore, accounts: AccountStore
) -> None:
    a = account(accounts)
    seen = [store.auth_generation()]

    def moved() -> bool:
        seen.append(store.auth_generation())
        return seen[-1] > seen[-2]

    b = bucket(store, a)
    assert moved()
    store.put_object(obj(b, "k"))
    store.delete_object(b.id, "k")
    assert not moved()  # objects are not credentials
    store.add_access_key(AccessKey("NQAKk", a.id, "l", "active", 1.0, frozenset({b.id})), b"s")
    assert moved()
    store.set_access_key_status(a.id, "NQAKk", "revoked")
    assert moved()
    store.remove_access_key(a.id, "NQAKk")
    assert moved()
    store.remove_bucket(b.id)
    assert moved()


def test_usage_is_added_to_not_set(store: MetadataStore, accounts: AccountStore) -> None:
    a, other = account(accounts, "a"), account(accounts, "o")
    first = Counters(data_in=10, class_a=1)
    store.add_usage(
        [
            UsageRow(a.id, 101, "b1", "one", first),
            UsageRow(a.id, 100, "b2", "two", Counters(data_out=5, class_b=2)),
            UsageRow(a.id, 100, "b1", "one", Counters(other=1)),
            UsageRow(other.id, 100, "b9", "theirs", Counters(class_a=9)),
        ]
    )
    store.add_usage([UsageRow(a.id, 101, "b1", "one", first)])  # another process's count
    store.add_usage([])
    assert store.usage_rows(a.id, 100, 102) == [
        ("one", 100, Counters(other=1)),
        ("two", 100, Counters(data_out=5, class_b=2)),
        ("one", 101, Counters(data_in=20, class_a=2)),
    ]
    assert store.usage_rows(a.id, 101, 102) == [("one", 101, Counters(data_in=20, class_a=2))]
    assert store.usage_rows(a.id, 100, 101) == store.usage_rows(a.id, 100, 102)[:2]
    assert store.usage_rows(other.id, 0, 1000) == [("theirs", 100, Counters(class_a=9))]


def test_counters_that_agree_need_no_recount(store: MetadataStore, accounts: AccountStore) -> None:
    b = bucket(store, account(accounts))
    store.put_object(sized(b, "x", 5))
    assert store.counter_drift() == []
    assert store.recount() == []
    assert store.bucket_usage(b.id) == (1, 5) and store.stored_bytes(b.account_id) == 5


def test_many_keys_are_deleted_at_once(store: MetadataStore, accounts: AccountStore) -> None:
    a = account(accounts)
    b = bucket(store, a)
    for key, size in (("x", 10), ("y ü\n%", 20), ("z", 30)):
        store.put_object(sized(b, key, size))
    deleted = store.delete_objects(
        b.id, [Deletion("x"), Deletion("missing"), Deletion("y ü\n%"), Deletion("x")]
    )
    assert [d.removed for d in deleted] == [True, False, True, False]  # once, if named twice
    assert [o.key for o in store.list_objects(b.id, "", "", True, 10)] == ["z"]
    assert store.bucket_usage(b.id) == (1, 30)
    assert store.stored_bytes(a.id) == 30
    assert sorted(store.garbage(10)) == ["x", "y ü\n%"]
    assert store.counter_drift() == []
    assert store.delete_objects(b.id, []) == []
    assert [d.removed for d in store.delete_objects(b.id, [Deletion("x")])] == [False]


def test_a_segment_keeps_its_part_checksum(store: MetadataStore, accounts: AccountStore) -> None:
    b = bucket(store, account(accounts))
    meta = ObjectMeta(
        b.id,
        "k",
        3,
        "e-2",
        time.time(),
        {},
        {},
        {"SHA256": "c29tZQ==-2"},
        "COMPOSITE",
        (Segment("p1", 1, "AAAA"), Segment("p2", 2)),
        parts_count=2,
    )
    store.put_object(meta)
    assert store.get_object(b.id, "k") == meta
    assert store.blob_sizes() == {"p1": 1, "p2": 2}
    assert store.delete_object(b.id, "k").removed
    assert sorted(store.garbage(10)) == ["p1", "p2"]
