"""Listings: ListObjects, ListObjectsV2."""

from __future__ import annotations

import base64
import binascii

from nexq.storage.model import ListedObject, Listing
from nexq.storage.s3.errors import invalid_argument
from nexq.storage.s3.handlers.common import (
    Services,
    int_param,
    listed_checksum,
    listed_owner,
    quoted,
)
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.xml import document, escape, iso_time, key_text

MAX_KEYS = 1000


def url_encoded(req: S3Request) -> bool:
    encoding = req.query.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise invalid_argument(
            "Invalid Encoding Method specified in Request", "encoding-type", encoding
        )
    return encoding == "url"


def _contents(
    req: S3Request, s: Services, objects: list[ListedObject], url: bool, owner: bool
) -> str:
    owner_xml = listed_owner(req, s) if owner else ""
    return "".join(
        f"<Contents><Key>{key_text(o.key, url)}</Key>"
        f"<LastModified>{iso_time(o.last_modified)}</LastModified>"
        f"<ETag>{escape(quoted(o.etag))}</ETag>"
        f"{listed_checksum(o.checksum_algorithms, o.checksum_type)}<Size>{o.size}</Size>{owner_xml}"
        "<StorageClass>STANDARD</StorageClass></Contents>"
        for o in objects
    )


def _listed(s: Services, xml: str) -> Response:
    """A listing's answer; S3 compat: AWS names the bucket's region on listings, as on
    HeadBucket (SDKs read it to follow a bucket to its region)."""
    response = Response.xml(xml)
    response.headers["x-amz-bucket-region"] = s.region
    return response


def _prefixes(listing: Listing, url: bool) -> str:
    return "".join(
        f"<CommonPrefixes><Prefix>{key_text(p, url)}</Prefix></CommonPrefixes>"
        for p in listing.common_prefixes
    )


def _list(req: S3Request, s: Services, after: str | None, max_keys: int) -> Listing:
    return s.objects.list_objects(
        req.caller,
        req.bucket or "",
        req.query.get("prefix", ""),
        req.query.get("delimiter", ""),
        after,
        max_keys,
    )


async def list_objects(req: S3Request, s: Services) -> Response:
    url = url_encoded(req)
    max_keys = int_param(req, "max-keys", MAX_KEYS, MAX_KEYS)
    marker = req.query.get("marker", "")
    listing = await req.run(lambda: _list(req, s, marker or None, max_keys))
    delimiter = req.query.get("delimiter", "")
    inner = (
        f"<Name>{req.bucket}</Name><Prefix>{key_text(req.query.get('prefix', ''), url)}</Prefix>"
        f"<Marker>{key_text(marker, url)}</Marker><MaxKeys>{max_keys}</MaxKeys>"
    )
    if delimiter:
        inner += f"<Delimiter>{key_text(delimiter, url)}</Delimiter>"
    inner += f"<IsTruncated>{'true' if listing.is_truncated else 'false'}</IsTruncated>"
    if listing.is_truncated and delimiter and listing.next_marker is not None:
        # S3 compat: NextMarker is sent only with a delimiter; without one clients use the last key.
        inner += f"<NextMarker>{key_text(listing.next_marker, url)}</NextMarker>"
    if url:
        inner += "<EncodingType>url</EncodingType>"
    inner += _contents(req, s, listing.objects, url, True) + _prefixes(listing, url)
    return _listed(s, document("ListBucketResult", inner))


def _token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _from_token(token: str) -> str:
    try:
        after = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        after = ""
    if not after:  # an empty token too, as AWS answers it (no listing starts from nothing)
        raise invalid_argument(
            "The continuation token provided is incorrect", "continuation-token", token
        )
    return after


async def list_objects_v2(req: S3Request, s: Services) -> Response:
    url = url_encoded(req)
    max_keys = int_param(req, "max-keys", MAX_KEYS, MAX_KEYS)
    token = req.query.get("continuation-token")
    start_after = req.query.get("start-after", "")
    after = _from_token(token) if token is not None else (start_after or None)
    listing = await req.run(lambda: _list(req, s, after, max_keys))
    delimiter = req.query.get("delimiter", "")
    fetch_owner = req.query.get("fetch-owner", "false").lower() == "true"
    inner = (
        f"<Name>{req.bucket}</Name><Prefix>{key_text(req.query.get('prefix', ''), url)}</Prefix>"
        f"<MaxKeys>{max_keys}</MaxKeys>"
        f"<KeyCount>{len(listing.objects) + len(listing.common_prefixes)}</KeyCount>"
    )
    if delimiter:
        inner += f"<Delimiter>{key_text(delimiter, url)}</Delimiter>"
    inner += f"<IsTruncated>{'true' if listing.is_truncated else 'false'}</IsTruncated>"
    if token is not None:
        inner += f"<ContinuationToken>{escape(token)}</ContinuationToken>"
    if listing.is_truncated and listing.next_marker is not None:
        inner += f"<NextContinuationToken>{_token(listing.next_marker)}</NextContinuationToken>"
    if start_after and token is None:  # S3 compat: a token, not start-after, says where
        inner += f"<StartAfter>{key_text(start_after, url)}</StartAfter>"
    if url:
        inner += "<EncodingType>url</EncodingType>"
    inner += _contents(req, s, listing.objects, url, fetch_owner) + _prefixes(listing, url)
    return _listed(s, document("ListBucketResult", inner))
