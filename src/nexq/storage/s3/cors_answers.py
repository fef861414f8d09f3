"""CORS on the data plane: preflights answered from a bucket's rules, and the CORS headers of
every other answer to a request that carries an ``Origin`` (the rules themselves are
evaluated by :mod:`nexq.storage.s3.cors`).

A request without ``Origin`` never comes here. One with it costs two cached lookups (the
bucket, its ``cors`` document) and a cached parse of that document.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from nexq.storage.directory import Directory
from nexq.storage.metering import BillingClass, Meter
from nexq.storage.model import Bucket
from nexq.storage.s3 import cors
from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.handlers.common import Services
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.operations import BILLING, Operation

log = logging.getLogger("nexq.s3")


@functools.lru_cache(maxsize=256)
def _parsed(document: str) -> tuple[cors.CORSRule, ...]:
    # Keyed by the stored text itself: a changed configuration is a new key, so this cache
    # needs no invalidation of its own (the Directory's drops the old text).
    return tuple(cors.parse_cors(document.encode()))


def bucket_rules(directory: Directory, bucket: Bucket) -> tuple[cors.CORSRule, ...] | None:
    """The bucket's CORS rules, or None when it has no CORS configuration."""
    document = directory.setting(bucket, "cors")
    if document is None:
        return None
    try:
        return _parsed(document)
    except S3Error:
        # PutBucketCors stores only what it parsed; a document that no longer parses (a
        # stricter parser after an upgrade) answers as no configuration rather than a 500.
        log.error("bucket %s: its stored CORS configuration does not parse", bucket.name)
        return None


def _bucket_not_found(method: str | None) -> S3Error:
    # S3 compat: a preflight to a bucket that does not exist is a 403, not NoSuchBucket.
    return S3Error(
        "AccessForbidden",
        "CORSResponse: Bucket not found",
        403,
        {"Method": method or "OPTIONS", "ResourceType": "BUCKET"},
    )


async def preflight(req: S3Request, s: Services) -> Response:
    """OPTIONS: may the browser send the request it describes? 200 with the headers that
    allow it, or S3's 400/403.

    S3 compat: answered without authentication (a browser never signs a preflight), before
    any signature a presigned URL carries is looked at, and without looking up the key.
    """
    origin = req.headers.get("origin")
    method = req.headers.get("access-control-request-method")
    rules = None
    if origin:  # without one S3 answers 400 whatever the bucket: cors.preflight says so
        directory = s.objects.directory

        def lookup() -> tuple[Bucket | None, tuple[cors.CORSRule, ...] | None]:
            # No authentication refreshed the caches for this request: do it here, so a
            # configuration changed by another process applies at once.
            directory.refresh()
            bucket = directory.bucket(req.bucket) if req.bucket else None
            return bucket, None if bucket is None else bucket_rules(directory, bucket)

        loop = asyncio.get_running_loop()
        bucket, rules = await loop.run_in_executor(req.executor, lookup)
        if bucket is None:
            raise _bucket_not_found(method)
    headers = cors.preflight(
        rules,
        origin,
        method,
        req.headers.get("access-control-request-headers"),
        "OBJECT" if req.key else "BUCKET",
    )
    return Response(200, {name.lower(): value for name, value in headers.items()})


def add_actual_headers(req: S3Request, response: Response, directory: Directory) -> None:
    """Add the CORS headers the bucket's rules give ``req`` (which carries an ``Origin``) to
    its answer, an error as much as a success (as S3 does: a browser script can then read
    the error). Nothing when no rule matches."""
    if req.bucket is None or req.operation is Operation.OPTIONS_OBJECT:
        return
    try:
        if req.credential is None:
            # Refused before authentication, which would have refreshed the caches.
            directory.refresh()
        bucket = directory.bucket(req.bucket)
        if bucket is None:
            return
        headers = cors.actual_response_headers(
            bucket_rules(directory, bucket),
            req.headers.get("origin"),
            req.method,
            req.headers.get("access-control-request-method"),
            req.headers.get("access-control-request-headers"),
        )
    except Exception:
        # The answer is made already: a failure to read the rules costs its CORS headers,
        # never the answer itself.
        log.exception("CORS headers of %s %s", req.method, req.raw_path)
        return
    for name, value in headers.items():
        response.headers[name.lower()] = value


def count_preflight(meter: Meter, directory: Directory, req: S3Request, status: int) -> None:
    """Meter a preflight for the bucket's owner (see docs/metering.md): an allowed one is a
    request in its class, a refused one is shown but not billed, a missing bucket's is
    nobody's."""
    bucket = directory.bucket(req.bucket) if req.bucket else None
    if bucket is None:
        return
    # S3 compat: AWS bills preflights as requests, in the tier of GET. A refused one is not
    # billed, as no refused request from outside the account is: anyone can send them.
    billing = BILLING[Operation.OPTIONS_OBJECT] if status < 300 else BillingClass.OTHER
    meter.record(bucket.account_id, bucket.id, bucket.name, billing)
