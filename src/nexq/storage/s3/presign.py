"""Presigned S3 URLs (SigV4 query signing), made for callers of the REST API and console."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from nexq.storage.s3.sigv4 import (
    ALGORITHM,
    canonical_query_string,
    derive_signing_key,
    signature,
    string_to_sign,
    uri_encode,
)

MAX_EXPIRES = 7 * 24 * 3600  # SigV4's own limit for presigned URLs


def presign_url(
    endpoint: str,
    region: str,
    credentials: tuple[str, str],
    method: str,
    bucket: str,
    key: str,
    expires_in: int,
    now: datetime | None = None,
) -> str:
    """A path-style URL that lets its holder ``method`` the object until it expires."""
    key_id, secret = credentials
    when = now or datetime.now(UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    parts = urlsplit(endpoint)
    path = "/" + uri_encode(bucket) + "/" + "/".join(uri_encode(s) for s in key.split("/"))
    query = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{key_id}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires_in)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    canonical_query = canonical_query_string(query)
    canonical = (
        f"{method}\n{path}\n{canonical_query}\nhost:{parts.netloc}\n\nhost\nUNSIGNED-PAYLOAD"
    )
    signing_key = derive_signing_key(secret, amz_date[:8], region, "s3")
    signed = signature(signing_key, string_to_sign(amz_date, scope, canonical))
    return f"{parts.scheme}://{parts.netloc}{path}?{canonical_query}&X-Amz-Signature={signed}"
