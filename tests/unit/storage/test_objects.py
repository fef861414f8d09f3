"""Objects: writes that are all or nothing, conditional puts, the storage quota, reads,
copies and listings, through ObjectStorage on the in-memory stores."""

from __future__ import annotations

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from nexq.core.errors import QuotaExceeded
from nexq.storage.blobs.inline import INLINE_MAX
from nexq.storage.conditions import Conditions
from nexq.storage.errors import (
    AccessDenied,
    BadDigest,
    InvalidArgument,
    KeyTooLong,
    MetadataTooLarge,
    NoSuchKey,
    NotModified,
    PreconditionFailed,
)
from nexq.storage.model import AccessKey
from nexq.storage.service import NewContent
from tests.unit.storage.conftest import Storage, md5_b64


@pytest.fixture
def owner(storage: Storage) -> AccessKey:
    caller = storage.caller()
    storage.bucket(caller, "objects")
    return caller


def test_an_object_reads_back_with_its_etag_and_headers(storage: Storage, owner: AccessKey) -> None:
    content = NewContent({"content-type": "text/plain"}, {"colour": "blue"})
    meta = storage.put(owner, "objects", "dir/file.txt", b"hello", content)
    assert meta.etag == hashlib.md5(b"hello").hexdigest() and meta.size == 5
    assert storage.read(owner, "objects", "dir/file.txt") == b"hello"
    head = storage.objects.head_object(owner, "objects", "dir/file.txt", Conditions())
    assert head.headers == {"content-type": "text/plain"} and head.metadata == {"colour": "blue"}


@pytest.mark.parametrize(
    ("key", "content", "error"),
    [
        ("", NewContent({}, {}), InvalidArgument),
        ("nul\x00", NewContent({}, {}), InvalidArgument),
        ("k" * 1025, NewContent({}, {}), KeyTooLong),
        ("k", NewContent({}, {"big": "x" * 2048}), MetadataTooLarge),
        # A name no header can carry (a value can: S3 answers it RFC 2047-encoded).
        ("k", NewContent({}, {"li\nne": "b"}), InvalidArgument),
        ("k", NewContent({}, {}, content_md5=md5_b64(b"other")), BadDigest),
    ],
)
def test_a_refused_write_stores_nothing(
    storage: Storage, owner: AccessKey, key: str, content: NewContent, error: type[Exception]
) -> None:
    with pytest.raises(error):
        storage.put(owner, "objects", key, b"body", content)
    assert (
        storage.store.list_objects(storage.objects.bucket(owner, "objects").id, "", "", True, 9)
        == []
    )
    assert storage.stray_blobs() == set()


def test_a_matching_content_md5_is_accepted(storage: Storage, owner: AccessKey) -> None:
    storage.put(owner, "objects", "k", b"body", NewContent({}, {}, content_md5=md5_b64(b"body")))
    assert storage.read(owner, "objects", "k") == b"body"


def test_conditional_puts(storage: Storage, owner: AccessKey) -> None:
    first = storage.put(owner, "objects", "k", b"one", NewContent({}, {}, if_none_match=True))
    with pytest.raises(PreconditionFailed):
        storage.put(owner, "objects", "k", b"two", NewContent({}, {}, if_none_match=True))
    with pytest.raises(PreconditionFailed):
        storage.put(owner, "objects", "k", b"two", NewContent({}, {}, if_match='"0000"'))
    with pytest.raises(NoSuchKey):
        storage.put(owner, "objects", "new", b"two", NewContent({}, {}, if_match=first.etag))
    assert storage.read(owner, "objects", "k") == b"one"
    assert storage.stray_blobs() == set()  # the refused bodies' blobs are gone
    storage.put(owner, "objects", "k", b"three", NewContent({}, {}, if_match=f'"{first.etag}"'))
    assert storage.read(owner, "objects", "k") == b"three"


def test_only_one_of_racing_create_only_puts_wins(storage: Storage, owner: AccessKey) -> None:
    def put(i: int) -> bool:
        try:
            storage.put(owner, "objects", "race", b"%d" % i, NewContent({}, {}, if_none_match=True))
        except PreconditionFailed:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(put, range(16)))
    assert wins.count(True) == 1
    assert storage.stray_blobs() == set()


def test_the_storage_quota_is_refused_exactly(storage: Storage, owner: AccessKey) -> None:
    storage.limits.values["storage_bytes"] = 10
    storage.put(owner, "objects", "a", b"x" * 6)
    storage.put(owner, "objects", "b", b"x" * 4)  # exactly the quota
    with pytest.raises(QuotaExceeded) as refused:
        storage.put(owner, "objects", "c", b"x")
    assert refused.value.limit == "storage_bytes"
    assert storage.stray_blobs() == set()
    storage.put(owner, "objects", "a", b"x" * 5)  # shrinking fits
    storage.put(owner, "objects", "c", b"x")  # and the byte freed is usable
    with pytest.raises(QuotaExceeded):
        storage.put(owner, "objects", "a", b"x" * 6)  # growing back over it is not
    assert storage.store.stored_bytes("acc-a") == 10


def test_check_room_refuses_before_any_byte_and_counts_the_replaced_object(
    storage: Storage, owner: AccessKey
) -> None:
    storage.limits.values["storage_bytes"] = 10
    storage.put(owner, "objects", "a", b"x" * 8)
    storage.objects.check_room(owner, "objects", 2)
    with pytest.raises(QuotaExceeded):
        storage.objects.check_room(owner, "objects", 3)
    storage.objects.check_room(owner, "objects", 10, key="a")  # replaces a's 8 bytes
    with pytest.raises(QuotaExceeded):
        storage.objects.check_room(owner, "objects", 11, key="a")


@pytest.mark.blob_files
def test_an_overwrite_leaves_the_old_blob_as_garbage(storage: Storage, owner: AccessKey) -> None:
    old = storage.put(owner, "objects", "k", b"old")
    storage.put(owner, "objects", "k", b"new")
    assert storage.store.garbage(10) == [old.segments[0].path]


def test_conditional_reads(storage: Storage, owner: AccessKey) -> None:
    meta = storage.put(owner, "objects", "k", b"x")
    with pytest.raises(NotModified):
        storage.objects.head_object(owner, "objects", "k", Conditions(if_none_match=meta.etag))
    with pytest.raises(PreconditionFailed):
        storage.objects.head_object(owner, "objects", "k", Conditions(if_match='"other"'))
    with pytest.raises(NoSuchKey):
        storage.objects.head_object(owner, "objects", "missing", Conditions())


def test_an_open_object_reads_whole_after_it_is_overwritten(
    storage: Storage, owner: AccessKey
) -> None:
    storage.put(owner, "objects", "k", b"first version")
    opened = storage.objects.open_object(owner, "objects", "k", Conditions())
    storage.put(owner, "objects", "k", b"second")
    storage.blobs.delete(storage.store.garbage(10))  # the janitor passes
    assert b"".join(opened.chunks()) == b"first version"
    assert storage.read(owner, "objects", "k") == b"second"


def test_copy_keeps_or_replaces_the_metadata(storage: Storage, owner: AccessKey) -> None:
    storage.put(
        owner, "objects", "src", b"payload", NewContent({"content-type": "a/b"}, {"m": "1"})
    )
    kept, _ = storage.objects.copy_object(
        owner, ("objects", "src", None), ("objects", "kept"), Conditions(), None, NewContent({}, {})
    )
    replaced, source = storage.objects.copy_object(
        owner,
        ("objects", "src", None),
        ("objects", "replaced"),
        Conditions(),
        NewContent({"content-type": "c/d"}, {}),
        NewContent({}, {}),
    )
    assert kept.headers == {"content-type": "a/b"} and kept.metadata == {"m": "1"}
    assert source.key == "src" and source.version_id is None
    assert replaced.headers == {"content-type": "c/d"} and replaced.metadata == {}
    assert storage.read(owner, "objects", "replaced") == b"payload"
    assert kept.etag == replaced.etag == hashlib.md5(b"payload").hexdigest()
    with pytest.raises(PreconditionFailed):  # a copy answers 412, never 304
        storage.objects.copy_object(
            owner,
            ("objects", "src", None),
            ("objects", "x"),
            Conditions(if_none_match=kept.etag),
            None,
            NewContent({}, {}),
        )


def test_a_copy_needs_access_to_the_source(storage: Storage, owner: AccessKey) -> None:
    storage.put(owner, "objects", "src", b"payload")
    stranger = storage.caller("acc-b")
    storage.bucket(stranger, "strangers")
    with pytest.raises(AccessDenied):
        storage.objects.copy_object(
            stranger,
            ("objects", "src", None),
            ("strangers", "stolen"),
            Conditions(),
            None,
            NewContent({}, {}),
        )
    assert not storage.objects.delete_object(stranger, "strangers", "stolen").removed
    assert storage.stray_blobs() == set()


def test_delete_reports_whether_the_key_existed(storage: Storage, owner: AccessKey) -> None:
    storage.put(owner, "objects", "k", b"x")
    assert storage.objects.delete_object(owner, "objects", "k").removed
    assert not storage.objects.delete_object(owner, "objects", "k").removed
    storage.put(owner, "objects", "a", b"x")
    outcomes = storage.objects.delete_objects(
        owner, "objects", [("a", None), ("", None), ("missing", None)]
    )
    assert [
        (key, type(done).__name__ if isinstance(done, Exception) else done.removed)
        for key, done in outcomes
    ] == [("a", True), ("", "InvalidArgument"), ("missing", False)]


def test_listing_rolls_up_prefixes_and_pages(storage: Storage, owner: AccessKey) -> None:
    for key in ["a/1", "a/2", "b", "c/1", "d"]:
        storage.put(owner, "objects", key, b"x")
    page = storage.objects.list_objects(owner, "objects", "", "/", None, 3)
    assert [o.key for o in page.objects] == ["b"]
    assert page.common_prefixes == ["a/", "c/"]
    assert page.is_truncated and page.next_marker == "c/"
    rest = storage.objects.list_objects(owner, "objects", "", "/", page.next_marker, 3)
    assert [o.key for o in rest.objects] == ["d"] and not rest.is_truncated
    under = storage.objects.list_objects(owner, "objects", "a/", "", None, 10)
    assert [o.key for o in under.objects] == ["a/1", "a/2"]


def test_a_small_object_lives_in_its_row_and_leaves_no_garbage(
    storage: Storage, owner: AccessKey
) -> None:
    old = storage.put(owner, "objects", "small", b"old")
    assert old.segments[0].path.startswith("inline:")
    # Sealed like any blob: the plaintext is not in the row.
    assert b"old" not in base64.b64decode(old.segments[0].path.removeprefix("inline:"))
    storage.put(owner, "objects", "small", b"new")
    assert storage.store.garbage(10) == []
    assert storage.store.blob_sizes() == {}
    big = storage.put(owner, "objects", "big", b"x" * (INLINE_MAX + 1))
    assert not big.segments[0].path.startswith("inline:")
    assert storage.store.blob_sizes() == {big.segments[0].path: INLINE_MAX + 1}
