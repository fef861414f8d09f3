"""A CompleteMultipartUpload sent again after it succeeded (its answer was lost) is answered as
the first one was; anything else about a completed upload stays NoSuchUpload — through
Multipart on the in-memory stores."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from nexq.core.identity import Principal
from nexq.storage.completions import multipart_etag
from nexq.storage.conditions import Conditions
from nexq.storage.directory import Directory
from nexq.storage.errors import NoSuchKey, NoSuchUpload
from nexq.storage.metadata.memory import MemoryMetadata
from nexq.storage.model import MIN_PART_BYTES, ObjectMeta, Part, Upload
from nexq.storage.multipart import CompletedPart, Multipart
from nexq.storage.service import NewContent, ObjectStorage
from nexq.storage.versions import ENABLED
from tests.unit.quotas import TierLimits
from tests.unit.storage.conftest import Storage

BIG = b"a" * MIN_PART_BYTES


@pytest.fixture
def owner(storage: Storage) -> Principal:
    caller = storage.caller()
    storage.bucket(caller, "uploads")
    return caller


def uploaded(storage: Storage, caller: Principal, key: str = "big") -> tuple[Upload, list[Part]]:
    """An upload of ``key`` with a SHA256 checksum and two parts (BIG, then b"tail")."""
    upload = storage.multipart.create(caller, "uploads", key, {}, {}, "SHA256", None)
    parts = []
    for number, data in enumerate((BIG, b"tail"), start=1):
        body = storage.objects.receive(["SHA256"])
        body.write(data)
        parts.append(
            storage.multipart.upload_part(caller, "uploads", key, upload.id, number, body, None, {})
        )
    return upload, parts


def named(parts: list[Part], quoted: bool = True) -> list[CompletedPart]:
    return [
        CompletedPart(p.number, f'"{p.etag}"' if quoted else p.etag, dict(p.checksums))
        for p in parts
    ]


def complete(
    storage: Storage, caller: Principal, upload: Upload, parts: list[CompletedPart]
) -> ObjectMeta:
    return storage.multipart.complete(
        caller, "uploads", upload.key, upload.id, parts, NewContent({}, {}, if_none_match=True)
    )


def test_a_retry_is_answered_as_the_completion_was(storage: Storage, owner: Principal) -> None:
    storage.store.set_versioning(storage.objects.bucket(owner, "uploads").id, ENABLED)
    storage.next_request()
    upload, parts = uploaded(storage, owner)
    first = complete(storage, owner, upload, named(parts))
    usage = storage.store.bucket_usage(first.bucket_id)
    # If-None-Match: * would refuse a new write now that the key exists: a retry is none.
    again = complete(storage, owner, upload, named(parts, quoted=False))
    assert (again.etag, again.version_id, again.size) == (
        first.etag,
        first.version_id,
        5 * 2**20 + 4,
    )
    assert again.checksums == first.checksums and first.checksums["SHA256"].endswith("-2")
    assert again.checksum_type == "COMPOSITE"
    assert storage.store.bucket_usage(first.bucket_id) == usage  # nothing was written twice
    assert storage.read(owner, "uploads", "big") == BIG + b"tail"


def test_a_retry_names_the_completed_object_even_once_replaced_or_deleted(
    storage: Storage, owner: Principal
) -> None:
    upload, parts = uploaded(storage, owner)
    first = complete(storage, owner, upload, named(parts))
    storage.put(owner, "uploads", "big", b"newer")
    assert complete(storage, owner, upload, named(parts)).etag == first.etag
    storage.objects.delete_object(owner, "uploads", "big")
    assert complete(storage, owner, upload, named(parts)).etag == first.etag
    with pytest.raises(NoSuchKey):  # the retry brought nothing back
        storage.objects.head_object(owner, "uploads", "big", Conditions())


def test_only_the_same_parts_of_the_same_upload_make_a_retry(
    storage: Storage, owner: Principal
) -> None:
    upload, parts = uploaded(storage, owner)
    complete(storage, owner, upload, named(parts))
    for other in (named(parts[:1]), named(parts[::-1]), [CompletedPart(1, "not-an-md5", {})], []):
        with pytest.raises(NoSuchUpload):
            complete(storage, owner, upload, other)
    with pytest.raises(NoSuchUpload):  # the same upload id, another key
        storage.multipart.complete(
            owner, "uploads", "other", upload.id, named(parts), NewContent({}, {})
        )
    stranger = storage.caller("acc-b")
    storage.bucket(stranger, "strangers")
    with pytest.raises(NoSuchUpload):  # nor another account's bucket
        storage.multipart.complete(
            stranger, "strangers", "big", upload.id, named(parts), NewContent({}, {})
        )
    aborted, some = uploaded(storage, owner, "aborted")
    storage.multipart.abort(owner, "uploads", "aborted", aborted.id)
    with pytest.raises(NoSuchUpload):  # and an upload aborted is no completion
        complete(storage, owner, aborted, named(some))


class _Overtaken(MemoryMetadata):
    """A store where the same completion, sent twice, is committed by the other request
    just before this one's (what two workers racing on one retried request see)."""

    def complete_upload(
        self,
        upload: Upload,
        meta: ObjectMeta,
        used_parts: Iterable[int],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        used = list(used_parts)
        super().complete_upload(upload, meta, used)  # the other request wins
        return super().complete_upload(upload, meta, used, if_match=if_match, quota=quota)


def test_a_completion_overtaken_by_its_own_retry_is_answered_too(storage: Storage) -> None:
    store = _Overtaken(storage.accounts.get)
    objects = ObjectStorage(store, storage.blobs, Directory(store, storage.box), None, TierLimits())
    multipart = Multipart(store, objects)
    owner = storage.caller()
    objects.create_bucket(owner, "uploads")
    upload = multipart.create(owner, "uploads", "k", {}, {}, None, None)
    body = objects.receive()
    body.write(b"only part")
    one = multipart.upload_part(owner, "uploads", "k", upload.id, 1, body, None, {})
    done = multipart.complete(owner, "uploads", "k", upload.id, named([one]), NewContent({}, {}))
    kept = store.completed_upload(upload.id)
    assert kept is not None and done.etag == kept.etag == multipart_etag([(1, one.etag)])
