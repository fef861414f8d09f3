"""SigV4 computed by hand, as AWS documents it, for tests that must not trust the server's code."""

from __future__ import annotations

import hashlib
import hmac

from tests.live import REGION


def signing_key(secret: str, day: str) -> bytes:
    """The derived key for ``day`` (YYYYMMDD) in the tests' region."""
    key = ("AWS4" + secret).encode()
    for part in (day, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign_request(secret: str, amz_date: str, canonical_request: str) -> str:
    """The hex signature of a canonical request made at ``amz_date``."""
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = signing_key(secret, amz_date[:8])
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_put(path: str, headers: dict[str, str], payload: str) -> tuple[str, str]:
    """(canonical request, signed header list) of a PUT signing every header in ``headers``."""
    signed = ";".join(sorted(headers))
    lines = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
    return "\n".join(["PUT", path, "", lines, signed, payload]), signed


def authorization(key_id: str, amz_date: str, signed: str, signature: str) -> str:
    """The SigV4 Authorization header value."""
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    return (
        f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
