"""The checksum a part of an upload created with x-amz-checksum-algorithm must carry (COMPOSITE:
the upload's, refused before the body otherwise) or is given (FULL_OBJECT: computed by the
server) — the rule, and through Multipart on the in-memory stores."""

from __future__ import annotations

import pytest

from nexq.core.identity import Principal
from nexq.storage.checksums import new_hasher
from nexq.storage.conditions import Conditions
from nexq.storage.errors import InvalidRequest
from nexq.storage.model import Upload
from nexq.storage.multipart import CompletedPart
from nexq.storage.part_checksums import part_algorithms
from nexq.storage.service import NewContent
from tests.unit.storage.conftest import Storage


def upload(algorithm: str | None, kind: str | None) -> Upload:
    return Upload("u", "b", "k", 0.0, {}, {}, algorithm, kind)


@pytest.fixture
def owner(storage: Storage) -> Principal:
    caller = storage.caller()
    storage.bucket(caller, "uploads")
    return caller


def test_a_composite_upload_part_must_name_the_uploads_checksum() -> None:
    sha = upload("SHA256", "COMPOSITE")
    assert part_algorithms(sha, ["sha256"]) == {"SHA256"}
    with pytest.raises(InvalidRequest) as none:
        part_algorithms(sha, [])
    assert none.value.message == (
        "Checksum Type mismatch occurred, expected checksum Type: sha256, "
        "actual checksum Type: null"
    )
    with pytest.raises(InvalidRequest) as other:
        part_algorithms(sha, ["CRC32"])
    assert other.value.message.endswith(
        "expected checksum Type: sha256, actual checksum Type: crc32"
    )


def test_a_full_object_upload_part_gets_the_checksum_computed() -> None:
    assert part_algorithms(upload("CRC32", "FULL_OBJECT"), []) == {"CRC32"}
    assert part_algorithms(upload("CRC64NVME", "FULL_OBJECT"), ["CRC32"]) == {"CRC32", "CRC64NVME"}
    # Anything goes, beside the default checksum that the completion combines.
    assert part_algorithms(upload(None, None), ["crc32c"]) == {"CRC32C", "CRC64NVME"}
    assert part_algorithms(upload(None, None), []) == {"CRC64NVME"}


def test_a_part_hashed_without_the_composite_checksum_is_refused_and_dropped(
    storage: Storage, owner: Principal
) -> None:
    started = storage.multipart.create(owner, "uploads", "k", {}, {}, "CRC32C", None)
    body = storage.objects.receive()
    body.write(b"data")
    with pytest.raises(InvalidRequest):
        storage.multipart.upload_part(owner, "uploads", "k", started.id, 1, body, None, {})
    assert storage.store.list_parts(started.id, 0, 10) == []
    assert storage.stray_blobs() == set()


def test_a_full_object_part_sent_without_a_checksum_still_completes_with_one(
    storage: Storage, owner: Principal
) -> None:
    started = storage.multipart.create(owner, "uploads", "k", {}, {}, "CRC32", "FULL_OBJECT")
    body = storage.objects.receive(storage.multipart.part_checksums(started, []))
    body.write(b"data")
    one = storage.multipart.upload_part(owner, "uploads", "k", started.id, 1, body, None, {})
    crc = new_hasher("CRC32")
    crc.update(b"data")
    assert one.checksums == {"CRC32": crc.digest_b64()}
    storage.multipart.complete(
        owner, "uploads", "k", started.id, [CompletedPart(1, one.etag, {})], NewContent({}, {})
    )
    meta = storage.objects.head_object(owner, "uploads", "k", Conditions())
    assert meta.checksums == {"CRC32": crc.digest_b64()} and meta.checksum_type == "FULL_OBJECT"
