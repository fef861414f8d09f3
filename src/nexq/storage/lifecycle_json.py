"""A lifecycle configuration as the metadata stores keep it: compact JSON text.

The background job reads the rules back from this text without the S3 layer, and
GetBucketLifecycleConfiguration renders them as they were put (each filter keeps its form).
Keys are short and absent values left out; the text is trusted as written here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nexq.storage.lifecycle import (
    Expiration,
    Filter,
    FilterForm,
    NoncurrentVersionExpiration,
    Rule,
)


def rules_to_json(rules: Sequence[Rule]) -> str:
    return json.dumps([_rule(rule) for rule in rules], ensure_ascii=False, separators=(",", ":"))


def rules_from_json(text: str) -> list[Rule]:
    return [_read_rule(item) for item in json.loads(text)]


def _rule(rule: Rule) -> dict[str, Any]:
    f = rule.filter
    item: dict[str, Any] = {"id": rule.id, "on": rule.enabled, "form": f.form.value}
    _put(item, "prefix", f.prefix)
    if f.tags:
        item["tags"] = [list(tag) for tag in f.tags]
    _put(item, "gt", f.greater_than)
    _put(item, "lt", f.less_than)
    if (e := rule.expiration) is not None:
        expiration: dict[str, Any] = {}
        _put(expiration, "days", e.days)
        _put(expiration, "date", e.date)
        _put(expiration, "marker", e.expired_object_delete_marker)
        item["exp"] = expiration
    if (n := rule.noncurrent_expiration) is not None:
        noncurrent: dict[str, Any] = {"days": n.noncurrent_days}
        _put(noncurrent, "keep", n.newer_noncurrent_versions)
        item["noncurrent"] = noncurrent
    _put(item, "abort", rule.abort_after_days)
    return item


def _put(item: dict[str, Any], name: str, value: object) -> None:
    if value is not None:
        item[name] = value


def _read_rule(item: dict[str, Any]) -> Rule:
    expiration = noncurrent = None
    if (e := item.get("exp")) is not None:
        expiration = Expiration(e.get("days"), e.get("date"), e.get("marker"))
    if (n := item.get("noncurrent")) is not None:
        noncurrent = NoncurrentVersionExpiration(n["days"], n.get("keep"))
    return Rule(
        id=item["id"],
        enabled=item["on"],
        filter=Filter(
            form=FilterForm(item["form"]),
            prefix=item.get("prefix"),
            tags=tuple((key, value) for key, value in item.get("tags", ())),
            greater_than=item.get("gt"),
            less_than=item.get("lt"),
        ),
        expiration=expiration,
        noncurrent_expiration=noncurrent,
        abort_after_days=item.get("abort"),
    )
