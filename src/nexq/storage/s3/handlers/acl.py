"""ACLs and Object Ownership: Get/PutBucketAcl, Get/PutObjectAcl and
Put/Get/DeleteBucketOwnershipControls."""

from __future__ import annotations

from nexq.storage.acl import AclRequest, Ownership
from nexq.storage.s3.acl import check_acl_change
from nexq.storage.s3.acl_headers import acl_request, asks_for_acl
from nexq.storage.s3.acl_xml import parse_ownership, parse_policy, render_ownership, render_policy
from nexq.storage.s3.body import read_small
from nexq.storage.s3.errors import S3Error, missing_content_length
from nexq.storage.s3.handlers.common import Services, empty
from nexq.storage.s3.http import Response, S3Request

MAX_ACL_BYTES = 64 * 1024


async def _acl_body(req: S3Request) -> bytes:
    body = await read_small(req, MAX_ACL_BYTES)
    if body is not None:
        return body
    if "content-length" not in req.headers and "transfer-encoding" in req.headers:
        raise missing_content_length()
    if int(req.headers.get("content-length", "0") or "0") > MAX_ACL_BYTES:
        raise S3Error(
            "MalformedACLError", f"The ACL document is larger than {MAX_ACL_BYTES} bytes.", 400
        )
    return b""


def _asked(req: S3Request, body: bytes) -> AclRequest:
    """The ACL a PutBucketAcl / PutObjectAcl sets: from its headers or its document, never
    both, and never neither."""
    if asks_for_acl(req.headers):
        if body.strip():
            raise S3Error("UnexpectedContent", "This request does not support content", 400)
        return acl_request(req.headers)
    if body.strip():
        return parse_policy(body)
    raise S3Error(
        "MissingSecurityHeader",
        "Your request was missing a required header",
        400,
        {"MissingHeaderName": "x-amz-acl"},
    )


def _version(req: S3Request) -> str | None:
    return req.query.get("versionId")


async def get_bucket_acl(req: S3Request, s: Services) -> Response:
    view = await req.run(lambda: s.acl.bucket_acl(req.caller, req.bucket or ""))
    return Response.xml(render_policy(view))


async def put_bucket_acl(req: S3Request, s: Services) -> Response:
    body = await _acl_body(req)
    name = req.bucket or ""

    def run() -> None:
        _, ownership = s.acl.ownership_of(req.caller, name)
        if ownership is Ownership.BUCKET_OWNER_ENFORCED:
            check_acl_change(req.headers, body, req.caller.account.id)
        else:
            s.acl.set_bucket_acl(req.caller, name, _asked(req, body))

    await req.run(run)
    return empty(200)


async def get_object_acl(req: S3Request, s: Services) -> Response:
    view = await req.run(
        lambda: s.acl.object_acl(req.caller, req.bucket or "", req.key or "", _version(req))
    )
    return Response.xml(render_policy(view))


async def put_object_acl(req: S3Request, s: Services) -> Response:
    body = await _acl_body(req)
    name, key, version = req.bucket or "", req.key or "", _version(req)

    def run() -> None:
        _, ownership = s.acl.ownership_of(req.caller, name)
        if ownership is Ownership.BUCKET_OWNER_ENFORCED:
            s.acl.object_acl(req.caller, name, key, version)  # NoSuchKey first, as before
            check_acl_change(req.headers, body, req.caller.account.id)
        else:
            s.acl.set_object_acl(req.caller, name, key, version, _asked(req, body))

    await req.run(run)
    return empty(200)


# Object Ownership ---------------------------------------------------------------------------
async def put_bucket_ownership_controls(req: S3Request, s: Services) -> Response:
    body = await read_small(req, MAX_ACL_BYTES)
    if body is None:
        raise missing_content_length()
    ownership = parse_ownership(body)
    await req.run(lambda: s.acl.set_ownership_controls(req.caller, req.bucket or "", ownership))
    return empty(200)


async def get_bucket_ownership_controls(req: S3Request, s: Services) -> Response:
    ownership = await req.run(lambda: s.acl.ownership_controls(req.caller, req.bucket or ""))
    return Response.xml(render_ownership(ownership))


async def delete_bucket_ownership_controls(req: S3Request, s: Services) -> Response:
    await req.run(lambda: s.acl.set_ownership_controls(req.caller, req.bucket or "", None))
    return empty(204)
