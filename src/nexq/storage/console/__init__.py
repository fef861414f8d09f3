"""Console pages of Object Storage: buckets, the object browser, access keys and usage.

Every page acts for the whole account (``account_caller``) through the same services as the
REST API. Uploads and downloads stream: the browser sends large files as multipart uploads,
part by part, and each part's body flows from the socket into ``Multipart.upload_part``.
"""

from fastapi import APIRouter, Request

from nexq.core.errors import DomainError
from nexq.storage.access_keys import AccessKeys
from nexq.storage.console import access_keys as key_pages
from nexq.storage.console import buckets, objects, uploads
from nexq.storage.console import usage as usage_pages
from nexq.storage.console.links import Connect
from nexq.storage.errors import AccessDenied, NoSuchBucket
from nexq.storage.multipart import Multipart
from nexq.storage.service import ObjectStorage
from nexq.storage.usage import Usage
from nexq.web.console.web import NavLink, NavSection, Pages

HOME = "/storage/buckets"
NAVIGATION = NavSection(
    "Object Storage",
    (
        NavLink("Buckets", HOME),
        NavLink("Access Keys", "/storage/access-keys"),
        NavLink("Usage", "/storage/usage"),
    ),
)

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
    part_bytes: int = UPLOAD_PART_BYTES,
) -> APIRouter:
    """Every Object Storage page, under /storage."""
    connect = Connect(s3_endpoint, region)
    web = APIRouter()
    web.include_router(buckets.router(storage, pages, connect))
    web.include_router(objects.router(storage, access_keys, pages, connect, part_bytes))
    web.include_router(uploads.router(storage, multipart, pages))
    web.include_router(key_pages.router(storage, access_keys, pages, connect))
    web.include_router(usage_pages.router(usage, pages))
    return web


def foreign_buckets_not_found(request: Request, exc: DomainError) -> DomainError:
    """The console acts with all of the account's rights, so a bucket it may not use is
    another account's: "not found", as in the REST API (existence must not leak)."""
    if isinstance(exc, AccessDenied) and "name" in request.path_params:
        name = request.path_params["name"]
        return NoSuchBucket(f"No bucket named {name!r} in this account.")
    return exc
