"""Use cases of multipart uploads. Completion stitches part files together without copying."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from nexq.core.identity import Principal
from nexq.storage.acl import OWNER_HEADER
from nexq.storage.checksums import combine_b64, crc_combine_full
from nexq.storage.conditions import Conditions, check_copy_source
from nexq.storage.encryption import CustomerKey, ObjectKey, check_part, stamped
from nexq.storage.errors import (
    EntityTooLarge,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    NoSuchUpload,
)
from nexq.storage.incoming import IncomingBody
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import (
    CHECKSUM_ALGORITHMS,
    MAX_OBJECT_BYTES,
    MAX_PART_NUMBER,
    MAX_PUT_BYTES,
    MIN_PART_BYTES,
    Bucket,
    ObjectMeta,
    Part,
    Segment,
    Upload,
    validate_key,
    validate_user_metadata,
)
from nexq.storage.object_lock import (
    LockRequest,
    NoObjectLockConfiguration,
    apply_lock,
    check_retention,
)
from nexq.storage.part_checksums import (
    check_named_checksums,
    check_part_algorithms,
    part_algorithms,
    upload_algorithm,
)
from nexq.storage.service import NewContent, ObjectStorage
from nexq.storage.versions import new_version_id

# The tags given when an upload starts ride with its headers (never answered: the completed
# object keeps them as tags).
TAGS_HEADER = "x-nexq-tags"
LOCK_HEADER = "x-nexq-lock"  # the Object Lock asked for when the upload started
# The account that started the upload (ListMultipartUploads' and ListParts' Initiator).
INITIATOR_HEADER = "x-nexq-initiator"
_INTERNAL = (TAGS_HEADER, LOCK_HEADER, INITIATOR_HEADER)


def upload_parties(upload: Upload, bucket_owner: str) -> tuple[str, str]:
    """The account ids of an upload's initiator and of the owner its object will have. An
    upload started before Nexq kept its initiator: the owner for both."""
    owner = upload.headers.get(OWNER_HEADER, bucket_owner)
    return upload.headers.get(INITIATOR_HEADER, owner), owner


_GROUPING_BATCH = 1000


@dataclass(slots=True)
class UploadPage:
    """A page of ListMultipartUploads with a delimiter: the uploads, the common prefixes,
    whether more follow, and the last entry given (key or prefix, upload id or "")."""

    uploads: list[Upload] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CompletedPart:
    """A part as named in a CompleteMultipartUpload request."""

    number: int
    etag: str
    checksums: dict[str, str]


RANGE_HEADER = "x-amz-copy-source-range"


def _check_copy_range(start: int, end: int, size: int) -> None:
    """An UploadPartCopy range refused as S3 refuses it, naming the header."""
    asked = f"bytes={start}-{end}"
    if start > end:
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy",
            RANGE_HEADER,
            asked,
        )
    if start >= size:
        raise InvalidRequest("The specified copy range is invalid for the source object size")
    if end >= size:
        raise InvalidArgument(
            f"Range specified is not valid for source object of size: {size}",
            RANGE_HEADER,
            asked,
        )


class Multipart:
    """Create, upload parts, complete, abort and list multipart uploads."""

    def __init__(self, store: MetadataStore, objects: ObjectStorage) -> None:
        self._store = store
        self._objects = objects

    def create(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        headers: dict[str, str],
        metadata: dict[str, str],
        checksum_algorithm: str | None,
        checksum_type: str | None,
        tags: tuple[tuple[str, str], ...] = (),
        lock: LockRequest | None = None,
        customer: ObjectKey | None = None,
    ) -> Upload:
        """Start an upload (``tags`` go to the object it completes; ``customer``, an SSE-C
        key, must come with every part; a KMS key seals every part without being named)."""
        bucket = self._objects.bucket(caller, bucket_name)
        validate_key(key)
        validate_user_metadata(metadata)
        if checksum_algorithm is not None:
            checksum_algorithm = checksum_algorithm.upper()
            if checksum_algorithm not in CHECKSUM_ALGORITHMS:
                raise InvalidArgument("Invalid x-amz-checksum-algorithm.")
            if checksum_type is None:
                checksum_type = "FULL_OBJECT" if checksum_algorithm == "CRC64NVME" else "COMPOSITE"
            if checksum_type == "FULL_OBJECT" and checksum_algorithm.startswith("SHA"):
                raise InvalidArgument(f"{checksum_algorithm} supports only COMPOSITE checksums.")
        if lock is not None and not lock.empty:
            # Refused now if the bucket cannot lock; the retention is checked again at the end.
            check_retention(lock.mode, lock.until, time.time())
            if self._objects.lock_configuration(bucket) is None:
                raise NoObjectLockConfiguration("Bucket is missing Object Lock Configuration")
            headers = {**headers, LOCK_HEADER: json.dumps([lock.mode, lock.until, lock.legal_hold])}
        # An account at its quota has no room for any part: refused before it starts.
        self._objects.check_not_full(bucket.account_id)
        headers = stamped(headers, customer)
        if caller.account.id:
            headers = {**headers, INITIATOR_HEADER: caller.account.id}
        initiated = time.time()
        upload = Upload(
            id=upload_id(initiated),
            bucket_id=bucket.id,
            key=key,
            initiated=initiated,
            headers={**headers, TAGS_HEADER: json.dumps([list(t) for t in tags])}
            if tags
            else headers,
            metadata=metadata,
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
        )
        self._store.add_upload(upload)
        return upload

    def upload(self, caller: Principal, bucket_name: str, key: str, upload_id: str) -> Upload:
        """The upload ``upload_id`` of ``key`` if the caller may use its bucket."""
        return self._find(caller, bucket_name, key, upload_id)[1]

    def _find(
        self, caller: Principal, bucket_name: str, key: str, upload_id: str
    ) -> tuple[Bucket, Upload]:
        bucket = self._objects.bucket(caller, bucket_name)
        upload = self._store.get_upload(upload_id)
        if upload is None or upload.bucket_id != bucket.id or upload.key != key:
            raise NoSuchUpload()
        return bucket, upload

    def check_part_room(
        self, caller: Principal, bucket_name: str, upload: Upload, number: int, size: int
    ) -> None:
        """Refuse (QuotaExceeded), before its body is read, a part of ``size`` bytes that
        cannot fit the bucket owner's storage quota; storing it checks again, exactly."""
        self._check_part_room(self._objects.bucket(caller, bucket_name), upload, number, size)

    def _check_part_room(self, bucket: Bucket, upload: Upload, number: int, size: int) -> None:
        def replaced() -> int:  # the part of that number already sent, counted already
            earlier = self._store.list_parts(upload.id, number - 1, 1)
            return earlier[0].size if earlier and earlier[0].number == number else 0

        # Read now, not from a figure a second old as a PUT may: the parts of the last second
        # count, and a part is big enough to pay for the read many times over.
        self._objects.check_quota(bucket.account_id, size, replaced, max_age=0.0)

    def _quota(self, bucket: Bucket) -> int | None:
        # The bucket's owner's: a caller of another account (a bucket policy) fills it.
        return self._objects.quotas.limit(bucket.account_id, "storage_bytes")

    def receive_part(
        self, upload: Upload, algorithms: Iterable[str], customer: CustomerKey | None
    ) -> IncomingBody:
        """A sink for a part of ``upload``, sealed as the upload asked (S3's SSE-C rules:
        the upload's key, and only it; or the upload's KMS key, while it is enabled)."""
        check_part(upload.headers, customer)
        return self._objects.receive(algorithms, MAX_PUT_BYTES, self._part_key(upload, customer))

    def _part_key(self, upload: Upload, customer: CustomerKey | None) -> ObjectKey | None:
        return customer if customer is not None else self._objects.kms_key_of(upload.headers)

    def upload_part(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        upload_id: str,
        number: int,
        body: IncomingBody,
        content_md5: str | None,
        checksums: dict[str, str],
    ) -> Part:
        """Store one part; a part with the same number is replaced. The bucket owner's
        storage quota counts it from now on, until the upload is completed or aborted:
        QuotaExceeded, and nothing kept, if it cannot fit."""
        try:
            bucket, upload = self._find(caller, bucket_name, key, upload_id)
            _check_part_number(number)
            check_part_algorithms(upload, body.hashers)
            computed = body.verify(content_md5, checksums)
        except BaseException:
            body.abort()
            raise
        path = body.writer.commit()
        part = Part(
            upload_id=upload.id,
            number=number,
            size=body.size,
            etag=body.etag(),
            last_modified=time.time(),
            path=path,
            checksums=computed,
        )
        self._put_part(part, self._quota(bucket))
        return part

    def _put_part(self, part: Part, quota: int | None) -> None:
        try:
            self._store.put_part(part, quota)
        except BaseException:
            self._objects.delete_blobs([part.path])
            raise

    def upload_part_copy(
        self,
        caller: Principal,
        target: tuple[str, str, str, int],
        source: tuple[str, str, str | None],
        byte_range: tuple[int, int] | None,
        source_conditions: Conditions,
        source_key: CustomerKey | None = None,
        customer: CustomerKey | None = None,
    ) -> Part:
        """Make a part from (a range of) another object (read with ``source_key``, its
        SSE-C key if it has one; ``customer`` is the upload's). A part that cannot fit the
        storage quota is refused before a byte is copied."""
        bucket_name, key, upload_id, number = target
        bucket, upload = self._find(caller, bucket_name, key, upload_id)
        _check_part_number(number)
        check_part(upload.headers, customer)
        sealing = self._part_key(upload, customer)

        def copied_range(src: ObjectMeta) -> tuple[int, int]:
            check_copy_source(src, source_conditions)
            start, end = byte_range if byte_range is not None else (0, src.size - 1)
            if byte_range is not None:
                _check_copy_range(start, end, src.size)
            length = end - start + 1 if src.size else 0
            if length > MAX_PUT_BYTES:
                raise EntityTooLarge("A part is at most 5 GiB.")
            self._check_part_room(bucket, upload, number, length)
            return start, length

        src = self._objects.open_object(
            caller, source[0], source[1], Conditions(), copied_range, source[2], source_key
        )
        part = replace(self._objects.copy_part(src, upload, sealing), number=number)
        self._put_part(part, self._quota(bucket))
        return part

    def complete(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        upload_id: str,
        parts: list[CompletedPart],
        conditions: NewContent,
    ) -> ObjectMeta:
        """Assemble the named parts into the object, in order, with S3's checks; a retry of
        a completion that succeeded is answered as it was (nexq.storage.completions)."""
        try:
            bucket, upload = self._find(caller, bucket_name, key, upload_id)
        except NoSuchUpload:
            return self._completed(caller, bucket_name, key, upload_id, parts)
        if not parts:
            raise InvalidArgument("You must specify at least one part.")
        stored = {p.number: p for p in self._store.list_parts(upload.id, 0, MAX_PART_NUMBER)}
        chosen: list[Part] = []
        previous = 0
        for wanted in parts:
            if wanted.number <= previous:
                raise InvalidPartOrder()
            previous = wanted.number
            part = stored.get(wanted.number)
            if part is None or part.etag != wanted.etag.strip().strip('"'):
                raise InvalidPart(
                    f"One or more of the specified parts could not be found. "
                    f"The part may not have been uploaded, or the specified entity tag may not "
                    f"match the part's entity tag (part {wanted.number})."
                )
            check_named_checksums(upload, wanted.number, wanted.checksums, part)
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART_BYTES:
                raise EntityTooSmall(
                    f"Your proposed upload is smaller than the minimum allowed size: part "
                    f"{part.number} is {part.size} bytes, parts other than the last must be at "
                    f"least {MIN_PART_BYTES} bytes."
                )
        size = sum(p.size for p in chosen)
        if size > MAX_OBJECT_BYTES:
            raise EntityTooLarge("An object is at most 5 TiB.")
        digest = hashlib.md5(  # noqa: S324 - S3's multipart ETag is defined with MD5
            b"".join(bytes.fromhex(p.etag) for p in chosen)
        ).hexdigest()
        checksums = _object_checksums(upload, chosen)
        meta = ObjectMeta(
            bucket_id=upload.bucket_id,
            key=upload.key,
            size=size,
            etag=f"{digest}-{len(chosen)}",
            last_modified=time.time(),
            headers={k: v for k, v in upload.headers.items() if k not in _INTERNAL},
            metadata=upload.metadata,
            checksums=checksums,
            checksum_type=_object_checksum_type(upload, checksums),
            segments=_segments(upload, chosen),
            parts_count=len(chosen),
            version_id=new_version_id(),
            tags=tuple((k, v) for k, v in json.loads(upload.headers.get(TAGS_HEADER, "[]"))),
        )
        asked = upload.headers.get(LOCK_HEADER)
        meta = apply_lock(
            meta,
            self._objects.lock_configuration(bucket),
            LockRequest(*json.loads(asked)) if asked else None,
            time.time(),
        )
        try:
            version_id = self._store.complete_upload(
                upload,
                meta,
                (p.number for p in chosen),
                if_match=conditions.if_match,
                if_none_match=conditions.if_none_match,
                quota=self._quota(bucket),
            )
        except NoSuchUpload:  # a concurrent request (the same, sent twice) completed it
            return self._completed(caller, bucket_name, key, upload_id, parts)
        return replace(meta, version_id=version_id)

    def _completed(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        upload_id: str,
        parts: list[CompletedPart],
    ) -> ObjectMeta:
        """The object a completion of ``upload_id`` naming ``parts`` made, if this is a
        retry of it; NoSuchUpload otherwise."""
        bucket = self._objects.bucket(caller, bucket_name)
        done = self._store.completed_upload(upload_id)
        named = [(p.number, p.etag) for p in parts]
        if done is None or not done.answers(bucket.id, key, named, time.time()):
            raise NoSuchUpload()
        return done.meta()

    def part_checksums(self, upload: Upload, declared: Iterable[str]) -> set[str]:
        """The checksums to compute for a part of ``upload`` whose request names
        ``declared``; refuses a part that must carry the upload's and does not."""
        return part_algorithms(upload, declared)

    def abort(self, caller: Principal, bucket_name: str, key: str, upload_id: str) -> None:
        """End an upload and drop its parts."""
        upload = self.upload(caller, bucket_name, key, upload_id)
        if not self._store.abort_upload(upload.id):
            raise NoSuchUpload()

    def list_parts(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        upload_id: str,
        after: int,
        max_parts: int,
    ) -> tuple[Upload, list[Part], bool]:
        """One page of an upload's parts and whether more follow."""
        upload = self.upload(caller, bucket_name, key, upload_id)
        if max_parts == 0:
            return upload, [], False  # S3 compat: an empty page that is not truncated
        parts = self._store.list_parts(upload.id, after, max_parts + 1)
        return upload, parts[:max_parts], len(parts) > max_parts

    def check_upload_marker(
        self, caller: Principal, bucket_name: str, key_marker: str, upload_id: str
    ) -> None:
        """S3 compat: ListMultipartUploads' upload-id-marker must be an upload of its
        key-marker; one of another key is 400 InvalidArgument, as AWS answers it (an upload
        no longer there resumes after the key marker's earlier uploads)."""
        bucket = self._objects.bucket(caller, bucket_name)
        upload = self._store.get_upload(upload_id)
        if upload is not None and upload.bucket_id == bucket.id and upload.key != key_marker:
            raise InvalidArgument("Invalid uploadId marker", "upload-id-marker", upload_id)

    def list_uploads(
        self,
        caller: Principal,
        bucket_name: str,
        prefix: str,
        after: tuple[str, str | None] | None,
        max_uploads: int,
    ) -> tuple[list[Upload], bool]:
        """One page of a bucket's uploads in progress, by key then upload id (initiation
        order), after ``after`` = (key, upload id or None for every upload of that key)."""
        bucket = self._objects.bucket(caller, bucket_name)
        if max_uploads == 0:
            return [], False  # S3 compat: an empty page that is not truncated
        uploads = self._store.list_uploads(bucket.id, prefix, after, max_uploads + 1)
        return uploads[:max_uploads], len(uploads) > max_uploads

    def list_uploads_grouped(
        self,
        caller: Principal,
        bucket_name: str,
        prefix: str,
        delimiter: str,
        after: tuple[str, str | None] | None,
        max_uploads: int,
    ) -> UploadPage:
        """One page of a bucket's uploads in progress with those whose key holds
        ``delimiter`` after ``prefix`` rolled up into common prefixes, as ListObjects rolls
        up keys: an entry each, counted against ``max_uploads``, and only those after the
        key marker (a marker that is a common prefix resumes after every key under it)."""
        bucket = self._objects.bucket(caller, bucket_name)
        page = UploadPage()
        if max_uploads == 0:
            return page
        marker = after[0] if after is not None else None
        cursor = after
        while True:
            # Uploads in progress are few: reading past the rolled-up ones is cheap enough.
            batch = self._store.list_uploads(bucket.id, prefix, cursor, _GROUPING_BATCH)
            for upload in batch:
                rest = upload.key[len(prefix) :]
                cut = rest.find(delimiter)
                common = None if cut < 0 else prefix + rest[: cut + len(delimiter)]
                if common is not None and (
                    (marker is not None and common <= marker)
                    or (page.prefixes and page.prefixes[-1] == common)
                ):
                    continue
                if len(page.uploads) + len(page.prefixes) == max_uploads:
                    page.truncated = True
                    return page
                if common is None:
                    page.uploads.append(upload)
                    page.last = (upload.key, upload.id)
                else:
                    page.prefixes.append(common)
                    page.last = (common, "")
            if len(batch) < _GROUPING_BATCH:
                return page
            cursor = (batch[-1].key, batch[-1].id)


def upload_id(initiated: float) -> str:
    """A new upload id (64 hex digits) that sorts after those initiated in an earlier
    microsecond.

    S3 compat: ListMultipartUploads orders the uploads of a key by initiation time, yet resumes
    after an upload-id-marker by comparing upload ids. Ids that start with the initiation time
    (microseconds, fixed width) make both the same order, with the random rest as a unique
    tie-breaker; and a marker stays a valid position after its upload is aborted or completed,
    which is what clean-up tools do between pages.
    """
    micros = max(0, int(initiated * 1_000_000))
    return f"{micros:016x}{secrets.token_hex(24)}"


def _check_part_number(number: int) -> None:
    if not 1 <= number <= MAX_PART_NUMBER:
        raise InvalidArgument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )


def _segments(upload: Upload, parts: list[Part]) -> tuple[Segment, ...]:
    """The object's segments: its parts' files, with their checksums when the object's is
    COMPOSITE (made of them, so the parts' own are part of what it is)."""
    algorithm = upload.checksum_algorithm
    if algorithm is None or upload.checksum_type != "COMPOSITE":
        return tuple(Segment(p.path, p.size) for p in parts)
    return tuple(Segment(p.path, p.size, p.checksums.get(algorithm)) for p in parts)


def _object_checksum_type(upload: Upload, checksums: dict[str, str]) -> str | None:
    if upload.checksum_algorithm is None:
        return "FULL_OBJECT" if checksums else None
    return upload.checksum_type


def _object_checksums(upload: Upload, parts: list[Part]) -> dict[str, str]:
    """The object's checksum from its parts' (none when a part has none: parts stored before
    every part was given one)."""
    algorithm = upload_algorithm(upload)
    if any(algorithm not in p.checksums for p in parts):
        return {}
    if upload.checksum_algorithm is None or upload.checksum_type == "FULL_OBJECT":
        return {
            algorithm: crc_combine_full(
                algorithm, [(p.checksums[algorithm], p.size) for p in parts]
            )
        }
    return {algorithm: combine_b64(algorithm, [p.checksums[algorithm] for p in parts])}
