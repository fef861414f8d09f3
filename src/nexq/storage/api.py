"""REST routes of Object Storage: buckets, objects, presigned URLs, access keys, usage; a
bucket's settings and object versions are in api_settings.py and api_versions.py."""

import re
import time
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field, StrictBool

from nexq.core.errors import Invalid
from nexq.core.identity import Principal
from nexq.storage import (
    api_emptying,
    api_kms,
    api_object_lock,
    api_settings,
    api_versions,
    api_website,
)
from nexq.storage.access_keys import AccessKeys, AccessKeyView
from nexq.storage.api_object_lock import ObjectLock
from nexq.storage.api_versions import VERSION_ID_CHARS
from nexq.storage.conditions import Conditions
from nexq.storage.emptying import BucketEmptying
from nexq.storage.errors import (
    AccessDenied,
    DeleteMarkerFound,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
)
from nexq.storage.model import MAX_KEY_BYTES, Counters, validate_key
from nexq.storage.s3.presign import MAX_EXPIRES, presign_url
from nexq.storage.service import BucketStats, ObjectStorage
from nexq.storage.usage import Usage
from nexq.web.rest.formats import iso
from nexq.web.rest.pagination import (
    Cursor,
    Limit,
    Page,
    decode_pair,
    decode_text,
    encode,
    page_after,
)
from nexq.web.rest.security import Authorizer

BucketName = Annotated[str, Path(min_length=1, max_length=255)]
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class StorageInfo(BaseModel):
    s3_endpoint: str = Field(description="Where S3 clients connect (path-style works always).")
    website_endpoint: str = Field(
        description="Where a bucket's static website is served, `{bucket}` standing for its name."
    )
    region: str


class BucketIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    object_lock: StrictBool = Field(
        default=False,
        description="Object Lock, for good: versioning is turned on and cannot be suspended, "
        "and versions can be retained (default retention: PUT …/object-lock).",
    )


class BucketOut(BaseModel):
    name: str
    created_at: str
    object_count: int
    stored_bytes: int
    object_lock: ObjectLock

    @staticmethod
    def of(stats: BucketStats, objects: ObjectStorage) -> "BucketOut":
        return BucketOut(
            name=stats.bucket.name,
            created_at=iso(stats.bucket.created_at),
            object_count=stats.objects,
            stored_bytes=stats.bytes,
            object_lock=ObjectLock.of(objects.lock_configuration(stats.bucket)),
        )


class ObjectOut(BaseModel):
    key: str
    size: int
    etag: str
    last_modified: str


class ObjectPage(Page[ObjectOut]):
    prefixes: list[str] = Field(description="Common prefixes when a delimiter is given.")


class PresignIn(BaseModel):
    key: Annotated[str, Field(min_length=1, max_length=MAX_KEY_BYTES)]
    method: Literal["GET", "PUT"] = "GET"
    expires_in: Annotated[int, Field(ge=1, le=MAX_EXPIRES)] = 3600


class PresignOut(BaseModel):
    url: str
    method: Literal["GET", "PUT"]
    expires_at: str


class AccessKeyIn(BaseModel):
    label: Annotated[str, Field(min_length=1, max_length=128)]
    buckets: Literal["all"] | Annotated[list[str], Field(min_length=1, max_length=1000)] = "all"


class AccessKeyOut(BaseModel):
    access_key_id: str
    label: str
    buckets: Literal["all"] | list[str]
    status: Literal["Active", "Revoked"]
    created_at: str

    @staticmethod
    def of(view: AccessKeyView) -> "AccessKeyOut":
        return AccessKeyOut(
            access_key_id=view.key.id,
            label=view.key.label,
            buckets="all" if view.bucket_names is None else view.bucket_names,
            status="Active" if view.key.active else "Revoked",
            created_at=iso(view.key.created_at),
        )


class NewAccessKeyOut(AccessKeyOut):
    secret_access_key: str = Field(description="Shown once: it cannot be read again.")


class CountersOut(BaseModel):
    data_in_bytes: int
    data_out_bytes: int
    operations: int = Field(description="Every request: Class A + Class B + others.")
    class_a: int = Field(description="PUT, POST, COPY, LIST and other writes/listings.")
    class_b: int = Field(description="GET and HEAD.")

    @staticmethod
    def of(counters: Counters) -> "CountersOut":
        return CountersOut(
            data_in_bytes=counters.data_in,
            data_out_bytes=counters.data_out,
            operations=counters.operations,
            class_a=counters.class_a,
            class_b=counters.class_b,
        )


class BucketUsage(CountersOut):
    bucket: str

    @staticmethod
    def of(bucket: str, counters: Counters) -> "BucketUsage":  # type: ignore[override]
        return BucketUsage(bucket=bucket, **CountersOut.of(counters).model_dump())


class Period(BaseModel):
    start: str
    end: str


class UsageOut(BaseModel):
    period: Period
    buckets: list[BucketUsage]
    totals: CountersOut


def month_period(month: str | None) -> tuple[date, date]:
    """[first day, first day of the next month) of ``YYYY-MM`` (default: this month)."""
    if month is None:
        today = datetime.now(UTC).date()
        year, number = today.year, today.month
    else:
        match = _MONTH.match(month)
        if not match:
            raise Invalid("month: use the form YYYY-MM, e.g. 2026-11.")
        year, number = int(match[1]), int(match[2])
        if year == 0 or (year, number) == (9999, 12):
            # Python's dates end with 9999: the month after 9999-11 cannot be named.
            raise Invalid("month: from 0001-01 to 9999-11.")
    start = date(year, number, 1)
    end = date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)
    return start, end


def router(
    objects: ObjectStorage,
    access_keys: AccessKeys,
    usage: Usage,
    auth: Authorizer,
    s3_endpoint: str,
    region: str,
    emptying: BucketEmptying,
    website_endpoint: str,
) -> APIRouter:
    """The Object Storage routes."""
    api = APIRouter(prefix="/v1/storage", tags=["storage"])
    Read = Annotated[Principal, Depends(auth.require("storage:read"))]
    Write = Annotated[Principal, Depends(auth.require("storage:write"))]
    UsageReader = Annotated[Principal, Depends(auth.require("storage:read", "billing:read"))]

    def stats_of(caller: Principal, name: str) -> BucketStats:
        objects.directory.refresh()  # as in api_settings.owned_bucket
        try:
            return objects.bucket_stat(caller, name)
        except (NoSuchBucket, AccessDenied):
            # Another account's bucket is "not found": its existence must not leak.
            raise NoSuchBucket(f"No bucket named {name!r} in this account.") from None

    @api.get("", summary="Where S3 clients connect")
    def info(caller: Read) -> StorageInfo:
        return StorageInfo(
            s3_endpoint=s3_endpoint, region=region, website_endpoint=website_endpoint
        )

    @api.get("/buckets", summary="List buckets")
    def list_buckets(caller: Read, limit: Limit = 100, cursor: Cursor = None) -> Page[BucketOut]:
        """Every bucket of the account with its object count and stored bytes, by name."""
        objects.directory.refresh()  # each bucket's Object Lock is read from the cache
        stats = objects.bucket_stats(caller)
        items, next_cursor = page_after(stats, decode_text(cursor), limit, lambda s: s.bucket.name)
        return Page(items=[BucketOut.of(s, objects) for s in items], next_cursor=next_cursor)

    @api.post("/buckets", status_code=201, summary="Create a bucket")
    def create_bucket(body: BucketIn, caller: Write) -> BucketOut:
        """Names follow S3's rules: 3-63 lowercase letters, digits, dots and hyphens."""
        objects.create_bucket(caller, body.name, object_lock=body.object_lock)
        return BucketOut.of(stats_of(caller, body.name), objects)

    @api.get("/buckets/{name}", summary="Show a bucket")
    def get_bucket(name: BucketName, caller: Read) -> BucketOut:
        return BucketOut.of(stats_of(caller, name), objects)

    @api.delete("/buckets/{name}", status_code=204, summary="Delete an empty bucket")
    def delete_bucket(name: BucketName, caller: Write) -> Response:
        objects.delete_bucket(caller, stats_of(caller, name).bucket.name)
        return Response(status_code=204)

    @api.get("/buckets/{name}/objects", summary="List objects")
    def list_objects(
        name: BucketName,
        caller: Read,
        prefix: Annotated[str, Query(max_length=MAX_KEY_BYTES)] = "",
        delimiter: Annotated[str, Query(max_length=16)] = "",
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> ObjectPage:
        """Objects by key under ``prefix``; with a delimiter, deeper keys roll up into prefixes."""
        stats_of(caller, name)
        listing = objects.list_objects(caller, name, prefix, delimiter, decode_text(cursor), limit)
        return ObjectPage(
            items=[
                ObjectOut(
                    key=o.key, size=o.size, etag=f'"{o.etag}"', last_modified=iso(o.last_modified)
                )
                for o in listing.objects
            ],
            prefixes=listing.common_prefixes,
            next_cursor=encode(listing.next_marker) if listing.is_truncated else None,
        )

    @api.delete("/buckets/{name}/objects/{key:path}", status_code=204, summary="Delete an object")
    def delete_object(
        name: BucketName,
        key: str,
        caller: Write,
        version_id: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=VERSION_ID_CHARS,
                description='Remove this version for good ("null": the null version).',
            ),
        ] = None,
    ) -> Response:
        """Without ``version_id``, in a versioned bucket, a delete marker becomes the current
        version and every version stays; with it, that one version goes for good."""
        bucket = stats_of(caller, name).bucket
        if version_id is not None:
            if not objects.delete_object(caller, name, key, version_id).removed:
                raise NoSuchVersion(f"No version {version_id!r} of {key!r} in the bucket {name!r}.")
            return Response(status_code=204)
        if bucket.versioning is not None:
            # S3 stacks a delete marker even on a key that is not there; the API answers 404.
            try:
                objects.head_object(caller, name, key, Conditions())
            except (NoSuchKey, DeleteMarkerFound):
                raise NoSuchKey(f"No object {key!r} in the bucket {name!r}.") from None
        removal = objects.delete_object(caller, name, key)
        if not (removal.removed or removal.marker_added):
            raise NoSuchKey(f"No object {key!r} in the bucket {name!r}.")
        return Response(status_code=204)

    @api.post("/buckets/{name}/presign", summary="A presigned URL for one object")
    def presign(name: BucketName, body: PresignIn, read: Read) -> PresignOut:
        """GET needs storage:read, PUT storage:write. The URL works without credentials
        until it expires (at most 7 days)."""
        auth.check(read, "storage:write" if body.method == "PUT" else "storage:read")
        validate_key(body.key)
        stats_of(read, name)
        credentials = access_keys.signing_credentials(read.account.id)
        url = presign_url(
            s3_endpoint, region, credentials, body.method, name, body.key, body.expires_in
        )
        return PresignOut(
            url=url, method=body.method, expires_at=iso(time.time() + body.expires_in)
        )

    @api.post("/share-links/revoke", status_code=204, summary="Revoke every share link")
    def revoke_share_links(caller: Write) -> Response:
        """Every presigned URL made by the API or the console for this account stops working
        at once (403); links made afterwards work. URLs that users sign with their own
        access keys are revoked with those keys."""
        access_keys.revoke_share_links(caller.account.id)
        return Response(status_code=204)

    @api.get("/access-keys", summary="List S3 access keys")
    def list_access_keys(
        caller: Read, limit: Limit = 100, cursor: Cursor = None
    ) -> Page[AccessKeyOut]:
        views = access_keys.list(caller.account.id)
        items, next_cursor = page_after(
            views, decode_pair(cursor), limit, lambda v: (v.key.created_at, v.key.id)
        )
        return Page(items=[AccessKeyOut.of(v) for v in items], next_cursor=next_cursor)

    @api.post("/access-keys", status_code=201, summary="Create an S3 access key")
    def create_access_key(body: AccessKeyIn, caller: Write) -> NewAccessKeyOut:
        """`buckets`: "all" or a list of bucket names. The secret is in this answer only."""
        names = None if body.buckets == "all" else list(body.buckets)
        view, secret = access_keys.create(caller.account.id, body.label, names)
        return NewAccessKeyOut(**AccessKeyOut.of(view).model_dump(), secret_access_key=secret)

    @api.post("/access-keys/{key_id}/revoke", summary="Revoke an S3 access key")
    def revoke_access_key(key_id: str, caller: Write) -> AccessKeyOut:
        """S3 requests signed with it are refused at once; it stays listed as Revoked."""
        access_keys.revoke(caller.account.id, key_id)
        return AccessKeyOut.of(access_keys.get(caller.account.id, key_id))

    @api.delete("/access-keys/{key_id}", status_code=204, summary="Delete an S3 access key")
    def delete_access_key(key_id: str, caller: Write) -> Response:
        access_keys.delete(caller.account.id, key_id)
        return Response(status_code=204)

    @api.get("/usage", summary="Usage per bucket for a month")
    def usage_report(
        caller: UsageReader,
        month: Annotated[str | None, Query(description="YYYY-MM; default this month")] = None,
    ) -> UsageOut:
        """Data In, Data Out, Operations, Class A and Class B per bucket (every bucket of the
        account, and deleted buckets that had usage in the period)."""
        start, end = month_period(month)
        report = usage.report(caller.account.id, start, end)
        return UsageOut(
            period=Period(start=start.isoformat(), end=end.isoformat()),
            buckets=[BucketUsage.of(b.bucket, b.counters) for b in report.buckets],
            totals=CountersOut.of(report.totals),
        )

    api_settings.add_routes(api, objects, auth)
    api_versions.add_routes(api, objects, auth)
    api_emptying.add_routes(api, objects, emptying, auth)
    api_kms.add_routes(api, objects, auth)
    api_object_lock.add_routes(api, objects, auth)
    api_website.add_routes(api, objects, auth, website_endpoint)
    return api
