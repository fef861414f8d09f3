"""Multipart uploads: part numbers, S3's completion rules, quotas and conditions at the end,
abort, and the garbage left for the janitor — through Multipart on the in-memory stores."""

from __future__ import annotations

import hashlib

import pytest

from nexq.core.errors import QuotaExceeded
from nexq.storage import multipart
from nexq.storage.checksums import new_hasher
from nexq.storage.conditions import Conditions
from nexq.storage.errors import (
    AccessDenied,
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    NoSuchUpload,
    PreconditionFailed,
)
from nexq.storage.model import MIN_PART_BYTES, AccessKey, Part, Upload
from nexq.storage.multipart import CompletedPart
from nexq.storage.service import NewContent
from tests.unit.storage.conftest import Storage

BIG = b"a" * MIN_PART_BYTES  # the smallest part that may be followed by another


@pytest.fixture
def owner(storage: Storage) -> AccessKey:
    caller = storage.caller()
    storage.bucket(caller, "uploads")
    return caller


def start(storage: Storage, caller: AccessKey, key: str = "big") -> Upload:
    return storage.multipart.create(caller, "uploads", key, {"content-type": "x/y"}, {}, None, None)


def part(storage: Storage, caller: AccessKey, upload: Upload, number: int, data: bytes) -> Part:
    body = storage.objects.receive()
    body.write(data)
    return storage.multipart.upload_part(
        caller, "uploads", upload.key, upload.id, number, body, None, {}
    )


def completed(*parts: Part) -> list[CompletedPart]:
    return [CompletedPart(p.number, f'"{p.etag}"', {}) for p in parts]


def complete(
    storage: Storage,
    caller: AccessKey,
    upload: Upload,
    parts: list[CompletedPart],
    conditions: NewContent | None = None,
) -> None:
    storage.multipart.complete(
        caller, "uploads", upload.key, upload.id, parts, conditions or NewContent({}, {})
    )


@pytest.mark.blob_files
def test_completion_stitches_the_named_parts_in_order(storage: Storage, owner: AccessKey) -> None:
    upload = start(storage, owner)
    one = part(storage, owner, upload, 1, BIG)
    unused = part(storage, owner, upload, 2, b"never named")
    three = part(storage, owner, upload, 3, b"tail")
    complete(storage, owner, upload, completed(one, three))
    assert storage.read(owner, "uploads", "big") == BIG + b"tail"
    meta = storage.objects.head_object(owner, "uploads", "big", Conditions())
    digests = bytes.fromhex(one.etag) + bytes.fromhex(three.etag)
    assert meta.etag == f"{hashlib.md5(digests).hexdigest()}-2"
    assert meta.parts_count == 2 and meta.headers == {"content-type": "x/y"}
    assert storage.store.get_upload(upload.id) is None
    assert storage.store.garbage(10) == [unused.path]  # unnamed parts are left to the janitor
    with pytest.raises(NoSuchUpload):  # completed: only a retry of that completion is answered
        complete(storage, owner, upload, completed(one))


def test_part_numbers_are_1_to_10000(storage: Storage, owner: AccessKey) -> None:
    upload = start(storage, owner)
    for number in (0, 10_001):
        with pytest.raises(InvalidArgument):
            part(storage, owner, upload, number, b"x")
    part(storage, owner, upload, 10_000, b"x")
    assert [p.number for p in storage.store.list_parts(upload.id, 0, 10)] == [10_000]
    assert storage.stray_blobs() == set()


@pytest.mark.blob_files
def test_a_part_uploaded_again_replaces_the_first(storage: Storage, owner: AccessKey) -> None:
    upload = start(storage, owner)
    first = part(storage, owner, upload, 1, b"first")
    again = part(storage, owner, upload, 1, b"again")
    _, parts, truncated = storage.multipart.list_parts(owner, "uploads", "big", upload.id, 0, 10)
    assert [p.etag for p in parts] == [again.etag] and not truncated
    assert storage.store.garbage(10) == [first.path]
    with pytest.raises(InvalidPart):  # the first one's ETag names nothing now
        complete(storage, owner, upload, completed(first))


@pytest.mark.parametrize(
    ("named", "error"),
    [
        ([], InvalidArgument),
        ([(2, None), (1, None)], InvalidPartOrder),
        ([(1, None), (1, None)], InvalidPartOrder),
        ([(1, None), (3, '"' + "0" * 32 + '"')], InvalidPart),  # never uploaded
        ([(1, '"0123456789abcdef0123456789abcdef"')], InvalidPart),  # another ETag
    ],
)
def test_completion_follows_s3s_rules(
    storage: Storage,
    owner: AccessKey,
    named: list[tuple[int, str | None]],
    error: type[Exception],
) -> None:
    upload = start(storage, owner)
    parts = {n: part(storage, owner, upload, n, BIG) for n in (1, 2)}
    wanted = [CompletedPart(n, etag or parts[n].etag, {}) for n, etag in named]
    with pytest.raises(error):
        complete(storage, owner, upload, wanted)
    assert storage.store.get_upload(upload.id) is not None  # still there to finish


def test_only_the_last_part_may_be_small(storage: Storage, owner: AccessKey) -> None:
    upload = start(storage, owner)
    small = part(storage, owner, upload, 1, b"x" * (MIN_PART_BYTES - 1))
    last = part(storage, owner, upload, 2, b"y")
    with pytest.raises(EntityTooSmall):
        complete(storage, owner, upload, completed(small, last))
    complete(storage, owner, upload, completed(small))  # alone, it is the last
    assert storage.read(owner, "uploads", "big") == b"x" * (MIN_PART_BYTES - 1)


def test_a_part_checksum_named_at_completion_must_match(storage: Storage, owner: AccessKey) -> None:
    upload = storage.multipart.create(owner, "uploads", "k", {}, {}, "crc32", None)
    assert (upload.checksum_algorithm, upload.checksum_type) == ("CRC32", "COMPOSITE")
    body = storage.objects.receive(["CRC32"])
    body.write(b"data")
    one = storage.multipart.upload_part(owner, "uploads", "k", upload.id, 1, body, None, {})
    crc = new_hasher("CRC32")
    crc.update(b"data")
    assert one.checksums == {"CRC32": crc.digest_b64()}
    with pytest.raises(InvalidPart):
        complete(storage, owner, upload, [CompletedPart(1, one.etag, {"crc32": "AAAAAA=="})])
    complete(storage, owner, upload, [CompletedPart(1, one.etag, {"crc32": crc.digest_b64()})])
    meta = storage.objects.head_object(owner, "uploads", "k", Conditions())
    assert meta.checksums["CRC32"].endswith("-1") and meta.checksum_type == "COMPOSITE"


@pytest.mark.parametrize(
    ("algorithm", "kind"), [("MD5", None), ("SHA256", "FULL_OBJECT"), ("crc", None)]
)
def test_checksum_choices_outside_s3s_are_refused(
    storage: Storage, owner: AccessKey, algorithm: str, kind: str | None
) -> None:
    with pytest.raises(InvalidArgument):
        storage.multipart.create(owner, "uploads", "k", {}, {}, algorithm, kind)
    assert (
        storage.store.list_uploads(storage.objects.bucket(owner, "uploads").id, "", None, 5) == []
    )


def test_completion_is_refused_by_the_quota_and_conditions_exactly(
    storage: Storage, owner: AccessKey
) -> None:
    storage.put(owner, "uploads", "big", b"12345")
    upload = start(storage, owner)
    one = part(storage, owner, upload, 1, BIG)
    four = part(storage, owner, upload, 2, b"1234")
    # Lowered once the parts are in (as a tier change can): the completion checks again.
    storage.limits.values["storage_bytes"] = MIN_PART_BYTES + 3
    with pytest.raises(QuotaExceeded):  # it replaces 5 bytes: MIN + 4 would be one too many
        complete(storage, owner, upload, completed(one, four))
    with pytest.raises(PreconditionFailed):
        complete(storage, owner, upload, completed(one), NewContent({}, {}, if_none_match=True))
    assert storage.read(owner, "uploads", "big") == b"12345"
    three = part(storage, owner, upload, 2, b"123")
    current = storage.objects.head_object(owner, "uploads", "big", Conditions())
    complete(storage, owner, upload, completed(one, three), NewContent({}, {}, current.etag))
    assert storage.store.stored_bytes("acc-a") == MIN_PART_BYTES + 3


def test_parts_count_toward_the_quota_until_the_upload_ends(
    storage: Storage, owner: AccessKey
) -> None:
    storage.put(owner, "uploads", "stored", b"12345")
    storage.limits.values["storage_bytes"] = 2 * MIN_PART_BYTES + 5
    upload = start(storage, owner)
    one = part(storage, owner, upload, 1, BIG)
    part(storage, owner, upload, 2, BIG)  # exactly at the quota now
    with pytest.raises(QuotaExceeded):  # the pre-check, before the body is read
        storage.multipart.check_part_room(owner, "uploads", upload, 3, 1)
    with pytest.raises(QuotaExceeded):  # and storing it, exactly
        part(storage, owner, upload, 3, b"x")
    with pytest.raises(QuotaExceeded):  # another upload's parts count too
        storage.objects.check_room(owner, "uploads", 1, "new")
    with pytest.raises(QuotaExceeded):  # at the quota, no upload starts
        start(storage, owner, "other")
    # A part sent again counts once: the same size fits, one byte more does not.
    storage.multipart.check_part_room(owner, "uploads", upload, 1, MIN_PART_BYTES)
    with pytest.raises(QuotaExceeded):
        storage.multipart.check_part_room(owner, "uploads", upload, 1, MIN_PART_BYTES + 1)
    again = part(storage, owner, upload, 1, b"b" * MIN_PART_BYTES)
    assert storage.stray_blobs() == set()  # nothing of the refused part was kept
    assert storage.store.garbage(10) == [one.path]  # the replaced part's, for the janitor
    storage.multipart.abort(owner, "uploads", "big", upload.id)  # room again
    assert again.path in storage.store.garbage(10)
    other = start(storage, owner, "other")
    part(storage, owner, other, 1, BIG)


@pytest.mark.blob_files
def test_abort_ends_the_upload_and_drops_its_parts(storage: Storage, owner: AccessKey) -> None:
    upload = start(storage, owner)
    one = part(storage, owner, upload, 1, b"x")
    storage.multipart.abort(owner, "uploads", "big", upload.id)
    assert storage.store.garbage(10) == [one.path]
    with pytest.raises(NoSuchUpload):
        storage.multipart.abort(owner, "uploads", "big", upload.id)
    with pytest.raises(NoSuchUpload):
        part(storage, owner, upload, 2, b"late")
    assert storage.stray_blobs() == set()  # the late part's blob went with the refusal


def test_an_upload_is_reached_only_through_its_bucket_and_key(
    storage: Storage, owner: AccessKey
) -> None:
    upload = start(storage, owner)
    with pytest.raises(NoSuchUpload):
        storage.multipart.upload(owner, "uploads", "other-key", upload.id)
    stranger = storage.caller("acc-b")
    storage.bucket(stranger, "strangers")
    with pytest.raises(NoSuchUpload):
        storage.multipart.upload(stranger, "strangers", "big", upload.id)
    with pytest.raises(AccessDenied):
        storage.multipart.upload(stranger, "uploads", "big", upload.id)


def test_uploads_list_by_key_then_initiation(storage: Storage, owner: AccessKey) -> None:
    made = [start(storage, owner, key) for key in ("b", "a", "b", "c")]
    page, truncated = storage.multipart.list_uploads(owner, "uploads", "", None, 3)
    assert [(u.key, u.id) for u in page] == [
        ("a", made[1].id),
        ("b", made[0].id),
        ("b", made[2].id),
    ]
    assert truncated
    rest, truncated = storage.multipart.list_uploads(owner, "uploads", "", ("b", None), 3)
    assert [u.id for u in rest] == [made[3].id] and not truncated


def test_uploads_grouped_by_a_delimiter_across_the_stores_pages(
    storage: Storage, owner: AccessKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Common prefixes are entries of the page, each once however many store pages its
    uploads span (two uploads a store page here)."""
    monkeypatch.setattr(multipart, "_GROUPING_BATCH", 2)
    for key in ("a/1", "a/2", "a/3", "b", "c/1", "c/2", "d"):
        start(storage, owner, key)
    page = storage.multipart.list_uploads_grouped(owner, "uploads", "", "/", None, 3)
    assert (page.prefixes, [u.key for u in page.uploads]) == (["a/", "c/"], ["b"])
    assert page.truncated and page.last == ("c/", "")
    rest = storage.multipart.list_uploads_grouped(owner, "uploads", "", "/", ("c/", None), 3)
    assert (rest.prefixes, [u.key for u in rest.uploads], rest.truncated) == ([], ["d"], False)
    inside = storage.multipart.list_uploads_grouped(owner, "uploads", "a/", "/", None, 10)
    assert [u.key for u in inside.uploads] == ["a/1", "a/2", "a/3"] and not inside.prefixes


def test_a_part_copied_from_a_range_of_an_object(storage: Storage, owner: AccessKey) -> None:
    storage.put(owner, "uploads", "source", b"0123456789")
    upload = start(storage, owner)
    copied = storage.multipart.upload_part_copy(
        owner, ("uploads", "big", upload.id, 1), ("uploads", "source", None), (2, 5), Conditions()
    )
    assert copied.size == 4 and copied.etag == hashlib.md5(b"2345").hexdigest()
    with pytest.raises(InvalidArgument):
        storage.multipart.upload_part_copy(
            owner,
            ("uploads", "big", upload.id, 2),
            ("uploads", "source", None),
            (5, 10),
            Conditions(),
        )
    complete(storage, owner, upload, completed(copied))
    assert storage.read(owner, "uploads", "big") == b"2345"


def test_a_composite_upload_needs_every_part_checksum_at_completion(
    storage: Storage, owner: AccessKey
) -> None:
    upload = storage.multipart.create(owner, "uploads", "k", {}, {}, "crc32", None)
    body = storage.objects.receive(["CRC32"])
    body.write(b"data")
    one = storage.multipart.upload_part(owner, "uploads", "k", upload.id, 1, body, None, {})
    with pytest.raises(InvalidRequest) as missing:
        complete(storage, owner, upload, [CompletedPart(1, one.etag, {})])
    assert missing.value.message == (
        "The upload was created using a crc32 checksum. The complete request must include the "
        "checksum for each part. It was missing for part 1 in the request."
    )
    with pytest.raises(BadDigest) as other:
        complete(storage, owner, upload, [CompletedPart(1, one.etag, {"SHA256": "AAAA"})])
    assert (
        other.value.message == "The sha256 you specified for part 1 did not match what we received."
    )
    complete(
        storage, owner, upload, [CompletedPart(1, one.etag, {"CRC32": one.checksums["CRC32"]})]
    )
    meta = storage.objects.head_object(owner, "uploads", "k", Conditions())
    # The part's own checksum stays with its segment: GetObjectAttributes lists it.
    assert [s.checksum for s in meta.segments] == [one.checksums["CRC32"]]


def test_a_full_object_upload_completes_without_part_checksums(
    storage: Storage, owner: AccessKey
) -> None:
    upload = storage.multipart.create(owner, "uploads", "k", {}, {}, "CRC32", "FULL_OBJECT")
    body = storage.objects.receive(["CRC32"])
    body.write(b"data")
    one = storage.multipart.upload_part(owner, "uploads", "k", upload.id, 1, body, None, {})
    complete(storage, owner, upload, [CompletedPart(1, one.etag, {})])
    meta = storage.objects.head_object(owner, "uploads", "k", Conditions())
    assert meta.checksum_type == "FULL_OBJECT" and meta.checksums["CRC32"] == one.checksums["CRC32"]
    assert [s.checksum for s in meta.segments] == [None]


def test_zero_parts_or_uploads_per_page_is_an_empty_complete_page(
    storage: Storage, owner: AccessKey
) -> None:
    upload = start(storage, owner)
    part(storage, owner, upload, 1, b"x")
    assert storage.multipart.list_parts(owner, "uploads", upload.key, upload.id, 0, 0) == (
        upload,
        [],
        False,
    )
    assert storage.multipart.list_uploads(owner, "uploads", "", None, 0) == ([], False)
    with pytest.raises(NoSuchUpload):  # an empty page still names a real upload
        storage.multipart.list_parts(owner, "uploads", upload.key, "no-such-upload", 0, 0)


def test_a_copied_part_gets_its_uploads_checksum(storage: Storage, owner: AccessKey) -> None:
    storage.put(owner, "uploads", "source", b"copied bytes")
    upload = storage.multipart.create(owner, "uploads", "k", {}, {}, "SHA256", None)
    copied = storage.multipart.upload_part_copy(
        owner, ("uploads", "k", upload.id, 1), ("uploads", "source", None), None, Conditions()
    )
    sha = new_hasher("SHA256")  # the whole object: not the kernel's copy, which hashes nothing
    sha.update(b"copied bytes")
    assert copied.checksums == {"SHA256": sha.digest_b64()}
    with pytest.raises(InvalidRequest):  # so a completion must name it, as an uploaded part's
        complete(storage, owner, upload, [CompletedPart(1, copied.etag, {})])
    complete(storage, owner, upload, [CompletedPart(1, copied.etag, copied.checksums)])
    assert storage.read(owner, "uploads", "k") == b"copied bytes"
    meta = storage.objects.head_object(owner, "uploads", "k", Conditions())
    assert meta.checksums["SHA256"].endswith("-1")
    plain = start(storage, owner, "plain")
    whole = storage.multipart.upload_part_copy(
        owner, ("uploads", "plain", plain.id, 1), ("uploads", "source", None), (0, 5), Conditions()
    )
    default = new_hasher("CRC64NVME")  # an upload without a checksum gets the default one
    default.update(b"copied")  # bytes 0-5
    assert whole.checksums == {"CRC64NVME": default.digest_b64()}
