"""A bucket's configuration documents as the Settings page edits them.

Each edit is checked by the very codec the S3 operation uses (a draft is written as the
document PutBucketCors or PutBucketLifecycleConfiguration would receive and parsed back), so
the console accepts and refuses exactly what S3 does, with S3's messages. What is stored is
what those operations store: CORS as rendered XML, lifecycle rules and tags as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nexq.core.errors import Invalid
from nexq.storage.lifecycle import (
    Expiration,
    Filter,
    FilterForm,
    NoncurrentVersionExpiration,
    iso_date,
)
from nexq.storage.lifecycle import Rule as LifecycleRule
from nexq.storage.lifecycle_json import rules_from_json, rules_to_json
from nexq.storage.s3.cors import MAX_RULES as MAX_CORS_RULES
from nexq.storage.s3.cors import CORSRule, parse_cors, render_cors
from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.lifecycle_xml import INT_MAX, new_rule_id, parse_lifecycle, render_lifecycle
from nexq.storage.tagging import TagSet

# aws-cli's names for a CORSRule's fields, in the order it prints them.
_CORS_LISTS = {
    "AllowedHeaders": "allowed_headers",
    "AllowedMethods": "allowed_methods",
    "AllowedOrigins": "allowed_origins",
    "ExposeHeaders": "expose_headers",
}
_CORS_FIELDS = frozenset({"ID", "MaxAgeSeconds", *_CORS_LISTS})
CORS_EXAMPLE = json.dumps(
    {
        "CORSRules": [
            {
                "AllowedHeaders": ["*"],
                "AllowedMethods": ["GET", "PUT"],
                "AllowedOrigins": ["https://www.example.com"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3000,
            }
        ]
    },
    indent=2,
)


class SettingRefused(Invalid):
    """A draft the bucket cannot take; the message says why (S3's words where S3 has them)."""


# --- CORS ----------------------------------------------------------------------------------


def cors_rules(stored: str | None) -> list[CORSRule]:
    """The stored CORS configuration's rules (none when the bucket has no configuration)."""
    return parse_cors(stored.encode()) if stored else []


def cors_json(rules: list[CORSRule]) -> str:
    """The rules as aws-cli shows and takes them (``--cors-configuration``)."""
    if not rules:
        return ""
    shown: list[dict[str, Any]] = []
    for rule in rules:
        item: dict[str, Any] = {"ID": rule.id} if rule.id is not None else {}
        for name, attribute in _CORS_LISTS.items():
            if values := getattr(rule, attribute):
                item[name] = list(values)
        if rule.max_age_seconds is not None:
            item["MaxAgeSeconds"] = rule.max_age_seconds
        shown.append(item)
    return json.dumps({"CORSRules": shown}, indent=2, ensure_ascii=False)


def cors_document(text: str) -> str:
    """The document to store for a draft in aws-cli's JSON shape, or SettingRefused."""
    rules = [_cors_rule(index, item) for index, item in enumerate(_cors_items(text))]
    try:
        return render_cors(parse_cors(render_cors(rules).encode()))
    except S3Error as exc:
        raise SettingRefused(exc.message) from None


def _cors_items(text: str) -> list[Any]:
    try:
        draft = json.loads(text)
    except ValueError as exc:
        raise SettingRefused(f"The CORS configuration is not valid JSON: {exc}.") from None
    if not isinstance(draft, dict) or set(draft) != {"CORSRules"}:
        raise SettingRefused('Write the configuration as {"CORSRules": [ ... ]}.')
    items = draft["CORSRules"]
    # S3 answers both with MalformedXML, which says nothing to someone writing JSON.
    if not isinstance(items, list) or not items:
        raise SettingRefused("CORSRules must list at least one rule (Delete removes them all).")
    if len(items) > MAX_CORS_RULES:
        raise SettingRefused(f"A bucket takes at most {MAX_CORS_RULES} CORS rules.")
    return items


def _cors_rule(index: int, item: Any) -> CORSRule:
    where = f"CORSRules[{index}]"
    if not isinstance(item, dict):
        raise SettingRefused(f"{where} must be an object.")
    unknown = sorted(set(item) - _CORS_FIELDS)
    if unknown:
        raise SettingRefused(f"{where} has an unknown field: {unknown[0]}.")
    lists: dict[str, tuple[str, ...]] = {}
    for name, attribute in _CORS_LISTS.items():
        values = item.get(name, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SettingRefused(f"{where}.{name} must be a list of strings.")
        lists[attribute] = tuple(values)
    if not lists["allowed_origins"] or not lists["allowed_methods"]:
        raise SettingRefused(f"{where} needs AllowedOrigins and AllowedMethods.")
    max_age = item.get("MaxAgeSeconds")
    if max_age is not None and (type(max_age) is not int or not 0 <= max_age <= INT_MAX):
        raise SettingRefused(f"{where}.MaxAgeSeconds must be a whole number of seconds.")
    rule_id = item.get("ID")
    if rule_id is not None and not isinstance(rule_id, str):
        raise SettingRefused(f"{where}.ID must be a string.")
    return CORSRule(max_age_seconds=max_age, id=rule_id, **lists)


# --- lifecycle -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LifecycleDraft:
    """The add-rule form as typed: every field text, empty when left blank."""

    id: str = ""
    prefix: str = ""
    expire_days: str = ""
    noncurrent_days: str = ""
    abort_days: str = ""


@dataclass(frozen=True, slots=True)
class LifecycleRow:
    """One rule as the Settings page lists it."""

    id: str
    enabled: bool
    prefix: str | None
    other_filters: str  # tags and sizes, which the console shows but does not edit
    expire: str
    noncurrent: str
    abort: str


def lifecycle_rules(stored: str | None) -> list[LifecycleRule]:
    return rules_from_json(stored) if stored else []


def lifecycle_rows(rules: list[LifecycleRule]) -> list[LifecycleRow]:
    return [_row(rule) for rule in rules]


def _days(count: int | None) -> str:
    if count is None:
        return ""
    return f"{count} day{'' if count == 1 else 's'}"


def _row(rule: LifecycleRule) -> LifecycleRow:
    f = rule.filter
    others = [f"tag {key}={value}" for key, value in f.tags]
    if f.greater_than is not None:
        others.append(f"larger than {f.greater_than:,} bytes")
    if f.less_than is not None:
        others.append(f"smaller than {f.less_than:,} bytes")
    expire = ""
    if (e := rule.expiration) is not None:
        if e.days is not None:
            expire = _days(e.days)
        elif e.date is not None:
            expire = "on " + iso_date(e.date)[:10]
        elif e.expired_object_delete_marker:
            expire = "expired delete markers"
    nve = rule.noncurrent_expiration
    noncurrent = _days(nve.noncurrent_days) if nve is not None else ""
    if nve is not None and nve.newer_noncurrent_versions is not None:
        noncurrent += f", keeping the {nve.newer_noncurrent_versions} newest"
    return LifecycleRow(
        id=rule.id,
        enabled=rule.enabled,
        prefix=f.prefix,
        other_filters=", ".join(others),
        expire=expire,
        noncurrent=noncurrent,
        abort=_days(rule.abort_after_days),
    )


def with_rule(rules: list[LifecycleRule], draft: LifecycleDraft) -> str:
    """The lifecycle document to store once ``draft`` is added, or SettingRefused."""
    rule_id = draft.id.strip() or new_rule_id()
    if any(rule.id == rule_id for rule in rules):
        raise SettingRefused(f"A rule with the ID {rule_id!r} exists already.")
    # A configuration of rule-level prefixes (from before filters) takes only more of them.
    legacy = bool(rules) and rules[0].filter.form is FilterForm.LEGACY
    if legacy:
        rule_filter = Filter(FilterForm.LEGACY, prefix=draft.prefix)
    elif draft.prefix:
        rule_filter = Filter(FilterForm.PREFIX, prefix=draft.prefix)
    else:
        rule_filter = Filter(FilterForm.EMPTY)
    expire = _day_count(draft.expire_days, "Expire after")
    noncurrent = _day_count(draft.noncurrent_days, "Delete noncurrent after")
    rule = LifecycleRule(
        id=rule_id,
        enabled=True,
        filter=rule_filter,
        expiration=None if expire is None else Expiration(days=expire),
        noncurrent_expiration=(
            None if noncurrent is None else NoncurrentVersionExpiration(noncurrent)
        ),
        abort_after_days=_day_count(draft.abort_days, "Abort uploads after"),
    )
    return lifecycle_document([*rules, rule])


def without_rule(rules: list[LifecycleRule], rule_id: str) -> str | None:
    """The lifecycle document once the rule ``rule_id`` is gone (None: no rule left)."""
    kept = [rule for rule in rules if rule.id != rule_id]
    if len(kept) == len(rules):
        raise SettingRefused(f"There is no lifecycle rule with the ID {rule_id!r}.")
    return lifecycle_document(kept) if kept else None


def lifecycle_document(rules: list[LifecycleRule]) -> str:
    """The stored form of ``rules``, checked as PutBucketLifecycleConfiguration checks them."""
    try:
        checked = parse_lifecycle(render_lifecycle(rules).encode())
    except S3Error as exc:
        raise SettingRefused(exc.message) from None
    return rules_to_json(checked)


def _day_count(text: str, label: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    # The length first: int() refuses strings of over 4,300 digits with a ValueError.
    digits = text.lstrip("-")
    if not text.isascii() or not digits.isdigit() or len(digits) > 10 or int(text) > INT_MAX:
        raise SettingRefused(f"{label}: write a whole number of days.")
    return int(text)


# --- tags ----------------------------------------------------------------------------------


def with_tag(stored: str | None, key: str, value: str) -> str:
    """The bucket's tags with ``key`` set to ``value`` (added, or its value replaced)."""
    tags = TagSet.from_json(stored).as_dict()
    tags[key] = value
    return TagSet.for_bucket(tags.items()).to_json()


def without_tag(stored: str | None, key: str) -> str | None:
    """The bucket's tags without ``key`` (None: no tag left)."""
    tags = [pair for pair in TagSet.from_json(stored) if pair[0] != key]
    return TagSet(tuple(tags)).to_json() if tags else None
