"""What several handler families share: the services, and headers in and out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote

from nexq.storage.access_control import AccessControl
from nexq.storage.conditions import Conditions
from nexq.storage.model import CHECKSUM_ALGORITHMS, CONTENT_HEADERS, MAX_PART_NUMBER, ObjectMeta
from nexq.storage.multipart import Multipart
from nexq.storage.s3 import encoded_words, sse
from nexq.storage.s3.errors import S3Error, invalid_argument
from nexq.storage.s3.http import Response, S3Request, http_date, parse_http_date
from nexq.storage.s3.lock_headers import lock_headers, lock_request
from nexq.storage.s3.tagging_xml import parse_tagging_header
from nexq.storage.s3.xml import escape
from nexq.storage.service import NewContent, ObjectStorage
from nexq.storage.website import REDIRECT_LOCATION


@dataclass(frozen=True, slots=True)
class Services:
    """What the handlers call."""

    objects: ObjectStorage
    multipart: Multipart
    acl: AccessControl
    region: str


Handler = Callable[[S3Request, Services], Awaitable[Response]]


def quoted(etag: str) -> str:
    return f'"{etag}"'


def content_headers(req: S3Request) -> dict[str, str]:
    """The standard content headers of a write, as stored."""
    headers = {name: req.headers[name] for name in CONTENT_HEADERS if name in req.headers}
    headers.setdefault("content-type", "binary/octet-stream")
    check_redirect_location(headers.get(REDIRECT_LOCATION))
    if "content-encoding" in headers:
        encoding = stored_encoding(headers["content-encoding"])
        if encoding:
            headers["content-encoding"] = encoding
        else:
            del headers["content-encoding"]
    return headers


def check_redirect_location(value: str | None) -> None:
    """Refuse an object's website redirect that is neither a path in the bucket nor a URL,
    as S3 does (its limit: 2 KB)."""
    if value is None:
        return
    if not value.startswith(("/", "http://", "https://")) or len(value.encode()) > 2048:
        raise S3Error(
            "InvalidRedirectLocation",
            "The website redirect location must have a prefix of 'http://' or 'https://' or '/'.",
            400,
        )


def stored_encoding(value: str) -> str:
    """Content-Encoding as stored: without ``aws-chunked``, which only frames this request's
    body (S3 compat: ``aws-chunked,gzip`` is stored as ``gzip``, ``aws-chunked`` as none)."""
    tokens = [t.strip() for t in value.split(",")]
    if not any(t.lower() == "aws-chunked" for t in tokens):
        return value
    return ",".join(t for t in tokens if t and t.lower() != "aws-chunked")


def user_metadata(req: S3Request) -> dict[str, str]:
    """The ``x-amz-meta-*`` headers of a write, names lowercased, values as S3 stores them
    (RFC 2047 encoded-words decoded: ``s3/encoded_words.py``)."""
    return {
        k[11:]: encoded_words.decode(v)
        for k, v in req.headers.items()
        if k.startswith("x-amz-meta-")
    }


def requested_checksums(req: S3Request) -> tuple[set[str], dict[str, str]]:
    """The algorithms to compute and the values the client sent in headers."""
    values: dict[str, str] = {}
    algorithms: set[str] = set()
    for alg in CHECKSUM_ALGORITHMS:
        value = req.headers.get(f"x-amz-checksum-{alg.lower()}")
        if value is not None:
            if not _is_digest(value, CHECKSUM_BYTES[alg]):
                # S3 compat: a value that cannot be a digest is InvalidRequest, not BadDigest.
                raise S3Error(
                    "InvalidRequest",
                    f"Value for x-amz-checksum-{alg.lower()} header is invalid.",
                    400,
                )
            values[alg] = value
            algorithms.add(alg)
    named = req.headers.get("x-amz-sdk-checksum-algorithm") or req.headers.get(
        "x-amz-checksum-algorithm"
    )
    if named:
        if named.upper() not in CHECKSUM_ALGORITHMS:
            raise invalid_argument(
                "Value for x-amz-checksum-algorithm header is invalid.",
                "x-amz-checksum-algorithm",
                named,
            )
        algorithms.add(named.upper())
    trailer = req.headers.get("x-amz-trailer", "")
    for name in trailer.split(","):
        name = name.strip().lower()
        if name.startswith("x-amz-checksum-"):
            alg = name.removeprefix("x-amz-checksum-").upper()
            if alg not in CHECKSUM_ALGORITHMS:
                raise invalid_argument("Invalid trailer: unknown checksum.", "x-amz-trailer", name)
            algorithms.add(alg)
    if len(values) > 1:
        raise S3Error(
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            400,
        )
    return algorithms, values


def listed_checksum(algorithms: tuple[str, ...], kind: str | None) -> str:
    """An object's checksum as listings name it: its algorithms and type, not the values."""
    names = "".join(f"<ChecksumAlgorithm>{name}</ChecksumAlgorithm>" for name in algorithms)
    return f"{names}<ChecksumType>{kind}</ChecksumType>" if names and kind else names


CHECKSUM_BYTES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}


def content_md5(req: S3Request) -> str | None:
    """The Content-MD5 header, refused before any byte of the body is read if it cannot be
    an MD5 at all (InvalidDigest; one that is an MD5 but not the body's is BadDigest)."""
    value = req.headers.get("content-md5")
    if value is not None and not _is_digest(value, 16):
        raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.", 400)
    return value


def _is_digest(value: str, length: int) -> bool:
    try:
        return len(base64.b64decode(value.strip(), validate=True)) == length
    except (binascii.Error, ValueError):
        return False


def trailer_checksums(trailers: dict[str, str]) -> dict[str, str]:
    """Checksums sent as aws-chunked trailers."""
    return {
        k.removeprefix("x-amz-checksum-").upper(): v
        for k, v in trailers.items()
        if k.startswith("x-amz-checksum-")
    }


def read_conditions(req: S3Request, prefix: str = "") -> Conditions:
    """If-* headers (``prefix`` is ``x-amz-copy-source-`` for a copy's source)."""
    h = req.headers
    return Conditions(
        if_match=h.get(f"{prefix}if-match"),
        if_none_match=h.get(f"{prefix}if-none-match"),
        if_modified_since=parse_http_date(h.get(f"{prefix}if-modified-since")),
        if_unmodified_since=parse_http_date(h.get(f"{prefix}if-unmodified-since")),
    )


def write_content(req: S3Request, checksums: dict[str, str] | None = None) -> NewContent:
    """The headers, metadata and conditions of a write."""
    if_none_match = req.headers.get("if-none-match")
    if_match = req.headers.get("if-match")
    # S3 compat: a write takes one condition, If-None-Match only as "*" and If-Match only as
    # an ETag; anything else is 501 naming the header(s), as AWS answers.
    if if_match is not None and if_none_match is not None:
        raise _not_implemented(
            "If-Match,If-None-Match", "Multiple conditional request headers present in the request"
        )
    if if_none_match is not None and if_none_match.strip() != "*":
        raise _not_implemented(
            "If-None-Match",
            "We don't accept the provided value of If-None-Match header for this API",
        )
    if if_match is not None and if_match.strip() == "*":
        raise _not_implemented(
            "If-Match", "We don't accept the provided value of If-Match header for this API"
        )
    return NewContent(
        headers=content_headers(req),
        metadata=user_metadata(req),
        content_md5=content_md5(req),
        checksums=checksums,
        if_match=if_match,
        if_none_match=if_none_match is not None,
        tags=request_tags(req),
        lock=lock_request(req),
    )


def _not_implemented(header: str, detail: str) -> S3Error:
    """S3's refusal of a write condition it does not offer, naming the header(s)."""
    return S3Error(
        "NotImplemented",
        "A header you provided implies functionality that is not implemented",
        501,
        {"Header": header, "additionalMessage": detail},
    )


def check_storage_class(asked: str | None) -> None:
    """Refuse a write that asks (``x-amz-storage-class``) for a storage class other than
    STANDARD, the one Nexq keeps every object in: as S3 refuses a class it does not offer
    (InvalidStorageClass), rather than store the object in STANDARD while its writer counts
    on (and budgets for) another."""
    if asked is not None and asked != "STANDARD":
        raise S3Error(
            "InvalidStorageClass",
            "The storage class you specified is not valid",
            400,
            {"StorageClassRequested": asked},
        )


def request_tags(req: S3Request) -> tuple[tuple[str, str], ...] | None:
    """The x-amz-tagging header's tags, checked (None when the header is absent)."""
    value = req.headers.get("x-amz-tagging")
    return None if value is None else tuple(parse_tagging_header(value))


def object_headers(meta: ObjectMeta, with_checksums: bool, one_part: bool) -> dict[str, str]:
    """The headers GET and HEAD answer with (those stored as "x-nexq-…" are Nexq's own); a
    multipart object's part count only to a read of one part (``one_part``), as AWS."""
    headers = {k: v for k, v in meta.headers.items() if not k.startswith("x-nexq-")}
    headers["etag"] = quoted(meta.etag)
    headers["last-modified"] = http_date(meta.last_modified)
    headers["accept-ranges"] = "bytes"
    for name, value in meta.metadata.items():
        headers[f"x-amz-meta-{name}"] = encoded_words.encode(value)
    if meta.parts_count and one_part:
        headers["x-amz-mp-parts-count"] = str(meta.parts_count)
    headers.update(version_header(meta.version_id))
    if meta.tags:
        headers["x-amz-tagging-count"] = str(len(meta.tags))
    headers.update(lock_headers(meta))
    if with_checksums:
        for alg, value in meta.checksums.items():
            headers[f"x-amz-checksum-{alg.lower()}"] = value
        if meta.checksum_type:
            headers["x-amz-checksum-type"] = meta.checksum_type
    return headers


def version_header(version_id: str | None) -> dict[str, str]:
    """x-amz-version-id for a version that has an id (the null version is answered without)."""
    return {"x-amz-version-id": version_id} if version_id is not None else {}


def checksum_response_headers(checksums: dict[str, str]) -> dict[str, str]:
    return {f"x-amz-checksum-{alg.lower()}": value for alg, value in checksums.items()}


def copy_source(req: S3Request) -> tuple[str, str, str | None]:
    """x-amz-copy-source as (bucket, key, versionId or None for the latest version)."""
    raw = req.headers.get("x-amz-copy-source", "")
    path, _, query = raw.partition("?")
    value = unquote(path).lstrip("/")
    bucket, _, key = value.partition("/")
    if not bucket or not key:
        raise invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            "x-amz-copy-source",
            raw,
        )
    version = parse_qs(query, keep_blank_values=True).get("versionId") if query else None
    return bucket, key, version[0] if version else None


def part_number(req: S3Request) -> int:
    value = req.query.get("partNumber", "")
    # S3 compat: 0, 10001 and "x" are all InvalidArgument (a number past the object's parts
    # is InvalidPartNumber, later); ASCII digits only, and short enough for int().
    if not (value.isascii() and value.isdigit() and len(value.lstrip("0")) <= 5) or not (
        1 <= int(value) <= MAX_PART_NUMBER
    ):
        raise invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
            "partNumber",
            value,
        )
    return int(value)


def int_param(req: S3Request, name: str, default: int, maximum: int) -> int:
    value = req.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise invalid_argument(
            f"Provided {name} not an integer or within integer range", name, value
        ) from None
    if number < 0:
        raise invalid_argument(
            f"Argument {name} must be an integer between 0 and 2147483647", name, value
        )
    return min(number, maximum)


def empty(status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, headers or {})


def check_copy_source_signature(
    req: S3Request, s: Services, source: tuple[str, str, str | None]
) -> None:
    """A copy reads its source's bytes, so an SSE-KMS source wants SigV4 as a GET of it
    does. Only a request not signed with SigV4 (rare) pays the lookup of the source."""
    if sse.signed_v4(req):
        return
    meta = s.objects.head_object(req.caller, source[0], source[1], Conditions(), source[2])
    sse.check_kms_read(req, meta.headers)


def object_url(req: S3Request, key: str) -> str:
    """The URL of ``key`` in the request's bucket, as S3 answers it (CompleteMultipartUpload's
    and PostObject's Location): the way the client addressed the bucket, the key
    percent-encoded, "/" too."""
    host = req.headers.get("host", "")
    bucket = req.bucket or ""
    virtual_hosted = host.partition(":")[0].startswith(f"{bucket}.")
    path = quote(key, safe="") if virtual_hosted else f"{bucket}/{quote(key, safe='')}"
    return f"{req.scheme}://{host}/{path}"


def party(req: S3Request, account_id: str) -> str:
    """An account named in a listing (an upload's Initiator or Owner): its ID. S3 compat: no
    DisplayName, which AWS stopped answering in November 2025 (and which was an email)."""
    return f"<ID>{escape(account_id)}</ID>"


def listed_owner(req: S3Request, s: Services) -> str:
    """The ``<Owner>`` of the objects a listing shows: the bucket's owner, by id (no
    DisplayName, as :func:`party`); an anonymous caller sees no owner at all (as AWS answers
    it)."""
    bucket = s.objects.directory.bucket(req.bucket or "")
    account = req.credential.account if req.credential else None
    if bucket is None or account is None or not account.id:  # the anonymous account has none
        return ""
    return f"<Owner><ID>{bucket.account_id}</ID></Owner>"
