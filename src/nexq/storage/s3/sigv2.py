"""AWS Signature Version 2 for S3 (``Authorization: AWS AKID:sig`` and presigned URLs), server side.

The string to sign is what botocore's HmacV1Auth and HmacV1QueryAuth build: the method, the
Content-MD5, Content-Type and Date (or Expires) lines, the ``x-amz-*`` headers, and the
canonical resource, which is the path as sent plus S3's sub-resources.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# botocore's HmacV1Auth.QSAOfInterest: the query parameters that take part in the signature.
# Other clients may sign a slightly different set; matching botocore is what counts here.
SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)

QueryPairs = Sequence[tuple[str, str | None]]
"""Percent-decoded (name, value) pairs in wire order; None when the pair had no ``=``."""


class SigV2Error(Exception):
    """A request's SigV2 authentication is malformed; ``code`` is the S3 error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class SigV2Credential:
    """Who signed a SigV2 request, the signature, and for a presigned URL its expiry."""

    access_key_id: str
    signature: str
    expires: int | None = None


def parse_authorization_header(value: str) -> SigV2Credential:
    """Parse ``AWS AKID:base64-signature``."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != "AWS":
        raise SigV2Error("InvalidArgument", "Unsupported Authorization Type")
    access_key_id, colon, signature = rest.strip().rpartition(":")
    if not colon or not access_key_id or not signature:
        raise SigV2Error(
            "InvalidArgument",
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
        )
    return SigV2Credential(access_key_id=access_key_id, signature=signature)


def is_presigned(query: QueryPairs) -> bool:
    """Whether the query carries SigV2 query-string authentication."""
    return any(name == "AWSAccessKeyId" for name, _ in query)


def parse_presigned_query(query: QueryPairs) -> SigV2Credential:
    """Parse ``AWSAccessKeyId``, ``Signature`` and ``Expires`` of a presigned URL."""
    found: dict[str, str] = {}
    for name, value in query:
        if name in ("AWSAccessKeyId", "Signature", "Expires"):
            if name in found:
                raise SigV2Error("InvalidArgument", f"{name} appears more than once.")
            found[name] = value or ""
    if not all(found.get(name) for name in ("AWSAccessKeyId", "Signature", "Expires")):
        raise SigV2Error(
            "AccessDenied",
            "Query-string authentication requires the Signature, Expires and "
            "AWSAccessKeyId parameters",
        )
    expires = found["Expires"]
    if not (expires.isascii() and expires.isdigit()):
        raise SigV2Error("AccessDenied", "Invalid date (should be seconds since epoch)")
    return SigV2Credential(
        access_key_id=found["AWSAccessKeyId"], signature=found["Signature"], expires=int(expires)
    )


def canonical_amz_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The ``x-amz-*`` headers by lowercase name, repeated ones joined with commas."""
    found: dict[str, list[str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith("x-amz-"):
            found.setdefault(lower, []).append(value.strip())
    return {name: ",".join(values) for name, values in found.items()}


def date_line(date: str | None, x_amz_date: str | None) -> str:
    """The Date line of a header-signed request: empty when x-amz-date stands in for Date."""
    # x-amz-date is then signed among the x-amz-* headers instead.
    if x_amz_date is not None:
        return ""
    return (date or "").strip()


def canonical_resource(bucket: str | None, raw_path: str | bytes, query: QueryPairs) -> str:
    """``/bucket/key`` as sent on the wire, then ``?`` and S3's sub-resources sorted by name.

    ``bucket`` is given for virtual-hosted requests, whose path lacks it; for path-style
    requests pass None and the path already starts with the bucket.
    """
    if isinstance(raw_path, bytes):
        raw_path = raw_path.decode("utf-8", "surrogateescape")
    resource = raw_path or "/"
    if bucket:
        resource = f"/{bucket}{resource}"
    # A stable sort by name only, like botocore: repeated names keep their wire order.
    picked = sorted(((n, v) for n, v in query if n in SUBRESOURCES), key=lambda pair: pair[0])
    if picked:
        # Values are signed decoded; a bare name (no "=") stays bare.
        resource += "?" + "&".join(
            name if value is None else f"{name}={value}" for name, value in picked
        )
    return resource


def string_to_sign(
    method: str,
    content_md5: str,
    content_type: str,
    date_or_expires: str,
    amz_headers: Mapping[str, str],
    canonical_resource: str,
) -> str:
    """The SigV2 string to sign; ``amz_headers`` maps lowercase x-amz-* names to values."""
    lines = [method, content_md5.strip(), content_type.strip(), date_or_expires.strip()]
    lines.extend(f"{name}:{amz_headers[name]}" for name in sorted(amz_headers))
    lines.append(canonical_resource)
    return "\n".join(lines)


def sign(secret: str, string_to_sign: str) -> str:
    """The base64 HMAC-SHA1 of a string to sign."""
    digest = hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8", "surrogateescape"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(expected: str, actual: str) -> bool:
    """Constant-time comparison of the signature we computed with the one the client sent."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogateescape"), actual.encode("utf-8", "surrogateescape")
    )
