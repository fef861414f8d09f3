"""The x-amz-object-lock-* headers: read from writes, answered on reads."""

from __future__ import annotations

import datetime as dt

from nexq.storage.model import ObjectMeta
from nexq.storage.object_lock import DeleteConditions, LockRequest
from nexq.storage.s3.errors import invalid_argument
from nexq.storage.s3.http import S3Request, parse_http_date
from nexq.storage.s3.xml import iso_time_millis

BYPASS = "x-amz-bypass-governance-retention"


def parse_date(value: str, name: str) -> float:
    """An ISO 8601 date-time of a lock (a retain-until date); InvalidArgument otherwise."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid_argument(f"The {name} is not a valid ISO 8601 date.", name, value) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def lock_request(req: S3Request) -> LockRequest | None:
    """The x-amz-object-lock-* headers of a PUT, copy or CreateMultipartUpload."""
    mode = req.headers.get("x-amz-object-lock-mode")
    until = req.headers.get("x-amz-object-lock-retain-until-date")
    hold = req.headers.get("x-amz-object-lock-legal-hold")
    if mode is None and until is None and hold is None:
        return None
    if hold is not None and hold not in ("ON", "OFF"):
        raise invalid_argument(
            "Legal Hold must be either of 'ON' or 'OFF'", "x-amz-object-lock-legal-hold", hold
        )
    return LockRequest(
        mode,
        parse_date(until, "x-amz-object-lock-retain-until-date") if until is not None else None,
        None if hold is None else hold == "ON",
    )


def lock_headers(meta: ObjectMeta) -> dict[str, str]:
    """What GET and HEAD answer of a version's lock."""
    headers = {}
    if meta.lock_mode is not None and meta.lock_until is not None:
        headers["x-amz-object-lock-mode"] = meta.lock_mode
        headers["x-amz-object-lock-retain-until-date"] = iso_time_millis(meta.lock_until)
    if meta.legal_hold is not None:  # set, ON or OFF (never set: no header, as S3)
        headers["x-amz-object-lock-legal-hold"] = "ON" if meta.legal_hold else "OFF"
    return headers


def bypass_governance(req: S3Request) -> bool:
    return req.headers.get(BYPASS, "").strip().lower() == "true"


def delete_conditions(req: S3Request) -> DeleteConditions | None:
    """A conditional DeleteObject's preconditions: If-Match, x-amz-if-match-last-modified-
    time (an HTTP date), x-amz-if-match-size."""
    etag = req.headers.get("if-match")
    modified = req.headers.get("x-amz-if-match-last-modified-time")
    size = req.headers.get("x-amz-if-match-size")
    if etag is None and modified is None and size is None:
        return None
    when = parse_http_date(modified) if modified is not None else None
    if modified is not None and when is None:
        raise invalid_argument(
            "x-amz-if-match-last-modified-time is not a valid HTTP date",
            "x-amz-if-match-last-modified-time",
            modified,
        )
    if size is not None and not size.isdigit():
        raise invalid_argument(
            "x-amz-if-match-size must be a number of bytes", "x-amz-if-match-size", size
        )
    return DeleteConditions(etag, when, int(size) if size is not None else None)
