"""A minimal, fast AWS Signature Version 4 signer for the benchmark client.

Only what the benchmark needs: header-based signing for the ``s3`` service with
``host``, ``x-amz-content-sha256`` and ``x-amz-date`` as the signed headers.
The signing key is derived once per UTC day and cached, and the ``x-amz-date``
string is cached per second, so signing one request costs one SHA-256 over the
canonical request and one HMAC-SHA256 (a few microseconds).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_SIGNED_HEADERS = "host;x-amz-content-sha256;x-amz-date"


def uri_encode_path(path: str) -> str:
    """Encode an S3 path the way SigV4 (and S3) expect: every byte but unreserved and '/'."""
    return quote(path, safe="/-_.~")


def canonical_query(params: list[tuple[str, str]]) -> str:
    """Sorted, RFC 3986-encoded query string; the same string goes on the wire."""
    enc = [(quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params]
    enc.sort()
    return "&".join(f"{k}={v}" for k, v in enc)


class Signer:
    """Signs requests with SigV4. Not thread-safe caches, but harmless if raced."""

    def __init__(self, access_key: str, secret_key: str, region: str = "us-east-1") -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self._day = ""
        self._key = b""
        self._scope = ""
        self._cred_prefix = ""
        self._sec = -1
        self._amz_date = ""

    def _now(self) -> tuple[str, str]:
        sec = int(time.time())
        if sec != self._sec:
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(sec))
            self._sec = sec
            day = self._amz_date[:8]
            if day != self._day:
                k = hmac.digest(("AWS4" + self.secret_key).encode(), day.encode(), "sha256")
                k = hmac.digest(k, self.region.encode(), "sha256")
                k = hmac.digest(k, b"s3", "sha256")
                self._key = hmac.digest(k, b"aws4_request", "sha256")
                self._scope = f"{day}/{self.region}/s3/aws4_request"
                self._cred_prefix = f"AWS4-HMAC-SHA256 Credential={self.access_key}/{self._scope}"
                self._day = day
        return self._amz_date, self._day

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        query: str = "",
        payload_hash: str = UNSIGNED_PAYLOAD,
    ) -> list[tuple[str, str]]:
        """Return the headers to add to the request.

        ``path`` must already be URI-encoded (see :func:`uri_encode_path`) and
        ``query`` must already be canonical (see :func:`canonical_query`); both
        are then used verbatim on the wire, so what is signed is what is sent.
        """
        amz_date, _ = self._now()
        creq = (
            f"{method}\n{path}\n{query}\n"
            f"host:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n\n"
            f"{_SIGNED_HEADERS}\n{payload_hash}"
        )
        sts = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{self._scope}\n"
            + hashlib.sha256(creq.encode()).hexdigest()
        )
        sig = hmac.new(self._key, sts.encode(), hashlib.sha256).hexdigest()
        auth = f"{self._cred_prefix}, SignedHeaders={_SIGNED_HEADERS}, Signature={sig}"
        return [
            ("x-amz-date", amz_date),
            ("x-amz-content-sha256", payload_hash),
            ("Authorization", auth),
        ]
