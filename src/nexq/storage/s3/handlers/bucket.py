"""Bucket operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket and bucket facts."""

from __future__ import annotations

from nexq.storage.errors import BucketAlreadyOwnedByYou
from nexq.storage.model import Bucket
from nexq.storage.s3.acl import new_bucket_acl
from nexq.storage.s3.body import incomplete_body
from nexq.storage.s3.bucket_pages import bucket_page, continuation_token
from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.handlers.common import Services, empty
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.tagging_xml import parse_new_bucket_tags
from nexq.storage.s3.xml import (
    document,
    escape,
    invalid_location,
    iso_time,
    parse_location,
)


def _owner(req: S3Request) -> str:
    # S3 compat: the id alone; AWS stopped answering DisplayName in November 2025.
    account = req.credential.account if req.credential else None
    return f"<ID>{account.id if account else ''}</ID>"


async def list_buckets(req: S3Request, s: Services) -> Response:
    page = bucket_page(req, s.region)
    # One more than the page holds tells whether another page follows.
    limit = None if page.limit is None else page.limit + 1

    def listed() -> list[Bucket]:
        if not page.region_matches:
            return []
        return s.objects.list_buckets(req.caller, page.prefix, page.after, limit)

    buckets = await req.run(listed)
    shown = buckets if page.limit is None else buckets[: page.limit]
    items = "".join(
        f"<Bucket><Name>{b.name}</Name><CreationDate>{iso_time(b.created_at)}</CreationDate>"
        f"<BucketRegion>{s.region}</BucketRegion></Bucket>"
        for b in shown
    )
    inner = f"<Owner>{_owner(req)}</Owner><Buckets>{items}</Buckets>"
    if len(shown) < len(buckets):
        inner += f"<ContinuationToken>{continuation_token(shown[-1].name)}</ContinuationToken>"
    if page.prefix:
        inner += f"<Prefix>{escape(page.prefix)}</Prefix>"
    return Response.xml(document("ListAllMyBucketsResult", inner))


async def create_bucket(req: S3Request, s: Services) -> Response:
    body = b""
    more = True
    while more:
        message = await req.receive()
        if message["type"] == "http.disconnect":
            # Cut short (or timed out): never create the bucket of a request not received.
            raise incomplete_body()
        body += message.get("body", b"")
        more = message.get("more_body", False) and len(body) < 64 * 1024
    name = req.bucket or ""

    def create() -> None:
        location = parse_location(body)
        if location not in (None, "", s.region, "us-east-1", "auto"):
            raise invalid_location(s.region, location)
        tags = parse_new_bucket_tags(body)  # refused before the bucket is made
        ownership, grants = new_bucket_acl(req.caller, req.headers, s.acl)
        try:
            made = s.objects.create_bucket(req.caller, name, object_lock=_lock_enabled(req))
        except BucketAlreadyOwnedByYou:
            # S3 compat: us-east-1 answers its owner's re-creation of a bucket with 200 and
            # changes nothing (AWS's legacy behaviour there); every other region with 409,
            # and us-east-1 too when it names tags, which it would otherwise drop unsaid.
            if s.region != "us-east-1" or tags.pairs:
                raise
            return
        s.acl.settle_new_bucket(made, ownership, grants, tags.to_json() if tags.pairs else None)

    await req.run(create)
    return empty(200, {"location": f"/{name}"})


async def delete_bucket(req: S3Request, s: Services) -> Response:
    await req.run(lambda: s.objects.delete_bucket(req.caller, req.bucket or ""))
    return empty(204)


async def head_bucket(req: S3Request, s: Services) -> Response:
    await req.now(lambda: s.objects.bucket(req.caller, req.bucket or ""))
    # S3 compat: AWS's headers, the access point one included (a bucket is never an alias).
    return empty(
        200,
        {
            "content-type": "application/xml",
            "x-amz-bucket-region": s.region,
            "x-amz-access-point-alias": "false",
        },
    )


async def get_bucket_location(req: S3Request, s: Services) -> Response:
    await req.run(lambda: s.objects.bucket(req.caller, req.bucket or ""))
    # S3 compat: us-east-1 is reported as an empty LocationConstraint.
    region = "" if s.region == "us-east-1" else s.region
    return Response.xml(document("LocationConstraint", region))


def _lock_enabled(req: S3Request) -> bool:
    """x-amz-bucket-object-lock-enabled: a bucket made lockable (and versioned) for good."""
    value = req.headers.get("x-amz-bucket-object-lock-enabled", "false").strip().lower()
    if value not in ("true", "false"):
        raise S3Error(
            "InvalidArgument",
            "x-amz-bucket-object-lock-enabled must be true or false",
            400,
            {"ArgumentName": "x-amz-bucket-object-lock-enabled", "ArgumentValue": value},
        )
    return value == "true"
