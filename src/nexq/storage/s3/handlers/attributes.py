"""GetObjectAttributes: what HeadObject and ListParts tell of an object, in one answer."""

from __future__ import annotations

from nexq.storage.conditions import Conditions
from nexq.storage.encryption import CustomerKey, Presented
from nexq.storage.errors import DeleteMarkerFound
from nexq.storage.model import ObjectMeta
from nexq.storage.s3 import sse
from nexq.storage.s3.errors import S3Error, invalid_argument
from nexq.storage.s3.handlers.common import Services, version_header
from nexq.storage.s3.http import Response, S3Request, http_date
from nexq.storage.s3.xml import document, escape
from nexq.storage.versions import shown

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000
_INT_MAX = 2**31 - 1


async def get_object_attributes(req: S3Request, s: Services) -> Response:
    wanted = _attributes(req)
    max_parts = min(_header_int(req, "x-amz-max-parts", "max-parts", MAX_PARTS), MAX_PARTS)
    marker = _header_int(req, "x-amz-part-number-marker", "part-number-marker", 0)
    bucket, key = req.bucket or "", req.key or ""
    version = req.query.get("versionId")
    customer = sse.customer_key(req)  # S3 compat: an SSE-C object's metadata wants its key
    meta = await req.now(lambda: _head(req, s, bucket, key, version, customer))
    inner = ""
    if "ETag" in wanted:
        # S3 compat: the one answer where the ETag comes without its quotes.
        inner += f"<ETag>{escape(meta.etag)}</ETag>"
    if "Checksum" in wanted and meta.checksums:
        inner += _checksum(meta)
    if "ObjectParts" in wanted and meta.parts_count:
        inner += _object_parts(meta, marker, max_parts)
    if "StorageClass" in wanted:
        inner += "<StorageClass>STANDARD</StorageClass>"
    if "ObjectSize" in wanted:
        inner += f"<ObjectSize>{meta.size}</ObjectSize>"
    response = Response.xml(document("GetObjectAttributesResponse", inner))
    response.headers["last-modified"] = http_date(meta.last_modified)
    if version is not None:  # the version asked for is named, the null one too
        response.headers["x-amz-version-id"] = shown(meta.version_id)
    else:
        response.headers.update(version_header(meta.version_id))
    return response


def _head(
    req: S3Request,
    s: Services,
    bucket: str,
    key: str,
    version: str | None,
    customer: CustomerKey | None,
) -> ObjectMeta:
    """The object's latest version, or version ``version``."""
    try:
        return s.objects.head_object(
            req.caller, bucket, key, Conditions(), version, Presented(customer)
        )
    except DeleteMarkerFound as found:
        if not found.asked:
            raise
        # S3 compat: a versionId that names a delete marker is 404 NoSuchKey here (GET and
        # HEAD answer 405), still naming the marker as for a key whose latest is one.
        raise DeleteMarkerFound(found.version_id, found.last_modified, asked=False) from None


def _attributes(req: S3Request) -> set[str]:
    """The attributes asked for in ``x-amz-object-attributes`` (comma-separated)."""
    raw = req.headers.get("x-amz-object-attributes", "")
    names = {name.strip() for name in raw.split(",")} - {""}
    if not names:
        raise S3Error(
            "InvalidRequest",
            "The x-amz-object-attributes header specifying the attributes to be retrieved is "
            "either missing or empty",
            400,
        )
    if not names <= set(ATTRIBUTES):
        raise invalid_argument("Invalid attribute name specified.")
    return names


def _header_int(req: S3Request, header: str, name: str, default: int) -> int:
    value = req.headers.get(header, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) > _INT_MAX:
        raise invalid_argument(
            f"Argument {name} must be an integer between 0 and {_INT_MAX}", header, value
        )
    return int(value)


def _checksum(meta: ObjectMeta) -> str:
    # S3 compat: a COMPOSITE checksum comes without the "-<parts>" that HeadObject shows.
    values = "".join(
        f"<Checksum{alg}>{value.partition('-')[0]}</Checksum{alg}>"
        for alg, value in meta.checksums.items()
    )
    kind = f"<ChecksumType>{meta.checksum_type}</ChecksumType>" if meta.checksum_type else ""
    return f"<Checksum>{values}{kind}</Checksum>"


def _object_parts(meta: ObjectMeta, marker: int, max_parts: int) -> str:
    """The parts of a multipart object. S3 compat: the parts themselves are listed (a page
    of them, as ListParts pages) only when the object's checksum is COMPOSITE, made of
    theirs; otherwise only their count."""
    count = len(meta.segments)
    if meta.checksum_type != "COMPOSITE" or not meta.checksums:
        return f"<ObjectParts><PartsCount>{count}</PartsCount></ObjectParts>"
    algorithm = next(iter(meta.checksums))
    numbered = list(enumerate(meta.segments, start=1))[marker:]
    page = numbered[:max_parts]
    parts = "".join(
        f"<Part><PartNumber>{number}</PartNumber><Size>{segment.size}</Size>"
        + (
            f"<Checksum{algorithm}>{segment.checksum}</Checksum{algorithm}>"
            if segment.checksum
            else ""
        )
        + "</Part>"
        for number, segment in page
    )
    truncated = max_parts > 0 and len(numbered) > len(page)  # as ListParts: 0 is a full stop
    next_marker = page[-1][0] if page else 0  # S3 compat: 0 past the last part, as ListParts
    return (
        f"<ObjectParts><PartsCount>{count}</PartsCount>"
        f"<PartNumberMarker>{marker}</PartNumberMarker>"
        f"<NextPartNumberMarker>{next_marker}</NextPartNumberMarker>"
        f"<MaxParts>{max_parts}</MaxParts>"
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        f"{parts}</ObjectParts>"
    )
