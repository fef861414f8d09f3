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
from nexq.client.kms_keys import BucketEncryption, KmsKey

__all__ = [
    "AccessKey",
    "AccessKeyWithSecret",
    "Account",
    "ApiError",
    "ApiKey",
    "ApiKeyWithToken",
    "Bucket",
    "BucketEncryption",
    "ClientError",
    "KmsKey",
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
