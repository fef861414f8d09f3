"""Object Lock and conditional deletes: what may remove or change a version. Pure, no I/O.

As AWS: a version under a legal hold, or retained in COMPLIANCE mode until a date not yet
reached, can be removed by nobody, the operator included. GOVERNANCE retention gives way
only to a caller who asks to bypass it (``x-amz-bypass-governance-retention``) and may.
Retention can be extended; COMPLIANCE can never be shortened, removed nor turned into
GOVERNANCE. A delete that only stacks a delete marker removes nothing, so it is allowed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from nexq.core.errors import Conflict, Forbidden, Invalid, NotFound
from nexq.storage.errors import InvalidArgument, NoSuchKey, PreconditionFailed
from nexq.storage.model import ObjectMeta

GOVERNANCE = "GOVERNANCE"
COMPLIANCE = "COMPLIANCE"
MODES = (GOVERNANCE, COMPLIANCE)
SETTING = "objectLock"
DAY = 86_400.0
# The longest default retention (MinIO bounds it so too): without a bound, a huge period
# gives new versions dates that no S3 timestamp (nor Python's datetime) can write.
MAX_DAYS = 36_500
MAX_YEARS = 100


class ObjectLocked(Forbidden):
    """Access Denied because object protected by object lock."""


class InvalidBucketState(Conflict):
    """The request is not valid with the current state of the bucket."""


class ObjectLockConfigurationNotFound(NotFound):
    """Object Lock configuration does not exist for this bucket"""


class NoSuchObjectLockConfiguration(NotFound):
    """The specified object does not have a ObjectLock configuration"""


class NoObjectLockConfiguration(InvalidArgument):
    """Bucket is missing Object Lock Configuration."""


class MalformedDefaultRetention(Invalid):
    """A default retention needs a mode (GOVERNANCE or COMPLIANCE) and one period: days or
    years, not both."""


@dataclass(frozen=True, slots=True)
class LockConfiguration:
    """A bucket's Object Lock: enabled (for good), and the retention new versions get."""

    mode: str | None = None
    days: int | None = None
    years: int | None = None

    def default_retention(self, now: float) -> tuple[str, float] | None:
        """(mode, until) for a new version that names none, if the bucket has a default."""
        if self.mode is None:
            return None
        span = (self.days or 0) * DAY + (self.years or 0) * 365 * DAY
        return self.mode, now + span

    def to_json(self) -> str:
        return json.dumps({"mode": self.mode, "days": self.days, "years": self.years})

    @classmethod
    def parse(cls, text: str | None) -> LockConfiguration | None:
        """The stored configuration; None when the bucket has no Object Lock."""
        if not text:
            return None
        fields = json.loads(text)
        return cls(fields.get("mode"), fields.get("days"), fields.get("years"))


def default_retention(mode: str | None, days: int | None, years: int | None) -> LockConfiguration:
    """A lock-enabled bucket's configuration whose new versions are retained in ``mode`` for
    ``days`` or ``years`` (S3's DefaultRetention); all three absent: no default retention."""
    if mode is None and days is None and years is None:
        return LockConfiguration()
    if mode not in MODES or (days is None) == (years is None):
        raise MalformedDefaultRetention(
            "A default retention needs a mode (GOVERNANCE or COMPLIANCE) and one period: "
            "days or years, not both."
        )
    period, most = (days, MAX_DAYS) if days is not None else (years, MAX_YEARS)
    if period is None or period <= 0:
        raise InvalidArgument("Default retention period must be a positive integer value")
    if period > most:
        unit = "days" if days is not None else "years"
        raise InvalidArgument(f"Default retention period too large: at most {most} {unit}")
    return LockConfiguration(mode, days, years)


def check_retention(mode: str | None, until: float | None, now: float) -> None:
    """A retention given with a write or PutObjectRetention: both or neither, a known mode,
    a date in the future."""
    if (mode is None) != (until is None):
        raise InvalidArgument(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        )
    if mode is not None and mode not in MODES:
        raise InvalidArgument("Unknown wormMode directive.")
    if until is not None and until <= now:
        raise InvalidArgument("The retain until date must be in the future!")


def protected(meta: ObjectMeta, bypass_governance: bool, now: float) -> bool:
    """Whether removing version ``meta`` for good is refused."""
    if meta.legal_hold:
        return True
    if meta.lock_mode is None or meta.lock_until is None or meta.lock_until <= now:
        return False
    return meta.lock_mode == COMPLIANCE or not bypass_governance


def check_removal(meta: ObjectMeta, bypass_governance: bool, now: float) -> None:
    if protected(meta, bypass_governance, now):
        raise ObjectLocked("Access Denied because object protected by object lock.")


def change_retention(
    meta: ObjectMeta, mode: str | None, until: float | None, bypass_governance: bool, now: float
) -> ObjectMeta:
    """``meta`` with its retention replaced, if the rules allow it."""
    held = meta.lock_until is not None and meta.lock_until > now and meta.lock_mode is not None
    if held:
        looser = mode is None or until is None or until < (meta.lock_until or 0.0)
        if meta.lock_mode == COMPLIANCE and (looser or mode != COMPLIANCE):
            raise ObjectLocked("Access Denied because object protected by object lock.")
        # A mode change is no extension: leaving GOVERNANCE, even for COMPLIANCE, needs the
        # bypass (as AWS answers).
        changed = mode != GOVERNANCE
        if meta.lock_mode == GOVERNANCE and (looser or changed) and not bypass_governance:
            raise ObjectLocked("Access Denied because object protected by object lock.")
    return replace(meta, lock_mode=mode, lock_until=until)


@dataclass(frozen=True, slots=True)
class DeleteConditions:
    """A conditional delete's preconditions on the version it removes (If-Match,
    x-amz-if-match-last-modified-time, x-amz-if-match-size)."""

    etag: str | None = None
    last_modified: float | None = None
    size: int | None = None

    def check(self, meta: ObjectMeta | None) -> None:
        """NoSuchKey when there is nothing to match, PreconditionFailed on a mismatch."""
        if meta is None or meta.delete_marker:
            raise NoSuchKey()
        if self.etag is not None and self.etag.strip('"') not in ("*", meta.etag):
            raise PreconditionFailed("If-Match")
        if self.last_modified is not None and int(self.last_modified) != int(meta.last_modified):
            raise PreconditionFailed("x-amz-if-match-last-modified-time")
        if self.size is not None and self.size != meta.size:
            raise PreconditionFailed("x-amz-if-match-size")


@dataclass(frozen=True, slots=True)
class LockRequest:
    """The x-amz-object-lock-* headers of a write: a retention (mode and date, both or
    neither) and a legal hold (None: not given)."""

    mode: str | None = None
    until: float | None = None
    legal_hold: bool | None = None

    @property
    def empty(self) -> bool:
        return self.mode is None and self.until is None and self.legal_hold is None


def apply_lock(
    meta: ObjectMeta, config: LockConfiguration | None, asked: LockRequest | None, now: float
) -> ObjectMeta:
    """A new version with the retention and legal hold it asked for, or the bucket's default
    retention; a request for a lock in a bucket without Object Lock is refused."""
    if config is None:
        if asked is not None and not asked.empty:
            raise NoObjectLockConfiguration("Bucket is missing Object Lock Configuration")
        return meta
    mode, until = (asked.mode, asked.until) if asked is not None else (None, None)
    check_retention(mode, until, now)
    if mode is None:
        mode, until = config.default_retention(now) or (None, None)
    hold = asked.legal_hold if asked is not None else None
    return replace(meta, lock_mode=mode, lock_until=until, legal_hold=hold)
