"""S3 errors: one table from domain errors to S3 codes, one renderer of the XML document."""

from __future__ import annotations

import email.utils
from xml.sax.saxutils import escape

from nexq.core.errors import DomainError, QuotaExceeded, RateLimited, StorageFull, Unavailable
from nexq.storage import acl, kms, object_lock
from nexq.storage import errors as domain
from nexq.storage.policy import MalformedPolicy


class S3Error(Exception):
    """An error answered with S3's XML error document."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        extra: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra or {}
        self.headers = headers or {}


# Domain error → (S3 code, HTTP status). Subclasses are looked up before their parents.
_TABLE: dict[type[DomainError], tuple[str, int]] = {
    domain.NoSuchBucket: ("NoSuchBucket", 404),
    domain.NoSuchKey: ("NoSuchKey", 404),
    domain.NoSuchUpload: ("NoSuchUpload", 404),
    domain.NoSuchVersion: ("NoSuchVersion", 404),
    MalformedPolicy: ("MalformedPolicy", 400),
    # S3 compat: what S3 answers when KMS refuses (another account's key: AccessDenied).
    kms.KmsKeyNotFound: ("KMS.NotFoundException", 400),
    kms.KmsKeyDisabled: ("KMS.DisabledException", 400),
    acl.AclWithEnforcedOwnership: ("InvalidBucketAclWithObjectOwnership", 400),
    acl.OwnershipControlsNotFound: ("OwnershipControlsNotFoundError", 404),
    acl.UnresolvableEmail: ("UnresolvableGrantByEmailAddress", 400),
    object_lock.ObjectLocked: ("AccessDenied", 403),
    object_lock.InvalidBucketState: ("InvalidBucketState", 409),
    object_lock.NoObjectLockConfiguration: ("InvalidRequest", 400),
    object_lock.ObjectLockConfigurationNotFound: ("ObjectLockConfigurationNotFoundError", 404),
    object_lock.NoSuchObjectLockConfiguration: ("NoSuchObjectLockConfiguration", 404),
    domain.IllegalVersioningConfiguration: ("IllegalVersioningConfigurationException", 400),
    domain.BucketAlreadyExists: ("BucketAlreadyExists", 409),
    domain.BucketAlreadyOwnedByYou: ("BucketAlreadyOwnedByYou", 409),
    domain.BucketNotEmpty: ("BucketNotEmpty", 409),
    domain.InvalidBucketName: ("InvalidBucketName", 400),
    domain.KeyTooLong: ("KeyTooLongError", 400),
    domain.MetadataTooLarge: ("MetadataTooLarge", 400),
    domain.EntityTooLarge: ("EntityTooLarge", 400),
    domain.EntityTooSmall: ("EntityTooSmall", 400),
    domain.InvalidPart: ("InvalidPart", 400),
    domain.InvalidPartOrder: ("InvalidPartOrder", 400),
    domain.BadDigest: ("BadDigest", 400),
    domain.ChecksumMismatch: ("BadDigest", 400),
    domain.PreconditionFailed: ("PreconditionFailed", 412),
    domain.ConditionalRequestConflict: ("ConditionalRequestConflict", 409),
    domain.NotModified: ("NotModified", 304),
    domain.InvalidRange: ("InvalidRange", 416),
    domain.AccessDenied: ("AccessDenied", 403),
    domain.AccountSuspended: ("AccessDenied", 403),
    domain.InvalidArgument: ("InvalidArgument", 400),
    domain.InvalidRequest: ("InvalidRequest", 400),
    QuotaExceeded: ("QuotaExceeded", 403),
    RateLimited: ("SlowDown", 503),
    # The SDKs retry a 503 (with back-off), which is what a database fail-over needs.
    Unavailable: ("ServiceUnavailable", 503),
    # As MinIO's XMinioStorageFull: a 507 is not retried by the SDKs' standard retry modes,
    # which is right while the disk stays full, and it names the cause.
    StorageFull: ("XNexqStorageFull", 507),
}


# S3 compat: AWS's own words where the domain's differ (its punctuation included).
_MESSAGES = {
    "NoSuchBucket": "The specified bucket does not exist",
    "PreconditionFailed": "At least one of the pre-conditions you specified did not hold",
    "InvalidRange": "The requested range is not satisfiable",
}
# The elements AWS adds to an error naming what was not found or not allowed.
_BUCKET_NAMED = frozenset(
    {
        "NoSuchBucket",
        "BucketNotEmpty",
        "BucketAlreadyExists",
        "BucketAlreadyOwnedByYou",
        "InvalidBucketName",
        "ObjectLockConfigurationNotFoundError",
        "OwnershipControlsNotFoundError",
    }
)


def naming(
    error: S3Error, bucket: str | None, key: str | None, upload_id: str | None, version: str | None
) -> S3Error:
    """``error`` with the elements AWS adds to it naming the request's bucket, key, upload
    or version (``<BucketName>`` of a NoSuchBucket, ``<Key>`` of a NoSuchKey...)."""
    names: dict[str, str] = {}
    if error.code in _BUCKET_NAMED and bucket:
        names["BucketName"] = bucket
    elif error.code in ("NoSuchKey", "ConditionalRequestConflict") and key:
        names["Key"] = key
    elif error.code == "NoSuchUpload" and upload_id:
        names["UploadId"] = upload_id
    elif error.code == "NoSuchVersion" and key and version:
        names = {"Key": key, "VersionId": version}
    if not names:
        return error
    return S3Error(error.code, error.message, error.status, {**error.extra, **names}, error.headers)


def from_domain(exc: DomainError, method: str = "GET") -> S3Error:
    """The S3 error for a domain error (``method``: the request's, which a delete marker's
    405 names); unmapped ones become InternalError."""
    if isinstance(exc, domain.DeleteMarkerFound):
        return _delete_marker(exc, method)
    if isinstance(exc, (acl.InvalidGrant, domain.InvalidArgument)) and exc.name:
        return invalid_argument(exc.message, exc.name, exc.value)
    for cls in type(exc).__mro__:
        if cls in _TABLE:
            code, status = _TABLE[cls]
            headers = (
                {"retry-after": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
            )
            extra = _condition(exc)
            return S3Error(code, _MESSAGES.get(code, exc.message), status, extra, headers)
    return S3Error("InternalError", "We encountered an internal error. Please try again.", 500)


def _condition(exc: DomainError) -> dict[str, str] | None:
    """S3 names the condition that did not hold (``Condition``: If-Match...)."""
    if isinstance(exc, (domain.PreconditionFailed, domain.ConditionalRequestConflict)) and (
        exc.condition
    ):
        return {"Condition": exc.condition}
    return None


def _delete_marker(exc: domain.DeleteMarkerFound, method: str) -> S3Error:
    """S3 names the delete marker a read met: NoSuchKey for the latest, 405 when asked for."""
    headers = {
        "x-amz-delete-marker": "true",
        "x-amz-version-id": "null" if exc.version_id is None else exc.version_id,
    }
    if not exc.asked:
        return S3Error("NoSuchKey", exc.message, 404, headers=headers)
    headers["last-modified"] = email.utils.formatdate(int(exc.last_modified), usegmt=True)
    headers["allow"] = "DELETE"
    return S3Error(
        "MethodNotAllowed",
        exc.message,
        405,
        extra={"Method": method, "ResourceType": "DeleteMarker"},
        headers=headers,
    )


def internal_error() -> S3Error:
    """The error for anything unexpected; details go to the log, never to the client."""
    return S3Error("InternalError", "We encountered an internal error. Please try again.", 500)


def render(error: S3Error, request_id: str, host_id: str) -> bytes:
    """S3's XML error document (``host_id``: the ``x-amz-id-2`` the answer carries, which
    S3's errors repeat as HostId; SDKs show it with the request id). S3 compat: no
    ``Resource`` element, which AWS's answers do not carry (its reference's example does)."""
    extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in error.extra.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{escape(error.message)}</Message>"
        f"{extra}<RequestId>{request_id}</RequestId>"
        f"<HostId>{host_id}</HostId></Error>"
    ).encode()


def access_denied(message: str = "Access Denied") -> S3Error:
    return S3Error("AccessDenied", message, 403)


def missing_content_length() -> S3Error:
    """S3's answer to a body it must know the length of (a document, a part list) that
    came without one."""
    return S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> S3Error:
    extra = {}
    if name is not None:
        extra["ArgumentName"] = name
    if name is not None and value:
        # S3 compat: AWS leaves ArgumentValue out when there is no value to name.
        extra["ArgumentValue"] = value
    return S3Error("InvalidArgument", message, 400, extra)


def invalid_request(message: str) -> S3Error:
    return S3Error("InvalidRequest", message, 400)


def malformed_xml() -> S3Error:
    return S3Error(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def request_timeout() -> S3Error:
    """A request body stopped arriving (no byte for the idle deadline), as S3 words it."""
    return S3Error(
        "RequestTimeout",
        "Your socket connection to the server was not read from or written to within the "
        "timeout period. Idle connections will be closed.",
        400,
    )
