"""Bucket lifecycle: the rules of a configuration, S3's checks on them, and what falls due.

Pure: the background job hands in what it knows of a version or an upload and ``now``, and
gets back the one action due, if any; GET/HEAD/PUT ask :func:`expiry` for the date their
``x-amz-expiration`` header announces. Times are epoch seconds, as everywhere in storage.

S3 counts days in whole UTC days: a version ``Days`` old falls due at the first midnight UTC
after ``start + Days days``, where ``start`` is its last-modified time (for a current
version) or the time it became noncurrent (for a noncurrent one), and an upload the same way
from its initiation. So an object written at 10:30 on 15 January under a 3-day rule expires
at 00:00 on 19 January, and one written at exactly 00:00 on 2 January under a 1-day rule at
00:00 on 4 January.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from nexq.core.errors import Invalid
from nexq.storage.errors import InvalidArgument

DAY = 86_400
MAX_RULES = 1000
MAX_ID_CHARS = 255
# S3 compat: the bound S3 names when it refuses an object size filter (1000 TiB).
MAX_FILTER_SIZE = 1_099_511_627_776_000


class InvalidLifecycleRequest(Invalid):
    """The configuration breaks one of S3's rules (S3's InvalidRequest)."""


class InvalidLifecycleArgument(InvalidArgument):
    """A value of the configuration is out of its range (S3's InvalidArgument)."""


class FilterForm(Enum):
    """How the document wrote a rule's filter, kept so that it reads back as it was put."""

    EMPTY = "empty"  # <Filter/>: every object
    PREFIX = "prefix"
    TAG = "tag"
    GREATER = "greater"  # ObjectSizeGreaterThan alone
    LESS = "less"  # ObjectSizeLessThan alone
    AND = "and"
    LEGACY = "legacy"  # the rule-level <Prefix> of configurations before filters ("V1")


@dataclass(frozen=True, slots=True)
class Filter:
    """Which objects a rule applies to: all of the predicates given must hold."""

    form: FilterForm = FilterForm.EMPTY
    prefix: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    greater_than: int | None = None  # sizes exclude the bound itself
    less_than: int | None = None

    def matches(self, key: str, size: int, tags: Mapping[str, str]) -> bool:
        # A tag must match key and value; the object may carry more tags than the filter.
        return (
            (self.prefix is None or key.startswith(self.prefix))
            and all(tags.get(k) == v for k, v in self.tags)
            and (self.greater_than is None or size > self.greater_than)
            and (self.less_than is None or size < self.less_than)
        )

    @property
    def has_sizes(self) -> bool:
        return self.greater_than is not None or self.less_than is not None


@dataclass(frozen=True, slots=True)
class Expiration:
    """Expiration of current versions: after ``days``, on ``date`` (a midnight UTC), or, with
    ``expired_object_delete_marker``, removal of delete markers left with no version."""

    days: int | None = None
    date: float | None = None
    expired_object_delete_marker: bool | None = None


@dataclass(frozen=True, slots=True)
class NoncurrentVersionExpiration:
    """Permanent deletion of noncurrent versions ``noncurrent_days`` after they became
    noncurrent, keeping the ``newer_noncurrent_versions`` most recent ones if given."""

    noncurrent_days: int
    newer_noncurrent_versions: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    enabled: bool
    filter: Filter
    expiration: Expiration | None = None
    noncurrent_expiration: NoncurrentVersionExpiration | None = None
    abort_after_days: int | None = None  # AbortIncompleteMultipartUpload.DaysAfterInitiation

    @property
    def has_action(self) -> bool:
        return (
            self.expiration is not None
            or self.noncurrent_expiration is not None
            or self.abort_after_days is not None
        )


# --- S3's checks ---------------------------------------------------------------------------


def validate(rules: Sequence[Rule]) -> None:
    """Raise the error S3 gives for a configuration of these rules, if any."""
    if not rules:
        raise InvalidLifecycleRequest("At least one lifecycle rule must be specified.")
    if len(rules) > MAX_RULES:
        raise InvalidLifecycleRequest(
            f"The number of lifecycle rules must not exceed the allowed limit of {MAX_RULES} rules."
        )
    legacy = rules[0].filter.form is FilterForm.LEGACY
    seen: set[str] = set()
    for rule in rules:
        if len(rule.id) > MAX_ID_CHARS:
            raise InvalidLifecycleArgument(
                f"ID length should not exceed allowed limit of {MAX_ID_CHARS}", "ID", rule.id
            )
        if rule.id in seen:
            raise InvalidLifecycleArgument(
                "Rule ID must be unique. Found same ID for more than one rule", "ID", rule.id
            )
        seen.add(rule.id)
        _check_version(rule, legacy)
        _check_filter(rule.filter)
        _check_actions(rule)
    if legacy:
        _check_overlaps(rules)


def _check_version(rule: Rule, legacy: bool) -> None:
    # S3 compat: the first rule decides whether the configuration is of rule-level prefixes
    # ("V1") or of filters ("V2"), and S3 refuses the other form after it.
    is_legacy = rule.filter.form is FilterForm.LEGACY
    if legacy and not is_legacy:
        raise InvalidLifecycleRequest("Filter element can only be used in Lifecycle V2.")
    if not legacy and is_legacy:
        raise InvalidLifecycleRequest(
            "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in "
            "the Filter."
        )
    nve = rule.noncurrent_expiration
    if is_legacy and nve is not None and nve.newer_noncurrent_versions is not None:
        raise InvalidLifecycleRequest(
            "NewerNoncurrentVersions element can only be used in Lifecycle V2."
        )


def _check_filter(f: Filter) -> None:
    keys = [key for key, _ in f.tags]
    if len(set(keys)) != len(keys):
        raise InvalidLifecycleRequest("Duplicate Tag Keys are not allowed.")
    if f.greater_than is not None and not 0 <= f.greater_than <= MAX_FILTER_SIZE:
        raise InvalidLifecycleRequest(
            f"'ObjectSizeGreaterThan' should be between 0 and {MAX_FILTER_SIZE}."
        )
    if f.less_than is not None and not 1 <= f.less_than <= MAX_FILTER_SIZE:
        raise InvalidLifecycleRequest(
            f"'ObjectSizeLessThan' should be between 1 and {MAX_FILTER_SIZE}."
        )
    if f.greater_than is not None and f.less_than is not None and f.less_than <= f.greater_than:
        raise InvalidLifecycleRequest(
            "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'."
        )


def _check_actions(rule: Rule) -> None:
    if not rule.has_action:
        raise InvalidLifecycleRequest("At least one action needs to be specified in a rule")
    expiration, nve = rule.expiration, rule.noncurrent_expiration
    if expiration is not None:
        if expiration.days is not None and expiration.days <= 0:
            raise _not_positive("Days", "Expiration")
        if expiration.date is not None and expiration.date % DAY:
            raise InvalidLifecycleArgument(
                "'Date' must be at midnight GMT", "Date", iso_date(expiration.date)
            )
        if expiration.expired_object_delete_marker is not None:
            _refuse_tags_and_sizes(rule.filter, "ExpiredObjectDeleteMarker")
    if nve is not None:
        if nve.noncurrent_days <= 0:
            raise _not_positive("NoncurrentDays", "NoncurrentVersionExpiration")
        if nve.newer_noncurrent_versions is not None and nve.newer_noncurrent_versions <= 0:
            raise _not_positive("NewerNoncurrentVersions", "NoncurrentVersionExpiration")
    if rule.abort_after_days is not None:
        if rule.abort_after_days <= 0:
            raise _not_positive("DaysAfterInitiation", "AbortIncompleteMultipartUpload")
        _refuse_tags_and_sizes(rule.filter, "AbortIncompleteMultipartUpload")


def _refuse_tags_and_sizes(f: Filter, action: str) -> None:
    # Uploads have no tags or size yet, and delete markers no tags: S3 refuses such filters.
    if f.tags:
        raise InvalidLifecycleRequest(f"{action} cannot be specified with Tags.")
    if f.has_sizes:
        raise InvalidLifecycleRequest(f"{action} cannot be specified with Object Size.")


def _not_positive(name: str, action: str) -> InvalidLifecycleArgument:
    return InvalidLifecycleArgument(f"'{name}' for {action} action must be a positive integer")


def _check_overlaps(rules: Sequence[Rule]) -> None:
    # S3 compat: rule-level prefixes may not overlap for one action; filters ("V2") may.
    for kind in ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
        prefixes = sorted(r.filter.prefix or "" for r in rules if _action_kinds(r) & {kind})
        for shorter, longer in itertools.pairwise(prefixes):
            if longer.startswith(shorter):
                raise InvalidLifecycleRequest(
                    f"Found overlapping prefixes '{shorter}' and '{longer}' for same action "
                    f"type '{kind}'"
                )


def _action_kinds(rule: Rule) -> set[str]:
    kinds = {"Expiration"} if rule.expiration is not None else set()
    if rule.noncurrent_expiration is not None:
        kinds.add("NoncurrentVersionExpiration")
    if rule.abort_after_days is not None:
        kinds.add("AbortIncompleteMultipartUpload")
    return kinds


def iso_date(epoch: float) -> str:
    """A lifecycle date as S3 writes it: 2012-12-23T00:00:00.000Z."""
    millis = round((epoch - int(epoch)) * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(epoch))) + f".{millis:03d}Z"


# --- what falls due ------------------------------------------------------------------------


def eligible_at(start: float, days: int) -> float:
    """The first midnight UTC after ``start`` + ``days`` days."""
    return float((int(start // DAY) + days + 1) * DAY)


class Action(Enum):
    NONE = "none"
    # The current version expires: a delete marker is written over it in a versioned bucket,
    # it is deleted in an unversioned one (the caller knows which).
    EXPIRE_CURRENT = "expire-current"
    DELETE_NONCURRENT = "delete-noncurrent"  # a noncurrent version goes for good
    REMOVE_DELETE_MARKER = "remove-delete-marker"  # a delete marker left with no version


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the job knows of one version (or delete marker) of a key."""

    key: str
    size: int
    tags: Mapping[str, str]
    last_modified: float
    is_latest: bool = True
    is_delete_marker: bool = False
    noncurrent_since: float | None = None  # when its successor was written
    newer_noncurrent_count: int = 0  # noncurrent versions of the key newer than this one
    only_version: bool = False  # a delete marker with no other version of its key left


@dataclass(frozen=True, slots=True)
class Due:
    action: Action
    rule_id: str | None = None
    at: float | None = None  # when it fell due


NOTHING_DUE = Due(Action.NONE)


def due(rules: Sequence[Rule], candidate: Candidate, now: float) -> Due:
    """The action due on ``candidate`` at ``now``: of the enabled rules whose filter it
    matches, the one that made it due first (the first listed on a tie)."""
    found = NOTHING_DUE
    for rule in rules:
        if not rule.enabled:
            continue
        if not rule.filter.matches(candidate.key, candidate.size, candidate.tags):
            continue
        at, action = _due_by(rule, candidate)
        if at is not None and at <= now and (found.at is None or at < found.at):
            found = Due(action, rule.id, at)
    return found


def _due_by(rule: Rule, c: Candidate) -> tuple[float | None, Action]:
    expiration, nve = rule.expiration, rule.noncurrent_expiration
    if not c.is_latest:
        # Noncurrent delete markers are noncurrent versions like any other.
        if nve is None or c.noncurrent_since is None:
            return None, Action.NONE
        wanted = nve.newer_noncurrent_versions
        if wanted is not None and c.newer_noncurrent_count < wanted:
            return None, Action.NONE  # one of the newest noncurrent versions S3 keeps
        return eligible_at(c.noncurrent_since, nve.noncurrent_days), Action.DELETE_NONCURRENT
    if expiration is None:
        return None, Action.NONE
    if c.is_delete_marker:
        # S3 takes no action on a current delete marker while other versions remain.
        if not c.only_version:
            return None, Action.NONE
        if expiration.expired_object_delete_marker:
            return c.last_modified, Action.REMOVE_DELETE_MARKER
        # S3 compat: a Days expiration also removes such markers once they are that old.
        if expiration.days is not None:
            return eligible_at(c.last_modified, expiration.days), Action.REMOVE_DELETE_MARKER
        return None, Action.NONE
    return _expires_at(expiration, c.last_modified), Action.EXPIRE_CURRENT


def _expires_at(expiration: Expiration, last_modified: float) -> float | None:
    if expiration.days is not None:
        return eligible_at(last_modified, expiration.days)
    # A date already past still applies: everything it covers is due at once.
    return expiration.date


def expiry(
    rules: Sequence[Rule], key: str, size: int, tags: Mapping[str, str], last_modified: float
) -> tuple[float, str] | None:
    """When the current version of ``key`` expires and by which rule (the earliest; the first
    listed on a tie), or None: what ``x-amz-expiration`` announces."""
    found: tuple[float, str] | None = None
    for rule in rules:
        if not rule.enabled or rule.expiration is None:
            continue
        if not rule.filter.matches(key, size, tags):
            continue
        at = _expires_at(rule.expiration, last_modified)
        if at is not None and (found is None or at < found[0]):
            found = (at, rule.id)
    return found


def abort_date(rules: Sequence[Rule], key: str, initiated: float) -> tuple[float, str] | None:
    """When an upload of ``key`` begun at ``initiated`` is to be aborted and by which rule,
    or None (``x-amz-abort-date`` and ``x-amz-abort-rule-id``)."""
    found: tuple[float, str] | None = None
    for rule in rules:
        if not rule.enabled or rule.abort_after_days is None:
            continue
        # Abort rules filter by prefix only (S3 refuses tags and sizes on them).
        if not key.startswith(rule.filter.prefix or ""):
            continue
        at = eligible_at(initiated, rule.abort_after_days)
        if found is None or at < found[0]:
            found = (at, rule.id)
    return found


def abort_due(rules: Sequence[Rule], key: str, initiated: float, now: float) -> bool:
    """Whether an incomplete upload of ``key`` begun at ``initiated`` is to be aborted."""
    found = abort_date(rules, key, initiated)
    return found is not None and found[0] <= now
