"""Domain errors as the distribution spec's JSON errors: one table, code and status."""

from __future__ import annotations

import json
from typing import Any

from nexq.core.errors import (
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    QuotaExceeded,
    RateLimited,
    StorageFull,
    Unavailable,
)
from nexq.core.identity import AccountSuspended, Unauthenticated
from nexq.registry import errors

# Most specific first: the first class an error is an instance of gives its code.
_TABLE: tuple[tuple[type[DomainError], str, int], ...] = (
    (errors.NameInvalid, "NAME_INVALID", 400),
    # The spec's codes are a closed list without TAG_INVALID: a PUT to a reference that
    # is neither a tag nor a digest is an invalid manifest push.
    (errors.TagInvalid, "MANIFEST_INVALID", 400),
    (errors.DigestInvalid, "DIGEST_INVALID", 400),
    (errors.SizeInvalid, "SIZE_INVALID", 400),
    (errors.ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400),
    (errors.ManifestInvalid, "MANIFEST_INVALID", 400),
    (errors.UploadInvalid, "BLOB_UPLOAD_INVALID", 400),
    (errors.RangeInvalid, "BLOB_UPLOAD_INVALID", 416),
    (errors.NameUnknown, "NAME_UNKNOWN", 404),
    (errors.BlobUnknown, "BLOB_UNKNOWN", 404),
    (errors.ManifestUnknown, "MANIFEST_UNKNOWN", 404),
    (errors.UploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404),
    (errors.Unsupported, "UNSUPPORTED", 405),
    (Unauthenticated, "UNAUTHORIZED", 401),
    (AccountSuspended, "DENIED", 403),
    (QuotaExceeded, "DENIED", 403),
    (RateLimited, "TOOMANYREQUESTS", 429),
    (Forbidden, "DENIED", 403),
    (StorageFull, "UNSUPPORTED", 507),
    (Unavailable, "UNAVAILABLE", 503),
    (Invalid, "UNSUPPORTED", 400),
    (NotFound, "NAME_UNKNOWN", 404),
)


class OciError(Exception):
    """An answer in the spec's error format."""

    def __init__(
        self, code: str, message: str, status: int, detail: Any = None, **headers: str
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail
        self.headers = headers

    def body(self) -> bytes:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return json.dumps({"errors": [error]}).encode()


def from_domain(exc: DomainError) -> OciError:
    for kind, code, status in _TABLE:
        if isinstance(exc, kind):
            detail: Any = None
            headers: dict[str, str] = {}
            if isinstance(exc, errors.ManifestBlobUnknown):
                detail = {"digest": exc.digest}
            if isinstance(exc, QuotaExceeded):
                detail = {"limit": exc.limit}
            if isinstance(exc, RateLimited):
                headers["Retry-After"] = str(exc.retry_after)
            return OciError(code, exc.message, status, detail, **headers)
    return OciError("UNKNOWN", exc.message, 400)


def registry_timeout(scope: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The answer to a request body that stopped arriving (the listener's deadline)."""
    error = OciError(
        "BLOB_UPLOAD_INVALID", "the request body stopped arriving; the connection is closed", 408
    )
    # Written by the listener, past the app that puts the version header on every answer.
    headers = [
        (b"content-type", b"application/json"),
        (b"docker-distribution-api-version", b"registry/2.0"),
    ]
    return 408, headers, error.body()
