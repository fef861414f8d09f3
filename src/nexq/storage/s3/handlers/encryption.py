"""A bucket's default encryption: PutBucketEncryption, GetBucketEncryption,
DeleteBucketEncryption.

S3 compat: since January 2023 every bucket encrypts new objects with SSE-S3 whatever its
configuration says, and GetBucketEncryption of a bucket never configured (or whose
configuration was deleted) answers that default. Nexq seals every object at rest the same
way; the configuration is kept as the bucket setting ``encryption`` (JSON). A default of
``aws:kms`` names one of the bucket owner's KMS keys (KMS.NotFoundException if it names
none), or none for the owner's ``aws/s3`` key.
"""

from __future__ import annotations

from nexq.storage.s3.body import read_small
from nexq.storage.s3.encryption_xml import MAX_DOCUMENT_BYTES, parse_encryption, render_encryption
from nexq.storage.s3.errors import missing_content_length
from nexq.storage.s3.handlers.common import Services, empty
from nexq.storage.s3.http import Response, S3Request


async def put_bucket_encryption(req: S3Request, s: Services) -> Response:
    body = await read_small(req, MAX_DOCUMENT_BYTES)
    if body is None:
        raise missing_content_length()
    config = parse_encryption(body)
    await req.run(lambda: s.objects.set_bucket_encryption(req.caller, req.bucket or "", config))
    return empty(200)


async def get_bucket_encryption(req: S3Request, s: Services) -> Response:
    config = await req.run(lambda: s.objects.bucket_encryption(req.caller, req.bucket or ""))
    return Response.xml(render_encryption(config))


async def delete_bucket_encryption(req: S3Request, s: Services) -> Response:
    await req.run(lambda: s.objects.set_bucket_encryption(req.caller, req.bucket or "", None))
    return empty(204)
