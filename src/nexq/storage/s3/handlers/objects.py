"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject."""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import AsyncIterator
from dataclasses import replace

from nexq.core.errors import DomainError
from nexq.storage.blobs.port import Bytes
from nexq.storage.encryption import Presented
from nexq.storage.errors import AccessDenied, InvalidArgument, InvalidRange, NoSuchVersion
from nexq.storage.incoming import IncomingBody
from nexq.storage.model import MAX_PUT_BYTES, ObjectMeta, has_control_characters
from nexq.storage.reader import OpenObject
from nexq.storage.s3 import sse
from nexq.storage.s3.acl import new_object_acl
from nexq.storage.s3.body import read_small, receive_and_store
from nexq.storage.s3.errors import S3Error, from_domain, invalid_argument, missing_content_length
from nexq.storage.s3.handlers.common import (
    Services,
    check_copy_source_signature,
    check_storage_class,
    checksum_response_headers,
    content_md5,
    copy_source,
    empty,
    object_headers,
    part_number,
    quoted,
    read_conditions,
    requested_checksums,
    trailer_checksums,
    version_header,
    write_content,
)
from nexq.storage.s3.handlers.lifecycle_headers import expiration_headers
from nexq.storage.s3.http import INLINE_READ_BYTES, Response, S3Request
from nexq.storage.s3.lock_headers import BYPASS, bypass_governance, delete_conditions
from nexq.storage.s3.xml import document, escape, iso_time, parse_delete
from nexq.storage.versions import Removal, parse_version_id, shown
from nexq.storage.website import REDIRECT_LOCATION

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


async def put_object(req: S3Request, s: Services) -> Response:
    algorithms, header_sums = requested_checksums(req)
    content_md5(req)
    bucket, key = req.bucket or "", req.key or ""
    if "content-length" not in req.headers and "x-amz-decoded-content-length" not in req.headers:
        raise missing_content_length()
    _check_declared_size(req)
    check_storage_class(req.headers.get("x-amz-storage-class"))
    requested = sse.write_key(req)
    customer = requested.customer

    access: dict[str, str] = {}  # the stored headers of the object's owner and ACL

    def store(body: IncomingBody, trailers: dict[str, str]) -> ObjectMeta:
        sums = {**header_sums, **trailer_checksums(trailers)}
        new = write_content(req, sums)
        new = replace(new, headers={**new.headers, **access})
        return s.objects.put_object(req.caller, bucket, key, body, new)

    def start() -> IncomingBody:
        s.objects.check_room(req.caller, bucket, declared_size(req), key)
        access.update(new_object_acl(req.caller, req.headers, s.acl, bucket))
        sealing = s.objects.write_key(req.caller, bucket, requested)
        return s.objects.receive(algorithms, MAX_PUT_BYTES, sealing)

    meta = await receive_and_store(req, start, store)
    headers = {
        "etag": quoted(meta.etag),
        **sse.response_headers(meta.headers, customer, s.objects.seals_at_rest),
        **sse.context_header(req),
        **checksum_response_headers(meta.checksums),
        **version_header(meta.version_id),
        **await req.now(lambda: expiration_headers(s, bucket, meta)),
    }
    if meta.checksum_type:
        headers["x-amz-checksum-type"] = meta.checksum_type
    return empty(200, headers)


def declared_size(req: S3Request) -> int:
    """The size of the body the client announced (decoded, for aws-chunked)."""
    declared = req.headers.get("x-amz-decoded-content-length") or req.headers.get(
        "content-length", "0"
    )
    return int(declared) if declared.isdigit() else 0


def _check_declared_size(req: S3Request) -> None:
    declared = req.headers.get("x-amz-decoded-content-length") or req.headers.get(
        "content-length", "0"
    )
    if declared.isdigit() and int(declared) > MAX_PUT_BYTES:
        raise S3Error(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size.",
            400,
            {"ProposedSize": declared, "MaxSizeAllowed": str(MAX_PUT_BYTES)},
        )


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single Range, None for the whole object."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # S3 compat: a Range it cannot parse is ignored, the whole object is sent.
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)
        if length == 0:
            raise InvalidRange()
        return max(size - length, 0), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise InvalidRange()
    return start, end


def _part_range(req: S3Request, meta: ObjectMeta) -> tuple[int, int] | None:
    number = part_number(req)
    count = len(meta.segments) if meta.parts_count else 1
    if number > count:
        raise S3Error(
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
            416,
            {"PartNumberRequested": str(number), "ActualPartCount": str(count)},
        )
    offset = sum(seg.size for seg in meta.segments[: number - 1]) if meta.parts_count else 0
    size = meta.segments[number - 1].size if meta.parts_count else meta.size
    if meta.size == 0:
        return None  # the one part of an empty object is all of it: 200, no Content-Range
    return offset, offset + size - 1


async def _read_object(req: S3Request, s: Services, with_body: bool) -> Response:
    bucket, key = req.bucket or "", req.key or ""
    conditions = read_conditions(req)
    version = req.query.get("versionId")
    with_checksums = req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    sse.refuse_write_headers(req)
    customer = sse.customer_key(req)

    def span(meta: ObjectMeta) -> tuple[int, int] | None:
        try:
            if "partNumber" in req.query:
                return _part_range(req, meta)
            return _byte_range(req.headers.get("range"), meta.size)
        except InvalidRange as exc:
            error = from_domain(exc)
            error.headers["content-range"] = f"bytes */{meta.size}"
            if "partNumber" not in req.query:  # S3 compat: the range asked, and the size
                error.extra["ActualObjectSize"] = str(meta.size)
                error.extra["RangeRequested"] = req.headers.get("range", "")
            raise error from None

    if "partNumber" in req.query:
        part_number(req)  # InvalidArgument for 0 or "x", before the object is looked up
        if "range" in req.headers:
            raise S3Error(
                "InvalidRequest",
                "Cannot specify both Range header and partNumber query parameter",
                400,
            )
    overrides = [param for param in _OVERRIDES if param in req.query] if req.query else []
    for param in overrides:
        if has_control_characters(req.query[param]):
            raise invalid_argument(
                f"{param} must not contain control characters.", param, req.query[param]
            )
    picked: list[tuple[int, int] | None] = []

    def pick(meta: ObjectMeta) -> tuple[int, int]:
        picked[:] = [span(meta)]
        start, end = picked[0] or (0, meta.size - 1)
        return start, max(end - start + 1, 0)

    opened: OpenObject | None = None
    if with_body:
        # The files are opened with the lookup, so the download is of this version whole,
        # even if the key is overwritten or deleted while it goes on.
        opened = await req.now(
            lambda: s.objects.open_object(
                req.caller, bucket, key, conditions, pick, version, customer
            )
        )
        meta = opened.meta
        try:
            sse.check_kms_read(req, meta.headers)
        except S3Error:
            opened.close()
            raise
    else:
        meta = await req.now(
            lambda: s.objects.head_object(
                req.caller, bucket, key, conditions, version, Presented(customer)
            )
        )
        pick(meta)
    # S3 compat: the object's checksum holds for a range that covers all of it, too.
    whole = picked[0] is None or (picked[0] == (0, meta.size - 1) and "partNumber" not in req.query)
    headers = object_headers(meta, with_checksums and whole, "partNumber" in req.query)
    headers.update(sse.response_headers(meta.headers, customer, s.objects.seals_at_rest))
    headers.update(await req.now(lambda: expiration_headers(s, bucket, meta, version is None)))
    found = s.objects.directory.bucket(bucket)
    if found is not None and found.versioning is not None:
        # As AWS: in a bucket that has had versioning, every read names its version, the
        # null one too; a never-versioned bucket names none, even asked for "null".
        headers["x-amz-version-id"] = shown(meta.version_id)
    for param in overrides:
        headers[_OVERRIDES[param]] = req.query[param]
    status = 200
    start, end = 0, meta.size - 1
    if picked[0] is not None:
        start, end = picked[0]
        status = 206
        headers["content-range"] = f"bytes {start}-{end}/{meta.size}"
    length = max(end - start + 1, 0)
    headers["content-length"] = str(length)
    if opened is None:
        return Response(status, headers)
    if length <= INLINE_READ_BYTES:
        return Response(status, headers, b"".join(opened.chunks()))
    return Response(status, headers, stream=_stream(req, opened))


# Pieces (of up to a megabyte) read ahead of the one being sent. The reader goes on to the
# next piece as soon as it has handed one over, instead of waiting for the event loop to ask
# for it: the loop's sending and the reader's work (the AES of a sealed blob) overlap.
_AHEAD = 2


class _ReadAhead:
    """Runs an object's piece generator in the executor, a few pieces ahead of the sender.

    At most one executor job runs the generator at a time (it is not thread-safe); a job
    fills ``ready`` up to ``_AHEAD`` pieces and returns, so a slow client holds no thread.
    """

    def __init__(self, req: S3Request, opened: OpenObject) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = req.executor
        self._opened = opened
        self._pieces = opened.chunks()
        self._ready: collections.deque[Bytes] = collections.deque()
        self._arrived = asyncio.Event()
        self._job: asyncio.Future[None] | None = None
        self._ended = False  # the generator is exhausted (or failed)
        self._failure: BaseException | None = None
        self._closed = False

    def _fill(self) -> None:
        """In the executor: read pieces until ``_AHEAD`` are ready or the object ends."""
        while len(self._ready) < _AHEAD and not self._closed:
            piece = next(self._pieces, None)
            if piece is None:
                self._ended = True
                return
            self._ready.append(piece)
            self._loop.call_soon_threadsafe(self._arrived.set)

    def _start(self) -> None:
        if self._job is None and not self._ended and len(self._ready) < _AHEAD:
            self._job = self._loop.run_in_executor(self._executor, self._fill)
            self._job.add_done_callback(self._job_done)

    def _job_done(self, job: asyncio.Future[None]) -> None:
        self._job = None
        failure = asyncio.CancelledError() if job.cancelled() else job.exception()
        if failure is not None:
            self._failure = failure
            self._ended = True
        self._arrived.set()
        if self._closed:
            self._finish()
        else:
            self._start()

    async def next(self) -> Bytes | None:
        """The next piece, or None at the end; raises what the reading raised."""
        self._start()
        while not self._ready:
            if self._ended and self._job is None:
                if self._failure is not None:
                    raise self._failure
                return None
            self._arrived.clear()
            if not self._ready:
                await self._arrived.wait()
        piece = self._ready.popleft()
        self._start()
        return piece

    def close(self) -> None:
        """Stop reading; the files are closed at once, or when the running job returns."""
        self._closed = True
        if self._job is None:
            self._finish()

    def _finish(self) -> None:
        self._ready.clear()
        self._pieces.close()
        self._opened.close()  # at once, also when the client left early


async def _stream(req: S3Request, opened: OpenObject) -> AsyncIterator[Bytes]:
    """The object's bytes, read (and opened, if sealed) in the executor ahead of sending:
    reading and sending overlap instead of taking turns."""
    reader = _ReadAhead(req, opened)
    try:
        while (data := await reader.next()) is not None:
            yield data
    finally:
        reader.close()


async def get_object(req: S3Request, s: Services) -> Response:
    return await _read_object(req, s, True)


async def head_object(req: S3Request, s: Services) -> Response:
    return await _read_object(req, s, False)


async def delete_object(req: S3Request, s: Services) -> Response:
    version = req.query.get("versionId")
    conditions = delete_conditions(req)
    # Bounded apart from its commit (the blobs go to the janitor): no thread hops.

    def delete() -> Removal:
        _check_bypass(req, s)
        return s.objects.delete_object(
            req.caller,
            req.bucket or "",
            req.key or "",
            version,
            bypass_governance(req),
            conditions,
        )

    removal = await req.here(delete)
    headers = {}
    if removal.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    if version is not None or removal.marker_added:
        headers["x-amz-version-id"] = shown(removal.version_id)
    return empty(204, headers)


def _check_bypass(req: S3Request, s: Services) -> None:
    """S3 compat: x-amz-bypass-governance-retention (true or false) only on a bucket with
    Object Lock; elsewhere 400 InvalidArgument, as AWS answers."""
    if BYPASS in req.headers:
        bucket = s.objects.bucket(req.caller, req.bucket or "")
        if s.objects.lock_configuration(bucket) is None:
            # S3 compat: ArgumentName alone, as AWS answers.
            raise invalid_argument(
                f"{BYPASS} is only applicable to Object Lock enabled buckets.", BYPASS
            )


async def delete_objects(req: S3Request, s: Services) -> Response:
    body = await read_small(req, 2 * 1024 * 1024)
    if body is None:
        raise missing_content_length()

    def delete() -> tuple[list[tuple[str, Removal | Exception]], list[str | None], bool]:
        _check_bypass(req, s)
        keys, quiet = parse_delete(body)
        policy = req.key_policy
        refused = {i for i, item in enumerate(keys) if policy and policy.refuses(item[0], item[1])}
        allowed = [item for i, item in enumerate(keys) if i not in refused]
        if not allowed and policy is not None and policy.require_allow:
            # Let in for this request only by the policy, which allows none of these keys:
            # refused whole, as a caller the bucket does not admit at all.
            raise AccessDenied("Access Denied")
        done = iter(
            s.objects.delete_objects(req.caller, req.bucket or "", allowed, bypass_governance(req))
        )
        outcomes = [
            (item[0], AccessDenied("Access Denied")) if i in refused else next(done)
            for i, item in enumerate(keys)
        ]
        return outcomes, [version for _, version, _ in keys], quiet

    outcomes, asked, quiet = await req.run(delete)
    parts = []
    for (key, done), version in zip(outcomes, asked, strict=True):
        named = f"<VersionId>{escape(version)}</VersionId>" if version is not None else ""
        if isinstance(done, Removal):
            if not quiet:
                parts.append(
                    f"<Deleted><Key>{escape(key)}</Key>{named}{_marker_xml(done)}</Deleted>"
                )
        else:
            if version is not None and not _version_id_shaped(version):
                done = NoSuchVersion()  # S3 compat: a key's id that cannot be one (AWS)
            mapped = (
                from_domain(done)
                if isinstance(done, DomainError)
                else S3Error("InternalError", "We encountered an internal error.", 500)
            )
            parts.append(
                f"<Error><Key>{escape(key)}</Key>{named}<Code>{mapped.code}</Code>"
                f"<Message>{escape(mapped.message)}</Message></Error>"
            )
    return Response.xml(document("DeleteResult", "".join(parts)))


def _version_id_shaped(version: str) -> bool:
    try:
        parse_version_id(version)
    except InvalidArgument:
        return False
    return True


def _marker_xml(removal: Removal) -> str:
    """What DeleteObjects says of a delete marker it added or removed."""
    if not removal.delete_marker:
        return ""
    # Added or removed for good (by its version id), AWS names the marker's version.
    return (
        "<DeleteMarker>true</DeleteMarker>"
        f"<DeleteMarkerVersionId>{shown(removal.version_id)}</DeleteMarkerVersionId>"
    )


async def copy_object(req: S3Request, s: Services) -> Response:
    source = copy_source(req)
    target = (req.bucket or "", req.key or "")
    same = source[:2] == target and source[2] is None
    directive = req.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise invalid_argument("Unknown metadata directive.", "x-amz-metadata-directive", directive)
    source_key = sse.customer_key(req, sse.COPY_SOURCE)
    requested = sse.write_key(req)
    # S3 compat: naming a storage class (even the object's own) or a website redirect makes
    # a copy onto itself legal.
    restates = "x-amz-storage-class" in req.headers or REDIRECT_LOCATION in req.headers
    if same and directive == "COPY" and not restates and not sse.changes_encryption(req):
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes.",
            400,
        )
    check_storage_class(req.headers.get("x-amz-storage-class"))
    new = write_content(req)
    tagging = req.headers.get("x-amz-tagging-directive", "COPY").upper()
    if tagging not in ("COPY", "REPLACE"):
        raise invalid_argument("Unknown tagging directive.", "x-amz-tagging-directive", tagging)

    def copy() -> tuple[ObjectMeta, ObjectMeta]:
        check_copy_source_signature(req, s, source)
        # S3 compat: a copy never takes its source's ACL: the request's, or private.
        access = new_object_acl(req.caller, req.headers, s.acl, target[0])
        if directive == "COPY" and REDIRECT_LOCATION in new.headers:
            # S3 compat: never the source's redirect; the request's, whatever the directive.
            access[REDIRECT_LOCATION] = new.headers[REDIRECT_LOCATION]
        target_key = s.objects.write_key(req.caller, target[0], requested)
        return s.objects.copy_object(
            req.caller,
            source,
            target,
            read_conditions(req, "x-amz-copy-source-"),
            new if directive == "REPLACE" else None,
            new,
            tags=(new.tags or ()) if tagging == "REPLACE" else None,
            source_key=source_key,
            target_key=target_key,
            access=access,
        )

    meta, src = await req.run(copy)
    headers = version_header(meta.version_id)
    headers.update(sse.response_headers(meta.headers, requested.customer, s.objects.seals_at_rest))
    headers.update(sse.context_header(req))
    headers.update(await req.now(lambda: expiration_headers(s, target[0], meta)))
    if src.version_id is not None or source[2] is not None:
        headers["x-amz-copy-source-version-id"] = shown(src.version_id)
    # S3 compat: the copy's checksum, which a copy of a whole object keeps, is answered too.
    checksums = "".join(f"<Checksum{a}>{v}</Checksum{a}>" for a, v in meta.checksums.items())
    if meta.checksums and meta.checksum_type:
        checksums += f"<ChecksumType>{meta.checksum_type}</ChecksumType>"
    response = Response.xml(
        document(
            "CopyObjectResult",
            f"<LastModified>{iso_time(meta.last_modified)}</LastModified>"
            f"<ETag>{quoted(meta.etag)}</ETag>{checksums}",
        )
    )
    response.headers.update(headers)
    return response
