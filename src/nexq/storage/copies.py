"""Server-side copies: CopyObject, and UploadPartCopy's part written from a range of an
object."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from nexq.core.identity import Principal
from nexq.storage import acl, encryption
from nexq.storage.blobs.port import BlobWriter
from nexq.storage.checksums import DEFAULT_ALGORITHM, Hasher, new_hasher
from nexq.storage.conditions import Conditions, check_copy_source
from nexq.storage.encryption import CustomerKey, ObjectKey, same_key, stamped
from nexq.storage.errors import EntityTooLarge
from nexq.storage.model import (
    MAX_PUT_BYTES,
    ObjectMeta,
    Part,
    Segment,
    Upload,
    validate_key,
    validate_user_metadata,
)
from nexq.storage.part_checksums import upload_algorithm
from nexq.storage.reader import OpenObject
from nexq.storage.service_base import ObjectStorageBase
from nexq.storage.versions import new_version_id
from nexq.storage.website import REDIRECT_LOCATION

if TYPE_CHECKING:
    from nexq.storage.service import NewContent


class ObjectCopies(ObjectStorageBase):
    """ObjectStorage's copies of objects and of ranges of them."""

    def copy_object(
        self,
        caller: Principal,
        source: tuple[str, str, str | None],
        target: tuple[str, str],
        source_conditions: Conditions,
        replace_with: NewContent | None,
        target_conditions: NewContent,
        tags: tuple[tuple[str, str], ...] | None = None,
        source_key: CustomerKey | None = None,
        target_key: ObjectKey | None = None,
        access: Mapping[str, str] | None = None,
    ) -> tuple[ObjectMeta, ObjectMeta]:
        """Copy an object (``source`` is bucket, key, and S3's versionId or None for the
        latest); ``replace_with`` is the REPLACE directive's new headers, if any, and
        ``tags`` the tagging directive's new tags (None: the source's); the SSE-C keys of
        the source and of the copy, if any; ``access``, the headers that are the copy's own:
        its owner and ACL, its website redirect (the source's are never copied). Returns the
        new object and the source version it was copied from."""
        bucket = self.bucket(caller, target[0])
        validate_key(target[1])
        if replace_with is not None:
            validate_user_metadata(replace_with.metadata)

        def whole(meta: ObjectMeta) -> tuple[int, int]:
            check_copy_source(meta, source_conditions)
            if meta.size > MAX_PUT_BYTES:
                raise EntityTooLarge("Objects over 5 GiB must be copied with UploadPartCopy.")
            return 0, meta.size

        opened = self.open_object(
            caller, source[0], source[1], Conditions(), whole, source[2], source_key
        )
        src = opened.meta
        kept = _whole_object_checksums(src)
        # S3 compat: the copy keeps its source's checksum algorithm, the default one when
        # the source has none; a value made of parts' is not the copy's, so it is computed.
        algorithm = next(iter(src.checksums), DEFAULT_ALGORITHM)
        hasher = None if kept else new_hasher(algorithm)
        writer = self._blobs.writer(target_key.key if target_key else None)
        try:
            etag = self._copy_range(opened, writer, hasher, target_key)
        except BaseException:
            writer.abort()
            raise
        finally:
            opened.close()
        path = writer.commit()
        meta = ObjectMeta(
            bucket_id=bucket.id,
            key=target[1],
            size=src.size,
            etag=etag,
            last_modified=time.time(),
            headers={
                **stamped(
                    _without_access(replace_with.headers if replace_with else _copied(src.headers)),
                    target_key,
                ),
                **(access or {}),
            },
            metadata=replace_with.metadata if replace_with else src.metadata,
            checksums=kept if hasher is None else {algorithm: hasher.digest_b64()},
            checksum_type="FULL_OBJECT",
            segments=(Segment(path, src.size),),
            version_id=new_version_id(),
            tags=src.tags if tags is None else tags,
        )
        try:
            meta = self._locked(bucket, meta, target_conditions.lock)
        except BaseException:
            self._blobs.delete([path])
            raise
        return self._commit_object(meta, [path], target_conditions, bucket.account_id), src

    def copy_part(self, src: OpenObject, upload: Upload, customer: ObjectKey | None = None) -> Part:
        """Write the opened range of ``src`` as a new part file of ``upload`` (sealed with
        ``customer``, its SSE-C key or KMS key), with the upload's checksum, or the default
        one (a completion checks or combines it, as an uploaded part's)."""
        writer = self._blobs.writer(customer.key if customer else None)
        algorithm = upload_algorithm(upload)
        hasher = new_hasher(algorithm)
        try:
            etag = self._copy_range(src, writer, hasher, customer)
        except BaseException:
            writer.abort()
            raise
        finally:
            src.close()
        return Part(
            upload_id=upload.id,
            number=0,
            size=src.length,
            etag=etag,
            last_modified=time.time(),
            path=writer.commit(),
            checksums={algorithm: hasher.digest_b64()},
        )

    def _copy_range(
        self,
        src: OpenObject,
        writer: BlobWriter,
        hasher: Hasher | None = None,
        target_key: ObjectKey | None = None,
    ) -> str:
        """Append the opened range of ``src`` to ``writer`` (sealed with ``target_key``;
        feeding ``hasher`` too); returns the range's ETag."""
        meta = src.meta
        whole = src.start == 0 and src.length == meta.size and meta.parts_count == 0
        if whole and hasher is None and same_key(src.sealing, target_key):
            # Same bytes, same key, same ETag: let the kernel copy (the sealed blob as it
            # is) and skip hashing.
            for run in src.runs:
                self._blobs.copy_into(writer, run.blob, 0, run.size)
            return meta.etag
        md5 = hashlib.md5()  # noqa: S324 - S3's ETag is an MD5 by definition
        for data in src.chunks():
            md5.update(data)
            if hasher is not None:
                hasher.update(data)
            writer.write(data)
        return encryption.etag(md5.hexdigest(), target_key)


def _copied(headers: Mapping[str, str]) -> dict[str, str]:
    """The source's headers a COPY directive copies: not its website redirect, which S3 keeps
    to each object (the copy takes the request's, if it names one)."""
    return {name: value for name, value in headers.items() if name != REDIRECT_LOCATION}


def _without_access(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name not in acl.STORED_HEADERS}


def _whole_object_checksums(meta: ObjectMeta) -> dict[str, str]:
    """The checksums of ``meta`` that are its bytes' own (not made of its parts')."""
    if meta.parts_count and meta.checksum_type != "FULL_OBJECT":
        return {}
    return meta.checksums
