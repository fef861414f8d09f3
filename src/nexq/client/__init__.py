"""A typed HTTP client of the Nexq REST API (``/v1``); it knows the wire protocol, nothing else."""

from nexq.client.api import (
    AccessKey,
    AccessKeyWithSecret,
    Account,
    ApiError,
    ApiKey,
    ApiKeyWithToken,
    Bucket,
    ClientError,
    Login,
    NexqClient,
    Object,
    ObjectListing,
    Presigned,
    StorageInfo,
    Unreachable,
    Usage,
)
from nexq.client.bucket_settings import ObjectLock, ObjectVersion, PublicAccessBlock, Versioning

__all__ = [
    "AccessKey",
    "AccessKeyWithSecret",
    "Account",
    "ApiError",
    "ApiKey",
    "ApiKeyWithToken",
    "Bucket",
    "ClientError",
    "Login",
    "NexqClient",
    "Object",
    "ObjectListing",
    "ObjectLock",
    "ObjectVersion",
    "Presigned",
    "PublicAccessBlock",
    "StorageInfo",
    "Unreachable",
    "Usage",
    "Versioning",
]
