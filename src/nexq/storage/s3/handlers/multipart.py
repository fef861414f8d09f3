"""Multipart uploads: Create, UploadPart(Copy), Complete, Abort, ListParts, ListMultipartUploads."""

from __future__ import annotations

import re

from nexq.storage.incoming import IncomingBody
from nexq.storage.model import ObjectMeta, Part, Upload
from nexq.storage.multipart import UploadPage, upload_parties
from nexq.storage.part_checksums import shown_part_checksums
from nexq.storage.s3 import sse
from nexq.storage.s3.acl import new_object_acl
from nexq.storage.s3.body import read_small, receive_and_store
from nexq.storage.s3.errors import (
    S3Error,
    invalid_argument,
    invalid_request,
    missing_content_length,
)
from nexq.storage.s3.handlers.common import (
    Services,
    check_copy_source_signature,
    check_storage_class,
    checksum_response_headers,
    content_headers,
    content_md5,
    copy_source,
    empty,
    int_param,
    object_url,
    part_number,
    party,
    quoted,
    read_conditions,
    request_tags,
    requested_checksums,
    trailer_checksums,
    user_metadata,
    version_header,
    write_content,
)
from nexq.storage.s3.handlers.lifecycle_headers import expiration_headers, upload_abort_headers
from nexq.storage.s3.handlers.listing import url_encoded
from nexq.storage.s3.handlers.objects import declared_size
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.lock_headers import lock_request
from nexq.storage.s3.xml import document, escape, iso_time, key_text, parse_complete

_COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


async def create_multipart_upload(req: S3Request, s: Services) -> Response:
    algorithm = req.headers.get("x-amz-checksum-algorithm")
    checksum_type = req.headers.get("x-amz-checksum-type")
    check_storage_class(req.headers.get("x-amz-storage-class"))
    requested = sse.write_key(req)

    def create() -> Upload:
        # The ACL rides with the upload's headers: the completed object gets it.
        access = new_object_acl(req.caller, req.headers, s.acl, req.bucket or "")
        return s.multipart.create(
            req.caller,
            req.bucket or "",
            req.key or "",
            {**content_headers(req), **access},
            user_metadata(req),
            algorithm,
            checksum_type.upper() if checksum_type else None,
            request_tags(req) or (),
            lock_request(req),
            s.objects.write_key(req.caller, req.bucket or "", requested),
        )

    upload = await req.run(create)
    headers = await req.now(lambda: upload_abort_headers(s, req.bucket or "", upload))
    headers.update(
        sse.response_headers(upload.headers, requested.customer, s.objects.seals_at_rest)
    )
    headers.update(sse.context_header(req))
    if upload.checksum_algorithm:
        headers["x-amz-checksum-algorithm"] = upload.checksum_algorithm
        headers["x-amz-checksum-type"] = upload.checksum_type or "COMPOSITE"
    response = Response.xml(
        document(
            "InitiateMultipartUploadResult",
            f"<Bucket>{req.bucket}</Bucket><Key>{escape(req.key or '')}</Key>"
            f"<UploadId>{upload.id}</UploadId>",
        )
    )
    response.headers.update(headers)
    return response


async def upload_part(req: S3Request, s: Services) -> Response:
    number = part_number(req)
    upload_id = req.query.get("uploadId", "")
    algorithms, header_sums = requested_checksums(req)
    bucket, key = req.bucket or "", req.key or ""
    md5 = content_md5(req)
    customer = sse.customer_key(req)
    sealed_as: dict[str, str] = {}  # the upload's headers, for the answer

    def start() -> IncomingBody:
        upload = s.multipart.upload(req.caller, bucket, key, upload_id)
        sealed_as.update(upload.headers)
        # A part without the checksum its upload needs is refused before its body is read.
        wanted = s.multipart.part_checksums(upload, algorithms)
        # A part that cannot fit the quota (with the upload parts it holds) is refused now.
        s.multipart.check_part_room(req.caller, bucket, upload, number, declared_size(req))
        return s.multipart.receive_part(upload, wanted, customer)

    def store(body: IncomingBody, trailers: dict[str, str]) -> Part:
        sums = {**header_sums, **trailer_checksums(trailers)}
        return s.multipart.upload_part(req.caller, bucket, key, upload_id, number, body, md5, sums)

    part = await receive_and_store(req, start, store)
    # The checksums the client named; the upload's own (which the server computes for the
    # completion) only when it named none, so one header answers a client that sent one.
    answered = {a: v for a, v in part.checksums.items() if a in algorithms} or part.checksums
    return empty(
        200,
        {
            "etag": quoted(part.etag),
            **checksum_response_headers(answered),
            **sse.part_headers(sealed_as, customer, s.objects.seals_at_rest),
        },
    )


async def upload_part_copy(req: S3Request, s: Services) -> Response:
    number = part_number(req)
    source = copy_source(req)
    raw_range = req.headers.get("x-amz-copy-source-range")
    byte_range = None
    if raw_range is not None:
        match = _COPY_RANGE.match(raw_range.strip())
        if match is None:
            raise invalid_argument(
                "The x-amz-copy-source-range value must be of the form bytes=first-last where "
                "first and last are the zero-based offsets of the first and last bytes to copy",
                "x-amz-copy-source-range",
                raw_range,
            )
        byte_range = (int(match.group(1)), int(match.group(2)))
    target = (req.bucket or "", req.key or "", req.query.get("uploadId", ""), number)
    source_key = sse.customer_key(req, sse.COPY_SOURCE)
    customer = sse.customer_key(req)

    def copy() -> tuple[Part, Upload]:
        check_copy_source_signature(req, s, source)
        part = s.multipart.upload_part_copy(
            req.caller,
            target,
            source,
            byte_range,
            read_conditions(req, "x-amz-copy-source-"),
            source_key,
            customer,
        )
        return part, s.multipart.upload(req.caller, *target[:3])

    part, upload = await req.run(copy)
    shown = shown_part_checksums(upload, part.checksums)
    response = Response.xml(
        document(
            "CopyPartResult",
            f"<LastModified>{iso_time(part.last_modified)}</LastModified>"
            f"<ETag>{quoted(part.etag)}</ETag>"
            + "".join(f"<Checksum{a}>{v}</Checksum{a}>" for a, v in shown.items()),
        )
    )
    response.headers.update(sse.part_headers(upload.headers, customer, s.objects.seals_at_rest))
    return response


async def complete_multipart_upload(req: S3Request, s: Services) -> Response:
    body = await read_small(req, 4 * 1024 * 1024)
    if body is None:
        raise missing_content_length()
    conditions = write_content(req)
    upload_id = req.query.get("uploadId", "")

    def complete() -> ObjectMeta:
        # S3 compat: an upload that does not exist is NoSuchUpload whatever the document
        # says, and a document naming no part is InvalidRequest, as AWS answers.
        try:
            parts = parse_complete(body)
        except S3Error:
            s.multipart.upload(req.caller, req.bucket or "", req.key or "", upload_id)
            raise
        if not parts:
            s.multipart.upload(req.caller, req.bucket or "", req.key or "", upload_id)
            raise invalid_request("You must specify at least one part")
        return s.multipart.complete(
            req.caller, req.bucket or "", req.key or "", upload_id, parts, conditions
        )

    meta = await req.run(complete)
    sums = "".join(
        f"<Checksum{alg.upper()}>{value}</Checksum{alg.upper()}>"
        for alg, value in meta.checksums.items()
    )
    if meta.checksum_type and meta.checksums:
        sums += f"<ChecksumType>{meta.checksum_type}</ChecksumType>"
    response = Response.xml(
        document(
            "CompleteMultipartUploadResult",
            f"<Location>{escape(object_url(req, req.key or ''))}</Location>"
            f"<Bucket>{req.bucket}</Bucket><Key>{escape(req.key or '')}</Key>"
            f"<ETag>{quoted(meta.etag)}</ETag>{sums}",
        )
    )
    response.headers.update(version_header(meta.version_id))
    response.headers.update(await req.now(lambda: expiration_headers(s, req.bucket or "", meta)))
    response.headers.update(sse.response_headers(meta.headers, None, s.objects.seals_at_rest))
    return response


async def abort_multipart_upload(req: S3Request, s: Services) -> Response:
    await req.run(
        lambda: s.multipart.abort(
            req.caller, req.bucket or "", req.key or "", req.query.get("uploadId", "")
        )
    )
    return empty(204)


async def list_parts(req: S3Request, s: Services) -> Response:
    max_parts = int_param(req, "max-parts", 1000, 1000)
    marker = int_param(req, "part-number-marker", 0, 10_000)

    def listed() -> tuple[tuple[Upload, list[Part], bool], str]:
        found = s.multipart.list_parts(
            req.caller,
            req.bucket or "",
            req.key or "",
            req.query.get("uploadId", ""),
            marker,
            max_parts,
        )
        return found, bucket_owner(req, s)

    (upload, parts, truncated), owner_of_bucket = await req.run(listed)
    items = "".join(
        f"<Part><PartNumber>{p.number}</PartNumber>"
        f"<LastModified>{iso_time(p.last_modified)}</LastModified>"
        f"<ETag>{quoted(p.etag)}</ETag><Size>{p.size}</Size>"
        + "".join(
            f"<Checksum{a}>{v}</Checksum{a}>"
            for a, v in shown_part_checksums(upload, p.checksums).items()
        )
        + "</Part>"
        for p in parts
    )
    next_marker = parts[-1].number if parts else 0
    initiator, owner = upload_parties(upload, owner_of_bucket)
    inner = (
        f"<Bucket>{req.bucket}</Bucket><Key>{escape(upload.key)}</Key>"
        f"<UploadId>{upload.id}</UploadId>"
        f"<Initiator>{party(req, initiator)}</Initiator><Owner>{party(req, owner)}</Owner>"
        "<StorageClass>STANDARD</StorageClass>"
        f"<PartNumberMarker>{marker}</PartNumberMarker>"
        f"<NextPartNumberMarker>{next_marker}</NextPartNumberMarker>"
        f"<MaxParts>{max_parts}</MaxParts>"
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
    )
    if upload.checksum_algorithm:
        inner += (
            f"<ChecksumAlgorithm>{upload.checksum_algorithm}</ChecksumAlgorithm>"
            f"<ChecksumType>{upload.checksum_type or 'COMPOSITE'}</ChecksumType>"
        )
    response = Response.xml(document("ListPartsResult", inner + items))
    response.headers.update(
        await req.now(lambda: upload_abort_headers(s, req.bucket or "", upload))
    )
    return response


async def list_multipart_uploads(req: S3Request, s: Services) -> Response:
    max_uploads = int_param(req, "max-uploads", 1000, 1000)
    prefix = req.query.get("prefix", "")
    key_marker = req.query.get("key-marker", "")
    id_marker = req.query.get("upload-id-marker", "")
    # S3 compat: upload-id-marker is ignored without key-marker, and key-marker alone resumes
    # after every upload of that key.
    after = (key_marker, id_marker or None) if key_marker else None
    url = url_encoded(req)
    delimiter = req.query.get("delimiter", "")

    def listed() -> tuple[UploadPage, str]:
        if key_marker and id_marker:
            s.multipart.check_upload_marker(req.caller, req.bucket or "", key_marker, id_marker)
        if delimiter:
            page = s.multipart.list_uploads_grouped(
                req.caller, req.bucket or "", prefix, delimiter, after, max_uploads
            )
        else:
            uploads, truncated = s.multipart.list_uploads(
                req.caller, req.bucket or "", prefix, after, max_uploads
            )
            last = (uploads[-1].key, uploads[-1].id) if uploads else None
            page = UploadPage(uploads, [], truncated, last)
        return page, bucket_owner(req, s)

    page, owner_of_bucket = await req.run(listed)
    items = "".join(_listed_upload(req, u, owner_of_bucket, url) for u in page.uploads)
    items += "".join(
        f"<CommonPrefixes><Prefix>{key_text(p, url)}</Prefix></CommonPrefixes>"
        for p in page.prefixes
    )
    inner = (
        f"<Bucket>{req.bucket}</Bucket><KeyMarker>{key_text(key_marker, url)}</KeyMarker>"
        # S3 compat: the marker it ignored (no key-marker) is echoed empty.
        f"<UploadIdMarker>{escape(id_marker if key_marker else '')}</UploadIdMarker>"
        # S3 compat: no Prefix element when none was asked for (ListObjects has one always).
        + (f"<Prefix>{key_text(prefix, url)}</Prefix>" if "prefix" in req.query else "")
        + f"<MaxUploads>{max_uploads}</MaxUploads>"
        f"<IsTruncated>{'true' if page.truncated else 'false'}</IsTruncated>"
    )
    if delimiter:
        inner += f"<Delimiter>{key_text(delimiter, url)}</Delimiter>"
    # S3 compat: AWS names where a next page would start whether or not there is one
    # (empty when nothing was listed).
    next_key, next_id = page.last or ("", "")
    inner += (
        f"<NextKeyMarker>{key_text(next_key, url)}</NextKeyMarker>"
        f"<NextUploadIdMarker>{next_id}</NextUploadIdMarker>"
    )
    if url:
        inner += "<EncodingType>url</EncodingType>"
    return Response.xml(document("ListMultipartUploadsResult", inner + items))


def _listed_upload(req: S3Request, upload: Upload, owner_of_bucket: str, url: bool) -> str:
    initiator, owner = upload_parties(upload, owner_of_bucket)
    return (
        f"<Upload><Key>{key_text(upload.key, url)}</Key><UploadId>{upload.id}</UploadId>"
        f"<Initiator>{party(req, initiator)}</Initiator><Owner>{party(req, owner)}</Owner>"
        f"<StorageClass>STANDARD</StorageClass><Initiated>{iso_time(upload.initiated)}</Initiated>"
        "</Upload>"
    )


def bucket_owner(req: S3Request, s: Services) -> str:
    """The account id of the bucket the request names (it exists: the listing found it)."""
    bucket = s.objects.directory.bucket(req.bucket or "")
    return bucket.account_id if bucket is not None else ""
