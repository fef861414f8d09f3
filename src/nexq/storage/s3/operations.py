"""S3 operations by their AWS names, and the routing table that recognises them.

The table is the S3 surface at a glance, and docs/s3-compatibility.md is generated from it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from nexq.storage.metering import BillingClass
from nexq.storage.s3.errors import S3Error


class Access(enum.Enum):
    """What an operation does to its bucket, for authorization and metering."""

    SERVICE = "service"
    READ = "read"
    WRITE = "write"
    LIST = "list"


class Operation(enum.Enum):
    """Every S3 operation Nexq answers."""

    LIST_BUCKETS = "ListBuckets"
    CREATE_BUCKET = "CreateBucket"
    DELETE_BUCKET = "DeleteBucket"
    HEAD_BUCKET = "HeadBucket"
    GET_BUCKET_LOCATION = "GetBucketLocation"
    GET_BUCKET_VERSIONING = "GetBucketVersioning"
    PUT_BUCKET_VERSIONING = "PutBucketVersioning"
    LIST_OBJECT_VERSIONS = "ListObjectVersions"
    PUT_OBJECT_LOCK_CONFIGURATION = "PutObjectLockConfiguration"
    GET_OBJECT_LOCK_CONFIGURATION = "GetObjectLockConfiguration"
    PUT_OBJECT_RETENTION = "PutObjectRetention"
    GET_OBJECT_RETENTION = "GetObjectRetention"
    PUT_OBJECT_LEGAL_HOLD = "PutObjectLegalHold"
    GET_OBJECT_LEGAL_HOLD = "GetObjectLegalHold"
    PUT_PUBLIC_ACCESS_BLOCK = "PutPublicAccessBlock"
    GET_PUBLIC_ACCESS_BLOCK = "GetPublicAccessBlock"
    DELETE_PUBLIC_ACCESS_BLOCK = "DeletePublicAccessBlock"
    PUT_OBJECT_TAGGING = "PutObjectTagging"
    GET_OBJECT_TAGGING = "GetObjectTagging"
    DELETE_OBJECT_TAGGING = "DeleteObjectTagging"
    PUT_BUCKET_POLICY = "PutBucketPolicy"
    GET_BUCKET_POLICY = "GetBucketPolicy"
    DELETE_BUCKET_POLICY = "DeleteBucketPolicy"
    GET_BUCKET_POLICY_STATUS = "GetBucketPolicyStatus"
    PUT_BUCKET_CORS = "PutBucketCors"
    GET_BUCKET_CORS = "GetBucketCors"
    DELETE_BUCKET_CORS = "DeleteBucketCors"
    PUT_BUCKET_WEBSITE = "PutBucketWebsite"
    GET_BUCKET_WEBSITE = "GetBucketWebsite"
    DELETE_BUCKET_WEBSITE = "DeleteBucketWebsite"
    PUT_BUCKET_LIFECYCLE = "PutBucketLifecycleConfiguration"
    GET_BUCKET_LIFECYCLE = "GetBucketLifecycleConfiguration"
    DELETE_BUCKET_LIFECYCLE = "DeleteBucketLifecycle"
    PUT_BUCKET_TAGGING = "PutBucketTagging"
    GET_BUCKET_TAGGING = "GetBucketTagging"
    DELETE_BUCKET_TAGGING = "DeleteBucketTagging"
    PUT_BUCKET_ENCRYPTION = "PutBucketEncryption"
    GET_BUCKET_ENCRYPTION = "GetBucketEncryption"
    DELETE_BUCKET_ENCRYPTION = "DeleteBucketEncryption"
    GET_BUCKET_ACL = "GetBucketAcl"
    PUT_BUCKET_OWNERSHIP_CONTROLS = "PutBucketOwnershipControls"
    GET_BUCKET_OWNERSHIP_CONTROLS = "GetBucketOwnershipControls"
    DELETE_BUCKET_OWNERSHIP_CONTROLS = "DeleteBucketOwnershipControls"
    LIST_OBJECTS = "ListObjects"
    LIST_OBJECTS_V2 = "ListObjectsV2"
    LIST_MULTIPART_UPLOADS = "ListMultipartUploads"
    DELETE_OBJECTS = "DeleteObjects"
    POST_OBJECT = "PostObject"
    PUT_OBJECT = "PutObject"
    COPY_OBJECT = "CopyObject"
    GET_OBJECT = "GetObject"
    HEAD_OBJECT = "HeadObject"
    GET_OBJECT_ATTRIBUTES = "GetObjectAttributes"
    DELETE_OBJECT = "DeleteObject"
    GET_OBJECT_ACL = "GetObjectAcl"
    PUT_BUCKET_ACL = "PutBucketAcl"
    PUT_OBJECT_ACL = "PutObjectAcl"
    CREATE_MULTIPART_UPLOAD = "CreateMultipartUpload"
    UPLOAD_PART = "UploadPart"
    UPLOAD_PART_COPY = "UploadPartCopy"
    COMPLETE_MULTIPART_UPLOAD = "CompleteMultipartUpload"
    ABORT_MULTIPART_UPLOAD = "AbortMultipartUpload"
    LIST_PARTS = "ListParts"
    OPTIONS_OBJECT = "OptionsObject"  # a browser's CORS preflight (AWS: "OPTIONS object")


# (method, addressed to: "service" | "bucket" | "object", sub-resource or None,
#  x-amz-copy-source present) → operation, access
_Route = tuple[str, str, str | None, bool]
ROUTES: dict[_Route, tuple[Operation, Access]] = {
    ("GET", "service", None, False): (Operation.LIST_BUCKETS, Access.SERVICE),
    ("PUT", "bucket", None, False): (Operation.CREATE_BUCKET, Access.SERVICE),
    ("DELETE", "bucket", None, False): (Operation.DELETE_BUCKET, Access.WRITE),
    ("HEAD", "bucket", None, False): (Operation.HEAD_BUCKET, Access.READ),
    ("GET", "bucket", "location", False): (Operation.GET_BUCKET_LOCATION, Access.READ),
    ("GET", "bucket", "versioning", False): (Operation.GET_BUCKET_VERSIONING, Access.READ),
    ("PUT", "bucket", "versioning", False): (Operation.PUT_BUCKET_VERSIONING, Access.WRITE),
    ("GET", "bucket", "versions", False): (Operation.LIST_OBJECT_VERSIONS, Access.LIST),
    ("PUT", "bucket", "object-lock", False): (
        Operation.PUT_OBJECT_LOCK_CONFIGURATION,
        Access.WRITE,
    ),
    ("GET", "bucket", "object-lock", False): (Operation.GET_OBJECT_LOCK_CONFIGURATION, Access.READ),
    ("PUT", "object", "retention", False): (Operation.PUT_OBJECT_RETENTION, Access.WRITE),
    ("GET", "object", "retention", False): (Operation.GET_OBJECT_RETENTION, Access.READ),
    ("PUT", "object", "legal-hold", False): (Operation.PUT_OBJECT_LEGAL_HOLD, Access.WRITE),
    ("GET", "object", "legal-hold", False): (Operation.GET_OBJECT_LEGAL_HOLD, Access.READ),
    ("PUT", "bucket", "publicAccessBlock", False): (
        Operation.PUT_PUBLIC_ACCESS_BLOCK,
        Access.WRITE,
    ),
    ("GET", "bucket", "publicAccessBlock", False): (Operation.GET_PUBLIC_ACCESS_BLOCK, Access.READ),
    ("DELETE", "bucket", "publicAccessBlock", False): (
        Operation.DELETE_PUBLIC_ACCESS_BLOCK,
        Access.WRITE,
    ),
    ("PUT", "object", "tagging", False): (Operation.PUT_OBJECT_TAGGING, Access.WRITE),
    ("GET", "object", "tagging", False): (Operation.GET_OBJECT_TAGGING, Access.READ),
    ("DELETE", "object", "tagging", False): (Operation.DELETE_OBJECT_TAGGING, Access.WRITE),
    ("PUT", "bucket", "policy", False): (Operation.PUT_BUCKET_POLICY, Access.WRITE),
    ("GET", "bucket", "policy", False): (Operation.GET_BUCKET_POLICY, Access.READ),
    ("DELETE", "bucket", "policy", False): (Operation.DELETE_BUCKET_POLICY, Access.WRITE),
    ("GET", "bucket", "policyStatus", False): (Operation.GET_BUCKET_POLICY_STATUS, Access.READ),
    ("PUT", "bucket", "cors", False): (Operation.PUT_BUCKET_CORS, Access.WRITE),
    ("GET", "bucket", "cors", False): (Operation.GET_BUCKET_CORS, Access.READ),
    ("DELETE", "bucket", "cors", False): (Operation.DELETE_BUCKET_CORS, Access.WRITE),
    ("PUT", "bucket", "website", False): (Operation.PUT_BUCKET_WEBSITE, Access.WRITE),
    ("GET", "bucket", "website", False): (Operation.GET_BUCKET_WEBSITE, Access.READ),
    ("DELETE", "bucket", "website", False): (Operation.DELETE_BUCKET_WEBSITE, Access.WRITE),
    ("PUT", "bucket", "lifecycle", False): (Operation.PUT_BUCKET_LIFECYCLE, Access.WRITE),
    ("GET", "bucket", "lifecycle", False): (Operation.GET_BUCKET_LIFECYCLE, Access.READ),
    ("DELETE", "bucket", "lifecycle", False): (Operation.DELETE_BUCKET_LIFECYCLE, Access.WRITE),
    ("PUT", "bucket", "tagging", False): (Operation.PUT_BUCKET_TAGGING, Access.WRITE),
    ("GET", "bucket", "tagging", False): (Operation.GET_BUCKET_TAGGING, Access.READ),
    ("DELETE", "bucket", "tagging", False): (Operation.DELETE_BUCKET_TAGGING, Access.WRITE),
    ("PUT", "bucket", "encryption", False): (Operation.PUT_BUCKET_ENCRYPTION, Access.WRITE),
    ("GET", "bucket", "encryption", False): (Operation.GET_BUCKET_ENCRYPTION, Access.READ),
    ("DELETE", "bucket", "encryption", False): (Operation.DELETE_BUCKET_ENCRYPTION, Access.WRITE),
    ("GET", "bucket", "acl", False): (Operation.GET_BUCKET_ACL, Access.READ),
    ("PUT", "bucket", "ownershipControls", False): (
        Operation.PUT_BUCKET_OWNERSHIP_CONTROLS,
        Access.WRITE,
    ),
    ("GET", "bucket", "ownershipControls", False): (
        Operation.GET_BUCKET_OWNERSHIP_CONTROLS,
        Access.READ,
    ),
    ("DELETE", "bucket", "ownershipControls", False): (
        Operation.DELETE_BUCKET_OWNERSHIP_CONTROLS,
        Access.WRITE,
    ),
    ("GET", "bucket", None, False): (Operation.LIST_OBJECTS, Access.LIST),
    ("GET", "bucket", "list-type", False): (Operation.LIST_OBJECTS_V2, Access.LIST),
    ("GET", "bucket", "uploads", False): (Operation.LIST_MULTIPART_UPLOADS, Access.LIST),
    ("POST", "bucket", "delete", False): (Operation.DELETE_OBJECTS, Access.WRITE),
    ("POST", "bucket", None, False): (Operation.POST_OBJECT, Access.WRITE),
    ("PUT", "object", None, False): (Operation.PUT_OBJECT, Access.WRITE),
    ("PUT", "object", None, True): (Operation.COPY_OBJECT, Access.WRITE),
    ("GET", "object", None, False): (Operation.GET_OBJECT, Access.READ),
    ("HEAD", "object", None, False): (Operation.HEAD_OBJECT, Access.READ),
    ("GET", "object", "attributes", False): (Operation.GET_OBJECT_ATTRIBUTES, Access.READ),
    ("DELETE", "object", None, False): (Operation.DELETE_OBJECT, Access.WRITE),
    ("GET", "object", "acl", False): (Operation.GET_OBJECT_ACL, Access.READ),
    ("PUT", "bucket", "acl", False): (Operation.PUT_BUCKET_ACL, Access.WRITE),
    ("PUT", "object", "acl", False): (Operation.PUT_OBJECT_ACL, Access.WRITE),
    ("POST", "object", "uploads", False): (Operation.CREATE_MULTIPART_UPLOAD, Access.WRITE),
    ("PUT", "object", "uploadId", False): (Operation.UPLOAD_PART, Access.WRITE),
    ("PUT", "object", "uploadId", True): (Operation.UPLOAD_PART_COPY, Access.WRITE),
    ("POST", "object", "uploadId", False): (Operation.COMPLETE_MULTIPART_UPLOAD, Access.WRITE),
    ("DELETE", "object", "uploadId", False): (Operation.ABORT_MULTIPART_UPLOAD, Access.WRITE),
    ("GET", "object", "uploadId", False): (Operation.LIST_PARTS, Access.LIST),
    # Unsigned: answered from the bucket's CORS rules whatever the query (see route()).
    ("OPTIONS", "bucket", None, False): (Operation.OPTIONS_OBJECT, Access.READ),
    ("OPTIONS", "object", None, False): (Operation.OPTIONS_OBJECT, Access.READ),
    ("HEAD", "object", "partNumber", False): (Operation.HEAD_OBJECT, Access.READ),
    ("GET", "object", "partNumber", False): (Operation.GET_OBJECT, Access.READ),
}

# How each operation is billed (SPEC.md "Usage"): Class A = PUT, POST, LIST (writes and
# listings), Class B = GET, HEAD (reads and metadata); deletes and aborts are counted only.
BILLING: dict[Operation, BillingClass] = {
    Operation.LIST_BUCKETS: BillingClass.A,
    Operation.CREATE_BUCKET: BillingClass.A,
    Operation.DELETE_BUCKET: BillingClass.OTHER,
    Operation.HEAD_BUCKET: BillingClass.B,
    Operation.GET_BUCKET_LOCATION: BillingClass.B,
    Operation.GET_BUCKET_VERSIONING: BillingClass.B,
    Operation.PUT_BUCKET_VERSIONING: BillingClass.A,
    Operation.LIST_OBJECT_VERSIONS: BillingClass.A,
    Operation.PUT_OBJECT_LOCK_CONFIGURATION: BillingClass.A,
    Operation.GET_OBJECT_LOCK_CONFIGURATION: BillingClass.B,
    Operation.PUT_OBJECT_RETENTION: BillingClass.A,
    Operation.GET_OBJECT_RETENTION: BillingClass.B,
    Operation.PUT_OBJECT_LEGAL_HOLD: BillingClass.A,
    Operation.GET_OBJECT_LEGAL_HOLD: BillingClass.B,
    Operation.PUT_PUBLIC_ACCESS_BLOCK: BillingClass.A,
    Operation.GET_PUBLIC_ACCESS_BLOCK: BillingClass.B,
    Operation.DELETE_PUBLIC_ACCESS_BLOCK: BillingClass.OTHER,
    Operation.PUT_OBJECT_TAGGING: BillingClass.A,
    Operation.GET_OBJECT_TAGGING: BillingClass.B,
    Operation.DELETE_OBJECT_TAGGING: BillingClass.OTHER,
    Operation.PUT_BUCKET_POLICY: BillingClass.A,
    Operation.GET_BUCKET_POLICY: BillingClass.B,
    Operation.DELETE_BUCKET_POLICY: BillingClass.OTHER,
    Operation.GET_BUCKET_POLICY_STATUS: BillingClass.B,
    Operation.PUT_BUCKET_CORS: BillingClass.A,
    Operation.GET_BUCKET_CORS: BillingClass.B,
    Operation.DELETE_BUCKET_CORS: BillingClass.OTHER,
    Operation.PUT_BUCKET_WEBSITE: BillingClass.A,
    Operation.GET_BUCKET_WEBSITE: BillingClass.B,
    Operation.DELETE_BUCKET_WEBSITE: BillingClass.OTHER,
    Operation.PUT_BUCKET_LIFECYCLE: BillingClass.A,
    Operation.GET_BUCKET_LIFECYCLE: BillingClass.B,
    Operation.DELETE_BUCKET_LIFECYCLE: BillingClass.OTHER,
    Operation.PUT_BUCKET_TAGGING: BillingClass.A,
    Operation.GET_BUCKET_TAGGING: BillingClass.B,
    Operation.DELETE_BUCKET_TAGGING: BillingClass.OTHER,
    Operation.PUT_BUCKET_ENCRYPTION: BillingClass.A,
    Operation.GET_BUCKET_ENCRYPTION: BillingClass.B,
    Operation.DELETE_BUCKET_ENCRYPTION: BillingClass.OTHER,
    Operation.GET_BUCKET_ACL: BillingClass.B,
    Operation.PUT_BUCKET_OWNERSHIP_CONTROLS: BillingClass.A,
    Operation.GET_BUCKET_OWNERSHIP_CONTROLS: BillingClass.B,
    Operation.DELETE_BUCKET_OWNERSHIP_CONTROLS: BillingClass.OTHER,
    Operation.LIST_OBJECTS: BillingClass.A,
    Operation.LIST_OBJECTS_V2: BillingClass.A,
    Operation.LIST_MULTIPART_UPLOADS: BillingClass.A,
    Operation.DELETE_OBJECTS: BillingClass.OTHER,
    Operation.POST_OBJECT: BillingClass.A,
    Operation.PUT_OBJECT: BillingClass.A,
    Operation.COPY_OBJECT: BillingClass.A,
    Operation.GET_OBJECT: BillingClass.B,
    Operation.HEAD_OBJECT: BillingClass.B,
    Operation.GET_OBJECT_ATTRIBUTES: BillingClass.B,
    Operation.DELETE_OBJECT: BillingClass.OTHER,
    Operation.GET_OBJECT_ACL: BillingClass.B,
    Operation.PUT_BUCKET_ACL: BillingClass.A,
    Operation.PUT_OBJECT_ACL: BillingClass.A,
    Operation.CREATE_MULTIPART_UPLOAD: BillingClass.A,
    Operation.UPLOAD_PART: BillingClass.A,
    Operation.UPLOAD_PART_COPY: BillingClass.A,
    Operation.COMPLETE_MULTIPART_UPLOAD: BillingClass.A,
    Operation.ABORT_MULTIPART_UPLOAD: BillingClass.OTHER,
    Operation.LIST_PARTS: BillingClass.A,
    # S3 compat: AWS bills a preflight with "GET and all other requests".
    Operation.OPTIONS_OBJECT: BillingClass.B,
}

# Query words that select a sub-resource, most specific first.
_SUBRESOURCES = (
    "uploadId",
    "uploads",
    "list-type",
    "location",
    "versioning",
    "versions",
    "object-lock",
    "retention",
    "legal-hold",
    "publicAccessBlock",
    "policyStatus",
    "policy",
    "cors",
    "website",
    "lifecycle",
    "tagging",
    "encryption",
    "ownershipControls",
    "acl",
    "delete",
    "attributes",
)
# Sub-resources S3 has and Nexq does not implement yet: answered with NotImplemented.
UNSUPPORTED = (
    "logging",
    "notification",
    "replication",
    "accelerate",
    "requestPayment",
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
    "restore",
    "select",
    "torrent",
)


def route(
    method: str, bucket: str | None, key: str | None, query: Mapping[str, str], copy_source: bool
) -> tuple[Operation, Access]:
    """The operation a request asks for, or an S3 error naming what is not supported."""
    target = "service" if bucket is None else "bucket" if not key else "object"
    if method == "OPTIONS":
        # S3 compat: a preflight carries the URL of the request it asks about, query and
        # all (?uploads, ?partNumber&uploadId...); only the bucket's CORS rules answer it.
        return Operation.OPTIONS_OBJECT, Access.READ
    sub = next((word for word in _SUBRESOURCES if word in query), None)
    if sub is None and "partNumber" in query and method in ("GET", "HEAD"):
        sub = "partNumber"
    unsupported = next((word for word in UNSUPPORTED if word in query), None)
    if unsupported is None:
        found = ROUTES.get((method, target, sub, copy_source))
        if found is not None:
            return found
    else:
        raise S3Error(
            "NotImplemented",
            f"The {unsupported} sub-resource is not implemented by this server.",
            501,
        )
    if method not in ("GET", "PUT", "POST", "DELETE", "HEAD"):
        raise S3Error("MethodNotAllowed", "The specified method is not allowed.", 405)
    raise S3Error(
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
        405,
    )
