"""A bucket's lifecycle rules as the REST API reads and writes them: the JSON shape aws-cli
uses (``aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://x.json``).

The shape checks are those PutBucketLifecycleConfiguration makes of its XML
(``s3/lifecycle_xml.py``: one filter form, one expiration kind, no transitions), said here in
terms of the JSON fields; the rules are then checked by ``lifecycle.validate``, the very
checks S3's operation runs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexq.core.errors import Invalid
from nexq.storage.lifecycle import (
    Expiration,
    Filter,
    FilterForm,
    NoncurrentVersionExpiration,
    Rule,
    iso_date,
    validate,
)
from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.lifecycle_xml import (
    INT_MAX,
    LONG_MAX,
    TRANSITION_CLASSES,
    new_rule_id,
    parse_date,
)

# S3's schema types: xs:int for day counts, xs:long for sizes.
DayCount = Annotated[int, Field(ge=-INT_MAX - 1, le=INT_MAX)]
ByteCount = Annotated[int, Field(ge=-LONG_MAX - 1, le=LONG_MAX)]


class _Shape(BaseModel):
    # Field names are aws-cli's, so that a file written for aws-cli, or what GET answers,
    # can be PUT as it is; a field S3 does not define is refused, as S3's schema does.
    model_config = ConfigDict(extra="forbid")


class TagDocument(_Shape):
    Key: str
    Value: str = ""


class AndDocument(_Shape):
    Prefix: str | None = None
    Tags: list[TagDocument] | None = None
    ObjectSizeGreaterThan: ByteCount | None = None
    ObjectSizeLessThan: ByteCount | None = None


class FilterDocument(_Shape):
    """One of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan or And; empty: every
    object."""

    Prefix: str | None = None
    Tag: TagDocument | None = None
    ObjectSizeGreaterThan: ByteCount | None = None
    ObjectSizeLessThan: ByteCount | None = None
    And: AndDocument | None = None


class ExpirationDocument(_Shape):
    """One of Days, Date (midnight UTC, ISO 8601) or ExpiredObjectDeleteMarker."""

    Date: str | None = None
    Days: DayCount | None = None
    ExpiredObjectDeleteMarker: bool | None = None


class NoncurrentVersionExpirationDocument(_Shape):
    NoncurrentDays: DayCount
    NewerNoncurrentVersions: DayCount | None = None


class AbortIncompleteMultipartUploadDocument(_Shape):
    DaysAfterInitiation: DayCount


class TransitionDocument(_Shape):
    Date: str | None = None
    Days: DayCount | None = None
    StorageClass: str


class NoncurrentVersionTransitionDocument(_Shape):
    NoncurrentDays: DayCount | None = None
    StorageClass: str
    NewerNoncurrentVersions: DayCount | None = None


class LifecycleRuleDocument(_Shape):
    ID: Annotated[str | None, Field(description="Given one when left out.")] = None
    Prefix: Annotated[
        str | None, Field(description="The form before filters; use Filter instead.")
    ] = None
    Filter: FilterDocument | None = None
    Status: Literal["Enabled", "Disabled"]
    Expiration: ExpirationDocument | None = None
    Transitions: Annotated[
        list[TransitionDocument] | None,
        Field(description="Refused: Nexq keeps every object in its one storage class."),
    ] = None
    NoncurrentVersionTransitions: Annotated[
        list[NoncurrentVersionTransitionDocument] | None,
        Field(description="Refused: Nexq keeps every object in its one storage class."),
    ] = None
    NoncurrentVersionExpiration: NoncurrentVersionExpirationDocument | None = None
    AbortIncompleteMultipartUpload: AbortIncompleteMultipartUploadDocument | None = None


class LifecycleDocument(_Shape):
    """``{"Rules": [...]}``."""

    Rules: list[LifecycleRuleDocument]


# --- JSON → rules --------------------------------------------------------------------------


def lifecycle_rules(document: LifecycleDocument) -> list[Rule]:
    """The rules of ``document``, or Invalid naming what S3 refuses in it."""
    rules = [_rule(rule, f"Rules[{index}]") for index, rule in enumerate(document.Rules)]
    validate(rules)
    return rules


def _rule(rule: LifecycleRuleDocument, where: str) -> Rule:
    if (rule.Prefix is None) == (rule.Filter is None):
        raise Invalid(f"{where}: give a Filter, or a Prefix (the form before filters): one.")
    if rule.Filter is not None:
        rule_filter = _filter(rule.Filter, f"{where}.Filter")
    else:
        rule_filter = Filter(FilterForm.LEGACY, prefix=rule.Prefix)
    for index, transition in enumerate(rule.Transitions or ()):
        _refuse_transition(transition.StorageClass, f"{where}.Transitions[{index}]")
    for index, noncurrent in enumerate(rule.NoncurrentVersionTransitions or ()):
        _refuse_transition(
            noncurrent.StorageClass, f"{where}.NoncurrentVersionTransitions[{index}]"
        )
    nve = rule.NoncurrentVersionExpiration
    abort = rule.AbortIncompleteMultipartUpload
    return Rule(
        # S3 compat: an empty ID is given a generated one, as a missing one is.
        id=rule.ID or new_rule_id(),
        enabled=rule.Status == "Enabled",
        filter=rule_filter,
        expiration=None
        if rule.Expiration is None
        else _expiration(rule.Expiration, f"{where}.Expiration"),
        noncurrent_expiration=None
        if nve is None
        else NoncurrentVersionExpiration(nve.NoncurrentDays, nve.NewerNoncurrentVersions),
        abort_after_days=None if abort is None else abort.DaysAfterInitiation,
    )


def _filter(f: FilterDocument, where: str) -> Filter:
    given = [
        name
        for name in ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "And")
        if getattr(f, name) is not None
    ]
    if not given:
        return Filter(FilterForm.EMPTY)
    if len(given) > 1:
        raise Invalid(f"{where}: one of {', '.join(given)}; combine predicates with And.")
    if f.And is not None:
        tags = [_tag(tag, f"{where}.And.Tags[{i}]") for i, tag in enumerate(f.And.Tags or ())]
        count = len(tags) + sum(
            value is not None
            for value in (f.And.Prefix, f.And.ObjectSizeGreaterThan, f.And.ObjectSizeLessThan)
        )
        if count < 2:
            raise Invalid(f"{where}.And: combine two predicates or more (one needs no And).")
        return Filter(
            FilterForm.AND,
            prefix=f.And.Prefix,
            tags=tuple(tags),
            greater_than=f.And.ObjectSizeGreaterThan,
            less_than=f.And.ObjectSizeLessThan,
        )
    if f.Prefix is not None:
        return Filter(FilterForm.PREFIX, prefix=f.Prefix)
    if f.Tag is not None:
        return Filter(FilterForm.TAG, tags=(_tag(f.Tag, f"{where}.Tag"),))
    if f.ObjectSizeGreaterThan is not None:
        return Filter(FilterForm.GREATER, greater_than=f.ObjectSizeGreaterThan)
    return Filter(FilterForm.LESS, less_than=f.ObjectSizeLessThan)


def _tag(tag: TagDocument, where: str) -> tuple[str, str]:
    if not tag.Key:
        raise Invalid(f"{where}.Key: a tag needs a key.")
    return tag.Key, tag.Value


def _expiration(e: ExpirationDocument, where: str) -> Expiration:
    given = [
        name
        for name in ("Days", "Date", "ExpiredObjectDeleteMarker")
        if getattr(e, name) is not None
    ]
    if len(given) != 1:
        raise Invalid(f"{where}: one of Days, Date or ExpiredObjectDeleteMarker.")
    return Expiration(
        e.Days,
        None if e.Date is None else _date(e.Date, f"{where}.Date"),
        e.ExpiredObjectDeleteMarker,
    )


def _date(text: str, where: str) -> float:
    # A date alone is midnight UTC, as aws-cli reads it before sending S3 the full form.
    full = f"{text.strip()}T00:00:00Z" if len(text.strip()) == 10 else text
    try:
        return parse_date(full)
    except S3Error:
        raise Invalid(
            f"{where}: {text!r} is not an ISO 8601 date, e.g. 2030-01-01 or 2030-01-01T00:00:00Z."
        ) from None


def _refuse_transition(storage_class: str, where: str) -> None:
    if storage_class not in TRANSITION_CLASSES:
        raise Invalid(f"{where}.StorageClass: {storage_class!r} is not a storage class of S3.")
    # S3 compat: refused as S3 refuses a storage class it does not offer (InvalidStorageClass).
    raise Invalid(
        f"{where}: The storage class you specified is not valid (Nexq keeps every object "
        "in STANDARD, so it makes no transitions)."
    )


# --- rules → JSON --------------------------------------------------------------------------


def lifecycle_document(rules: list[Rule]) -> LifecycleDocument:
    """The JSON shape of stored rules; each filter in the form it was put."""
    return LifecycleDocument(Rules=[_document(rule) for rule in rules])


def _document(rule: Rule) -> LifecycleRuleDocument:
    f = rule.filter
    e, nve = rule.expiration, rule.noncurrent_expiration
    return LifecycleRuleDocument(
        ID=rule.id,
        Prefix=(f.prefix or "") if f.form is FilterForm.LEGACY else None,
        Filter=None if f.form is FilterForm.LEGACY else _filter_document(f),
        Status="Enabled" if rule.enabled else "Disabled",
        Expiration=None
        if e is None
        else ExpirationDocument(
            Date=None if e.date is None else iso_date(e.date),
            Days=e.days,
            ExpiredObjectDeleteMarker=e.expired_object_delete_marker,
        ),
        NoncurrentVersionExpiration=None
        if nve is None
        else NoncurrentVersionExpirationDocument(
            NoncurrentDays=nve.noncurrent_days,
            NewerNoncurrentVersions=nve.newer_noncurrent_versions,
        ),
        AbortIncompleteMultipartUpload=None
        if rule.abort_after_days is None
        else AbortIncompleteMultipartUploadDocument(DaysAfterInitiation=rule.abort_after_days),
    )


def _filter_document(f: Filter) -> FilterDocument:
    tags = [TagDocument(Key=key, Value=value) for key, value in f.tags]
    if f.form is FilterForm.AND:
        return FilterDocument(
            And=AndDocument(
                Prefix=f.prefix,
                Tags=tags or None,
                ObjectSizeGreaterThan=f.greater_than,
                ObjectSizeLessThan=f.less_than,
            )
        )
    return FilterDocument(
        Prefix=f.prefix,
        Tag=tags[0] if tags else None,
        ObjectSizeGreaterThan=f.greater_than,
        ObjectSizeLessThan=f.less_than,
    )
