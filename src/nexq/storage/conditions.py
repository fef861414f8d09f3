"""HTTP conditional reads and copies, decided on an object's ETag and modification time."""

from __future__ import annotations

import time
from dataclasses import dataclass

from nexq.storage.errors import NotModified, PreconditionFailed
from nexq.storage.model import ObjectMeta

COPY_SOURCE = "x-amz-copy-source-"


@dataclass(frozen=True, slots=True)
class Conditions:
    """If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since (times as epoch)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: float | None = None
    if_unmodified_since: float | None = None

    @property
    def empty(self) -> bool:
        return (
            self.if_match is None
            and self.if_none_match is None
            and self.if_modified_since is None
            and self.if_unmodified_since is None
        )


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/").strip('"') for t in header.split(",")]
    return "*" in tags or etag in tags


def check_read(meta: ObjectMeta, c: Conditions) -> None:
    """Raise PreconditionFailed or NotModified as RFC 9110 section 13.2.2 orders them."""
    if c.empty:
        return
    # Times are compared at one-second resolution, as HTTP dates carry no fractions.
    modified = int(meta.last_modified)
    if c.if_match is not None:
        if not _etag_matches(c.if_match, meta.etag):
            raise PreconditionFailed("If-Match")
    elif c.if_unmodified_since is not None and modified > c.if_unmodified_since:
        raise PreconditionFailed("If-Unmodified-Since")
    if c.if_none_match is not None:
        if _etag_matches(c.if_none_match, meta.etag):
            raise NotModified("If-None-Match")
    elif (
        c.if_modified_since is not None
        and modified <= c.if_modified_since
        and c.if_modified_since <= time.time()
    ):
        # A date later than now is no valid If-Modified-Since (RFC 9110): ignored, as AWS
        # ignores it, on GETs and on copies' sources.
        raise NotModified("If-Modified-Since")


def check_copy_source(meta: ObjectMeta, c: Conditions) -> None:
    """x-amz-copy-source-if-*: every failed condition is 412 (S3 never answers 304 to a copy),
    naming its header as S3 does (``x-amz-copy-source-If-Match``)."""
    try:
        check_read(meta, c)
    except (NotModified, PreconditionFailed) as failed:
        raise PreconditionFailed(f"{COPY_SOURCE}{failed.condition}") from None
