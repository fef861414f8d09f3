"""Console pages of Object Storage: buckets (with their settings), the object browser (with
object versions), access keys and usage.

Every page acts for the signed-in account (its Principal) through the same services as the
REST API. Uploads and downloads stream: the browser sends large files as multipart uploads,
part by part, and each part's body flows from the socket into ``Multipart.upload_part``.
"""

from fastapi import APIRouter

from nexq.storage.access_keys import AccessKeys
from nexq.storage.console import access_keys as key_pages
from nexq.storage.console import (
    buckets,
    emptying,
    encryption,
    objects,
    settings,
    uploads,
    versions,
)
from nexq.storage.console import usage as usage_pages
from nexq.storage.console.links import Connect
from nexq.storage.emptying import BucketEmptying
from nexq.storage.multipart import Multipart
from nexq.storage.service import ObjectStorage
from nexq.storage.usage import Usage
from nexq.web.console.web import Pages

# Parts of 16 MiB: a 2 GiB file is 128 requests, each short enough to retry, and S3's
# 10,000-part limit still allows 156 GiB (the browser grows the part beyond that).
UPLOAD_PART_BYTES = 16 * 1024 * 1024


def router(
    storage: ObjectStorage,
    multipart: Multipart,
    access_keys: AccessKeys,
    usage: Usage,
    pages: Pages,
    s3_endpoint: str,
    region: str,
    bucket_emptying: BucketEmptying,
    website_endpoint: str,
    part_bytes: int = UPLOAD_PART_BYTES,
) -> APIRouter:
    """Every Object Storage page, under /storage."""
    connect = Connect(s3_endpoint, region, website_endpoint)
    web = APIRouter()
    web.include_router(buckets.router(storage, pages, connect))
    web.include_router(objects.router(storage, access_keys, pages, connect, part_bytes))
    web.include_router(uploads.router(storage, multipart, pages))
    web.include_router(settings.router(storage, pages, bucket_emptying, connect))
    web.include_router(emptying.router(storage, bucket_emptying, pages))
    web.include_router(encryption.router(storage, pages))
    web.include_router(versions.router(storage, pages, connect, part_bytes))
    web.include_router(key_pages.router(storage, access_keys, pages, connect))
    web.include_router(usage_pages.router(usage, pages))
    return web
