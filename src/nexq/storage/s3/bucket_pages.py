"""ListBuckets' page: what max-buckets, continuation-token, prefix and bucket-region ask for."""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass

from nexq.storage.s3.errors import invalid_argument
from nexq.storage.s3.http import S3Request

MAX_BUCKETS = 10_000
_INT32_MAX = 2**31 - 1
_PAGING = ("max-buckets", "continuation-token", "prefix", "bucket-region")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Versioned so that a later token format can be told from this one.
_TOKEN_PREFIX = b"b1:"


@dataclass(frozen=True, slots=True)
class BucketPage:
    """One page of a ListBuckets request."""

    prefix: str
    after: str | None  # list the names after this one
    limit: int | None  # None: every bucket in one answer, as before pagination existed
    region_matches: bool  # False: bucket-region names a region no bucket of Nexq is in


def bucket_page(req: S3Request, region: str) -> BucketPage:
    """The page ``req`` asks for; S3's InvalidArgument for a bad max-buckets or token."""
    query = req.query
    raw_max = query.get("max-buckets", "")
    limit: int | None = None
    if raw_max:
        limit = _max_buckets(raw_max)
    elif any(name in query for name in _PAGING):
        # S3 compat: any paging parameter without max-buckets pages by 10,000.
        limit = MAX_BUCKETS
    token = query.get("continuation-token") or None
    wanted = query.get("bucket-region")
    # Nexq has one region; us-east-1 and auto name it too, as in signatures.
    matches = wanted is None or wanted in (region, "us-east-1", "auto")
    if not matches and wanted not in _aws_regions():
        # S3 compat: AWS's refusal of a region it does not have (no ArgumentValue).
        raise invalid_argument(
            f"Argument value {wanted} is not a valid AWS Region", "bucket-region"
        )
    return BucketPage(
        prefix=query.get("prefix", ""),
        after=None if token is None else _after(token),
        limit=limit,
        region_matches=matches,
    )


@functools.cache
def _aws_regions() -> frozenset[str]:
    """The regions AWS has, from botocore's endpoint data (boto3 is a dependency already):
    read once, by the first ListBuckets naming a region that is not Nexq's."""
    import botocore.session  # here: rarely needed, and its import is not free

    session = botocore.session.get_session()
    return frozenset(
        name
        for partition in session.get_available_partitions()
        for name in session.get_available_regions("s3", partition_name=partition)
    )


def continuation_token(last_name: str) -> str:
    """An opaque token that resumes after ``last_name``."""
    return base64.urlsafe_b64encode(_TOKEN_PREFIX + last_name.encode()).decode().rstrip("=")


def _after(token: str) -> str:
    try:
        if not _TOKEN.fullmatch(token):
            raise ValueError(token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if not raw.startswith(_TOKEN_PREFIX):
            raise ValueError(token)
        return raw[len(_TOKEN_PREFIX) :].decode("ascii")
    except (binascii.Error, ValueError):
        raise invalid_argument(
            "The continuation token provided is incorrect", "continuation-token", token
        ) from None


def _max_buckets(value: str) -> int:
    if not _INTEGER.fullmatch(value) or abs(int(value)) > _INT32_MAX:
        raise invalid_argument(
            "Provided max-buckets not an integer or within integer range", "max-buckets", value
        )
    number = int(value)
    if not 1 <= number <= MAX_BUCKETS:
        raise invalid_argument(
            f"Argument max-buckets must be an integer between 1 and {MAX_BUCKETS}.",
            "max-buckets",
            value,
        )
    return number
