"""Lifecycle on the wire: the ``LifecycleConfiguration`` document of
Put/GetBucketLifecycleConfiguration, and the ``x-amz-expiration``, ``x-amz-abort-date`` and
``x-amz-abort-rule-id`` headers.

Transitions: Nexq keeps every object in its one storage class, STANDARD, and STANDARD is
not a class S3 transitions to. So a Transition or NoncurrentVersionTransition is refused as
S3 refuses a storage class it does not offer (InvalidStorageClass), rather than accepted
and never carried out; one naming a class S3 does not know is MalformedXML, as on S3.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from urllib.parse import quote
from xml.etree.ElementTree import Element

from nexq.storage.lifecycle import (
    Expiration,
    Filter,
    FilterForm,
    InvalidLifecycleArgument,
    InvalidLifecycleRequest,
    NoncurrentVersionExpiration,
    Rule,
    abort_date,
    expiry,
    iso_date,
    validate,
)
from nexq.storage.s3.document import Fields, root_of
from nexq.storage.s3.errors import S3Error, invalid_argument, invalid_request, malformed_xml
from nexq.storage.s3.http import http_date
from nexq.storage.s3.xml import document, escape

INT_MAX = 2**31 - 1  # xs:int, the type of every day count
LONG_MAX = 2**63 - 1  # xs:long, the type of the size filters
TRANSITION_CLASSES = frozenset(
    {"GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE", "GLACIER_IR"}
)
_RULE_FIELDS = frozenset(
    {
        "ID",
        "Prefix",
        "Filter",
        "Status",
        "Expiration",
        "Transition",
        "NoncurrentVersionTransition",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
    }
)
_PREDICATES = frozenset({"Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"})
_DATE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", re.ASCII)
# Printable ASCII but the two characters a quoted header value cannot hold as they are.
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\')


def new_rule_id() -> str:
    """The ID S3 gives a rule sent without one: a random UUID's text, in base64."""
    return base64.b64encode(str(uuid.uuid4()).encode()).decode()


def parse_lifecycle(body: bytes, new_id: Callable[[], str] = new_rule_id) -> list[Rule]:
    """PutBucketLifecycleConfiguration's body as rules, or the S3 error AWS gives for it."""
    root = root_of(body, "LifecycleConfiguration")
    rules = [_rule(element, new_id) for element in Fields(root, frozenset({"Rule"})).many("Rule")]
    try:
        validate(rules)
    except InvalidLifecycleArgument as exc:
        raise invalid_argument(exc.message, exc.name, exc.value) from None
    except InvalidLifecycleRequest as exc:
        raise invalid_request(exc.message) from None
    return rules


def _rule(element: Element, new_id: Callable[[], str]) -> Rule:
    fields = Fields(element, _RULE_FIELDS)
    status = fields.required_text("Status")
    if status not in ("Enabled", "Disabled"):
        raise malformed_xml()
    legacy_prefix, filter_element = fields.text("Prefix"), fields.element("Filter")
    if (legacy_prefix is None) == (filter_element is None):
        raise malformed_xml()  # a rule has a Filter or (before filters) a Prefix: one of them
    if filter_element is not None:
        rule_filter = _filter(filter_element)
    else:
        rule_filter = Filter(FilterForm.LEGACY, prefix=legacy_prefix)
    for name in ("Transition", "NoncurrentVersionTransition"):
        for transition in fields.many(name):
            _refuse_transition(transition, name)
    expiration = fields.element("Expiration")
    noncurrent = fields.element("NoncurrentVersionExpiration")
    abort = fields.element("AbortIncompleteMultipartUpload")
    return Rule(
        id=fields.text("ID") or new_id(),
        enabled=status == "Enabled",
        filter=rule_filter,
        expiration=None if expiration is None else _expiration(expiration),
        noncurrent_expiration=None if noncurrent is None else _noncurrent(noncurrent),
        abort_after_days=None if abort is None else _abort(abort),
    )


def _filter(element: Element) -> Filter:
    fields = Fields(element, _PREDICATES | {"And"})
    present = list(element)
    if not present:
        return Filter(FilterForm.EMPTY)
    if len(present) > 1:
        raise malformed_xml()  # two predicates need an And
    if fields.has("And"):
        return _and(Fields(present[0], _PREDICATES), len(list(present[0])))
    if fields.has("Prefix"):
        return Filter(FilterForm.PREFIX, prefix=fields.text("Prefix"))
    if fields.has("Tag"):
        return Filter(FilterForm.TAG, tags=(_tag(present[0]),))
    if fields.has("ObjectSizeGreaterThan"):
        return Filter(FilterForm.GREATER, greater_than=_size(fields, "ObjectSizeGreaterThan"))
    return Filter(FilterForm.LESS, less_than=_size(fields, "ObjectSizeLessThan"))


def _and(fields: Fields, count: int) -> Filter:
    if count < 2:
        raise malformed_xml()  # S3 refuses an And of a single predicate
    return Filter(
        FilterForm.AND,
        prefix=fields.text("Prefix"),
        tags=tuple(_tag(tag) for tag in fields.many("Tag")),
        greater_than=_size(fields, "ObjectSizeGreaterThan"),
        less_than=_size(fields, "ObjectSizeLessThan"),
    )


def _tag(element: Element) -> tuple[str, str]:
    fields = Fields(element, frozenset({"Key", "Value"}))
    key = fields.required_text("Key")
    if not key:
        raise malformed_xml()
    # A tag without a Value matches objects whose tag has the empty value.
    return key, fields.text("Value") or ""


def _size(fields: Fields, name: str) -> int | None:
    return _number(fields, name, LONG_MAX)


def _number(fields: Fields, name: str, maximum: int) -> int | None:
    value = fields.integer(name)
    if value is not None and not -maximum - 1 <= value <= maximum:
        raise malformed_xml()
    return value


def _expiration(element: Element) -> Expiration:
    fields = Fields(element, frozenset({"Days", "Date", "ExpiredObjectDeleteMarker"}))
    days, date = _number(fields, "Days", INT_MAX), fields.text("Date")
    marker = fields.boolean("ExpiredObjectDeleteMarker")
    if (days is not None) + (date is not None) + (marker is not None) != 1:
        # One of Days, Date or ExpiredObjectDeleteMarker, never two nor none.
        raise malformed_xml()
    return Expiration(days, None if date is None else parse_date(date), marker)


def parse_date(text: str) -> float:
    """An ISO 8601 date-time (xs:dateTime; UTC when it names no zone) as epoch seconds."""
    found = _DATE.fullmatch(text.strip())
    if found is None:
        raise malformed_xml()
    base, fraction, zone = found.groups()
    try:
        moment = datetime.fromisoformat(f"{base}{'+00:00' if zone in (None, 'Z') else zone}")
    except ValueError:
        raise malformed_xml() from None
    # The fraction is added apart: fromisoformat would drop digits past microseconds.
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


def _noncurrent(element: Element) -> NoncurrentVersionExpiration:
    fields = Fields(element, frozenset({"NoncurrentDays", "NewerNoncurrentVersions"}))
    days = _number(fields, "NoncurrentDays", INT_MAX)
    if days is None:
        raise malformed_xml()
    return NoncurrentVersionExpiration(days, _number(fields, "NewerNoncurrentVersions", INT_MAX))


def _abort(element: Element) -> int:
    days = _number(
        Fields(element, frozenset({"DaysAfterInitiation"})), "DaysAfterInitiation", INT_MAX
    )
    if days is None:
        raise malformed_xml()
    return days


def _refuse_transition(element: Element, name: str) -> None:
    if name == "Transition":
        allowed = frozenset({"Days", "Date", "StorageClass"})
    else:
        allowed = frozenset({"NoncurrentDays", "NewerNoncurrentVersions", "StorageClass"})
    fields = Fields(element, allowed)
    if fields.required_text("StorageClass") not in TRANSITION_CLASSES:
        raise malformed_xml()
    raise S3Error("InvalidStorageClass", "The storage class you specified is not valid", 400)


# --- rendering -----------------------------------------------------------------------------


def render_lifecycle(rules: Sequence[Rule]) -> str:
    """GetBucketLifecycleConfiguration's document: each rule's ID, filter, status, actions."""
    return document("LifecycleConfiguration", "".join(_render_rule(rule) for rule in rules))


def _render_rule(rule: Rule) -> str:
    status = "Enabled" if rule.enabled else "Disabled"
    parts = [
        f"<ID>{escape(rule.id)}</ID>",
        _render_filter(rule.filter),
        f"<Status>{status}</Status>",
    ]
    if (e := rule.expiration) is not None:
        inner = f"<Date>{iso_date(e.date)}</Date>" if e.date is not None else ""
        inner += f"<Days>{e.days}</Days>" if e.days is not None else ""
        if e.expired_object_delete_marker is not None:
            marker = "true" if e.expired_object_delete_marker else "false"
            inner += f"<ExpiredObjectDeleteMarker>{marker}</ExpiredObjectDeleteMarker>"
        parts.append(f"<Expiration>{inner}</Expiration>")
    if (n := rule.noncurrent_expiration) is not None:
        inner = f"<NoncurrentDays>{n.noncurrent_days}</NoncurrentDays>"
        if n.newer_noncurrent_versions is not None:
            inner += (
                f"<NewerNoncurrentVersions>{n.newer_noncurrent_versions}</NewerNoncurrentVersions>"
            )
        parts.append(f"<NoncurrentVersionExpiration>{inner}</NoncurrentVersionExpiration>")
    if rule.abort_after_days is not None:
        parts.append(
            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>"
            f"{rule.abort_after_days}</DaysAfterInitiation></AbortIncompleteMultipartUpload>"
        )
    return f"<Rule>{''.join(parts)}</Rule>"


def _render_filter(f: Filter) -> str:
    if f.form is FilterForm.LEGACY:
        return f"<Prefix>{escape(f.prefix or '')}</Prefix>"
    if f.form is FilterForm.EMPTY:
        return "<Filter/>"
    inner = f"<Prefix>{escape(f.prefix)}</Prefix>" if f.prefix is not None else ""
    inner += "".join(
        f"<Tag><Key>{escape(key)}</Key><Value>{escape(value)}</Value></Tag>"
        for key, value in f.tags
    )
    if f.greater_than is not None:
        inner += f"<ObjectSizeGreaterThan>{f.greater_than}</ObjectSizeGreaterThan>"
    if f.less_than is not None:
        inner += f"<ObjectSizeLessThan>{f.less_than}</ObjectSizeLessThan>"
    return (
        f"<Filter><And>{inner}</And></Filter>"
        if f.form is FilterForm.AND
        else f"<Filter>{inner}</Filter>"
    )


# --- headers -------------------------------------------------------------------------------


def _rule_id_text(rule_id: str) -> str:
    # S3 compat: S3 writes rule IDs as they are (spaces and all); only what a quoted header
    # value cannot carry is percent-encoded.
    return quote(rule_id, safe=_HEADER_SAFE)


def expiration_header(
    rules: Sequence[Rule], key: str, size: int, tags: Mapping[str, str], last_modified: float
) -> str | None:
    """``x-amz-expiration`` of GetObject, HeadObject, PutObject, CopyObject and
    CompleteMultipartUpload for the current version, or None when no rule expires it."""
    found = expiry(rules, key, size, tags, last_modified)
    if found is None:
        return None
    at, rule_id = found
    return f'expiry-date="{http_date(at)}", rule-id="{_rule_id_text(rule_id)}"'


def abort_headers(rules: Sequence[Rule], key: str, initiated: float) -> dict[str, str]:
    """``x-amz-abort-date`` and ``x-amz-abort-rule-id`` of CreateMultipartUpload and
    ListParts, when a rule will abort the upload."""
    found = abort_date(rules, key, initiated)
    if found is None:
        return {}
    at, rule_id = found
    return {"x-amz-abort-date": http_date(at), "x-amz-abort-rule-id": _rule_id_text(rule_id)}
