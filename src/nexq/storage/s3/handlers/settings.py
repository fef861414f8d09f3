"""A bucket's configuration documents: policy, CORS, website, lifecycle and tags (Put/Get/Delete
each).

Each document is checked by its codec and kept as the canonical form the next Get returns:
the policy's own text, CORS as rendered XML, the website, lifecycle rules and tags as JSON that the
background jobs and the console read without S3's XML.
"""

from __future__ import annotations

from nexq.storage.lifecycle_json import rules_from_json, rules_to_json
from nexq.storage.policy import is_public, parse_policy
from nexq.storage.public_access import SETTING as PUBLIC_ACCESS
from nexq.storage.public_access import PublicAccessBlock
from nexq.storage.s3.body import read_small
from nexq.storage.s3.cors import parse_cors, render_cors
from nexq.storage.s3.document import Fields, root_of
from nexq.storage.s3.errors import S3Error, missing_content_length
from nexq.storage.s3.handlers.common import Services, empty
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.lifecycle_xml import parse_lifecycle, render_lifecycle
from nexq.storage.s3.tagging_xml import parse_bucket_tagging, render_tagging
from nexq.storage.s3.website_xml import parse_website, render_website
from nexq.storage.s3.xml import document
from nexq.storage.tagging import TAGGING_SETTING, TagSet
from nexq.storage.website import SETTING as WEBSITE
from nexq.storage.website import Website

MAX_DOCUMENT_BYTES = 1024 * 1024

# name → (S3's error when the bucket has none, its message)
_MISSING = {
    "policy": ("NoSuchBucketPolicy", "The bucket policy does not exist"),
    "cors": ("NoSuchCORSConfiguration", "The CORS configuration does not exist"),
    WEBSITE: (
        "NoSuchWebsiteConfiguration",
        "The specified bucket does not have a website configuration",
    ),
    "lifecycle": ("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"),
    TAGGING_SETTING: ("NoSuchTagSet", "The TagSet does not exist"),
    PUBLIC_ACCESS: (
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
    ),
}
_SWITCHES = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


async def _body(req: S3Request) -> bytes:
    body = await read_small(req, MAX_DOCUMENT_BYTES)
    if body is None:
        raise missing_content_length()
    return body


async def _stored(req: S3Request, s: Services, name: str) -> str:
    found = await req.run(lambda: s.objects.bucket_document(req.caller, req.bucket or "", name))
    if found is None:
        code, message = _MISSING[name]
        raise S3Error(code, message, 404, {"BucketName": req.bucket or ""})
    return found


async def _delete(req: S3Request, s: Services, name: str) -> Response:
    await req.run(lambda: s.objects.set_bucket_document(req.caller, req.bucket or "", name, None))
    return empty(204)


# policy ---------------------------------------------------------------------------------
async def put_bucket_policy(req: S3Request, s: Services) -> Response:
    body = await _body(req)
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise S3Error("MalformedPolicy", "Policies must be valid UTF-8", 400) from None
    await req.run(lambda: s.objects.set_bucket_policy(req.caller, req.bucket or "", text))
    return empty(204)


async def get_bucket_policy(req: S3Request, s: Services) -> Response:
    text = await _stored(req, s, "policy")
    return Response(200, {"content-type": "application/json"}, text.encode())


async def delete_bucket_policy(req: S3Request, s: Services) -> Response:
    return await _delete(req, s, "policy")


async def get_bucket_policy_status(req: S3Request, s: Services) -> Response:
    text = await _stored(req, s, "policy")
    public = is_public(parse_policy(text, req.bucket or ""))
    return Response.xml(
        document("PolicyStatus", f"<IsPublic>{'true' if public else 'false'}</IsPublic>")
    )


# CORS -----------------------------------------------------------------------------------
async def put_bucket_cors(req: S3Request, s: Services) -> Response:
    text = render_cors(parse_cors(await _body(req)))
    await req.run(lambda: s.objects.set_bucket_document(req.caller, req.bucket or "", "cors", text))
    return empty(200)


async def get_bucket_cors(req: S3Request, s: Services) -> Response:
    return Response.xml(await _stored(req, s, "cors"))


async def delete_bucket_cors(req: S3Request, s: Services) -> Response:
    return await _delete(req, s, "cors")


# website --------------------------------------------------------------------------------
async def put_bucket_website(req: S3Request, s: Services) -> Response:
    text = parse_website(await _body(req)).to_json()
    await req.run(
        lambda: s.objects.set_bucket_document(req.caller, req.bucket or "", WEBSITE, text)
    )
    return empty(200)


async def get_bucket_website(req: S3Request, s: Services) -> Response:
    return Response.xml(render_website(Website.from_json(await _stored(req, s, WEBSITE))))


async def delete_bucket_website(req: S3Request, s: Services) -> Response:
    return await _delete(req, s, WEBSITE)


# lifecycle ------------------------------------------------------------------------------
async def put_bucket_lifecycle(req: S3Request, s: Services) -> Response:
    rules = parse_lifecycle(await _body(req))
    text = rules_to_json(rules)
    await req.run(
        lambda: s.objects.set_bucket_document(req.caller, req.bucket or "", "lifecycle", text)
    )
    return empty(200)


async def get_bucket_lifecycle(req: S3Request, s: Services) -> Response:
    rules = rules_from_json(await _stored(req, s, "lifecycle"))
    return Response.xml(render_lifecycle(rules))


async def delete_bucket_lifecycle(req: S3Request, s: Services) -> Response:
    return await _delete(req, s, "lifecycle")


# bucket tags ----------------------------------------------------------------------------
async def put_bucket_tagging(req: S3Request, s: Services) -> Response:
    tags = parse_bucket_tagging(await _body(req))
    text = tags.to_json() if tags.pairs else None  # an empty TagSet removes them (as AWS)
    await req.run(
        lambda: s.objects.set_bucket_document(req.caller, req.bucket or "", TAGGING_SETTING, text)
    )
    return empty(204)


async def get_bucket_tagging(req: S3Request, s: Services) -> Response:
    tags = TagSet.from_json(await _stored(req, s, TAGGING_SETTING))
    return Response.xml(render_tagging(tags))


async def delete_bucket_tagging(req: S3Request, s: Services) -> Response:
    return await _delete(req, s, TAGGING_SETTING)


# Block Public Access --------------------------------------------------------------------
async def put_public_access_block(req: S3Request, s: Services) -> Response:
    root = root_of(await _body(req), "PublicAccessBlockConfiguration")
    fields = Fields(root, frozenset(_SWITCHES))
    block = PublicAccessBlock(*(fields.boolean(name) or False for name in _SWITCHES))
    await req.run(
        lambda: s.objects.set_bucket_document(
            req.caller, req.bucket or "", PUBLIC_ACCESS, block.to_json()
        )
    )
    return empty(200)


async def get_public_access_block(req: S3Request, s: Services) -> Response:
    block = PublicAccessBlock.parse(await _stored(req, s, PUBLIC_ACCESS))
    flags = (
        block.block_public_acls,
        block.ignore_public_acls,
        block.block_public_policy,
        block.restrict_public_buckets,
    )
    inner = "".join(
        f"<{name}>{'true' if on else 'false'}</{name}>"
        for name, on in zip(_SWITCHES, flags, strict=True)
    )
    return Response.xml(document("PublicAccessBlockConfiguration", inner))


async def delete_public_access_block(req: S3Request, s: Services) -> Response:
    return await _delete(req, s, PUBLIC_ACCESS)
