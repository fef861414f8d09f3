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
    GET_BUCKET_ACL = "GetBucketAcl"
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
    ("GET", "bucket", "acl", False): (Operation.GET_BUCKET_ACL, Access.READ),
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
    Operation.GET_BUCKET_ACL: BillingClass.B,
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
}

# Query words that select a sub-resource, most specific first.
_SUBRESOURCES = (
    "uploadId",
    "uploads",
    "list-type",
    "location",
    "versioning",
    "acl",
    "delete",
    "attributes",
)
# Sub-resources S3 has and Nexq does not implement yet: answered with NotImplemented.
UNSUPPORTED = (
    "tagging",
    "policy",
    "cors",
    "lifecycle",
    "website",
    "logging",
    "notification",
    "replication",
    "encryption",
    "object-lock",
    "retention",
    "legal-hold",
    "versions",
    "accelerate",
    "requestPayment",
    "ownershipControls",
    "publicAccessBlock",
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
