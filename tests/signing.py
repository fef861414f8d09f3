"""SigV4 computed by hand, as AWS documents it, for tests that must not trust the server's code."""

from __future__ import annotations

import datetime as dt
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


def amz_now() -> str:
    """The x-amz-date of a request signed now."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def signed_chunks(
    key_id: str,
    secret: str,
    path: str,
    headers: dict[str, str],
    chunks: list[bytes],
    corrupt: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """A PUT in STREAMING-AWS4-HMAC-SHA256-PAYLOAD, signed by hand as AWS documents it: the
    request's headers (``headers`` signed, with host among them; the framing headers added)
    and its aws-chunked body, whose chunk ``corrupt`` has a flipped bit after signing."""
    payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    amz_date = amz_now()
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    headers = {
        "content-encoding": "aws-chunked",
        **headers,
        "x-amz-content-sha256": payload,
        "x-amz-date": amz_date,
        "x-amz-decoded-content-length": str(sum(len(c) for c in chunks)),
    }
    canonical, signed = canonical_put(path, headers, payload)
    key = signing_key(secret, amz_date[:8])

    def sign(text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    seed = sign(
        "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
    )
    previous, body = seed, b""
    empty = hashlib.sha256(b"").hexdigest()
    for index, chunk in enumerate([*chunks, b""]):
        previous = sign(
            "\n".join(
                [
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    amz_date,
                    scope,
                    previous,
                    empty,
                    hashlib.sha256(chunk).hexdigest(),
                ]
            )
        )
        sent = bytes([chunk[0] ^ 1]) + chunk[1:] if corrupt == index and chunk else chunk
        body += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + sent + b"\r\n"
    headers["authorization"] = authorization(key_id, amz_date, signed, seed)
    return headers, body


def unsigned_trailer(
    key_id: str, secret: str, path: str, headers: dict[str, str], data: bytes, crc32: str
) -> tuple[dict[str, str], bytes]:
    """A PUT in STREAMING-UNSIGNED-PAYLOAD-TRAILER (one chunk, then an x-amz-checksum-crc32
    trailer of ``crc32``): its headers (``headers`` signed, host among them) and body."""
    payload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    amz_date = amz_now()
    headers = {
        "content-encoding": "aws-chunked",
        **headers,
        "x-amz-content-sha256": payload,
        "x-amz-date": amz_date,
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    canonical, signed = canonical_put(path, headers, payload)
    signature = sign_request(secret, amz_date, canonical)
    headers["authorization"] = authorization(key_id, amz_date, signed, signature)
    body = (
        f"{len(data):x}\r\n".encode()
        + data
        + b"\r\n0\r\n"
        + f"x-amz-checksum-crc32:{crc32}\r\n\r\n".encode()
    )
    return headers, body
