"""Browser-form uploads (PostObject): the policy document and its conditions.

The policy is a base64 JSON document the form carries; its signature proves a key holder
wrote it, and its conditions bound what the browser may upload. The answers are S3's as seen
on the wire: a malformed policy is ``400 InvalidPolicyDocument``, a form the policy does not
allow is ``403 AccessDenied`` quoting the condition, a file of the wrong size ``400
EntityTooSmall`` / ``EntityTooLarge``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nexq.storage.s3.errors import S3Error, access_denied

# Form fields the policy need not mention (AWS: the signature fields, the file, x-ignore-*).
_EXEMPT = {
    "policy",
    "x-amz-signature",
    "signature",
    "awsaccesskeyid",
    "file",
    "x-amz-checksum-algorithm",
}
_OPERATIONS = ("eq", "starts-with", "content-length-range")
_EXPIRATION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``eq`` or ``starts-with`` test of a form field."""

    operation: str  # "eq" or "starts-with"
    field: str | None  # lowercased, without "$"; None when the policy named no "$field"
    value: str
    text: str  # as S3 quotes it when it fails


@dataclass(frozen=True, slots=True)
class Policy:
    """A decoded policy: when it expires, what it allows, how large the file may be."""

    expiration: float
    conditions: list[Condition]
    min_length: int
    max_length: int | None
    impossible: str | None = None  # a content-length-range no size meets, as S3 quotes it


# An anonymous form's: it carries no policy, and only the bucket's policy or ACL admits it.
UNCONDITIONAL = Policy(math.inf, [], 0, None)


def invalid_policy(detail: str) -> S3Error:
    """S3's answer to a policy document it cannot use."""
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {detail}", 400)


def decode(encoded: str) -> Policy:
    """Parse the base64 policy; a malformed document is the client's error."""
    try:
        document = json.loads(base64.b64decode(encoded, validate=True), parse_constant=_no_constant)
    except (binascii.Error, ValueError):
        raise invalid_policy("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise invalid_policy("Invalid JSON.")
    for name in document:
        # S3 compat: the two members are spelled in lowercase; S3 names others so.
        if name not in ("expiration", "conditions"):
            raise invalid_policy(f"Unexpected: '{name.lower()}'")
    if "expiration" not in document:
        raise invalid_policy("Policy missing expiration.")
    expiration = _expiration(document["expiration"])
    if "conditions" not in document:
        raise invalid_policy("Policy missing conditions.")
    items = document["conditions"]
    if not isinstance(items, list):
        raise invalid_policy("Invalid 'conditions' value: must be a List.")
    conditions: list[Condition] = []
    low, high, impossible = 0, None, None
    for item in items:
        parsed = _condition(item)
        if isinstance(parsed, Condition):
            conditions.append(parsed)
        elif parsed is None:
            impossible = impossible or json.dumps(item, ensure_ascii=False)
        else:
            low = max(low, parsed[0])
            high = parsed[1] if high is None else min(high, parsed[1])
    return Policy(expiration, conditions, low, high, impossible)


def check(policy: Policy, fields: dict[str, str], bucket: str) -> None:
    """Every condition holds, and every form field is covered by one."""
    if time.time() > policy.expiration:
        raise access_denied("Invalid according to Policy: Policy expired.")
    values = {name.lower(): value for name, value in fields.items()}
    values["bucket"] = bucket  # the bucket posted to, whatever a "bucket" field says
    covered = {"bucket"}
    for condition in policy.conditions:
        actual = values.get(condition.field) if condition.field is not None else None
        # S3 compat: a condition on a field the form lacks fails, even starts-with "".
        if actual is None or not _holds(condition, actual):
            raise _failed(condition.text)
        covered.add(condition.field or "")
    if policy.impossible is not None:
        raise _failed(policy.impossible)
    for name in fields:
        lower = name.lower()
        if lower not in covered and lower not in _EXEMPT and not lower.startswith("x-ignore-"):
            raise access_denied(f"Invalid according to Policy: Extra input fields: {name}")


def length_error(policy: Policy, size: int) -> S3Error | None:
    """The error for a file outside the policy's content-length-range, if it is."""
    if size < policy.min_length:
        return S3Error(
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
            400,
            {"ProposedSize": str(size), "MinSizeAllowed": str(policy.min_length)},
        )
    if policy.max_length is not None and size > policy.max_length:
        return S3Error(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            400,
            {"ProposedSize": str(size), "MaxSizeAllowed": str(policy.max_length)},
        )
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON


def _expiration(value: Any) -> float:
    # S3 reads UTC in ISO 8601 with a "Z" (milliseconds optional); an offset or a space for
    # the "T" is refused.
    if not isinstance(value, str) or not _EXPIRATION.fullmatch(value):
        raise invalid_policy(f"Invalid 'expiration' value: '{value}'")
    try:
        moment = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise invalid_policy(f"Invalid 'expiration' value: '{value}'") from None
    return moment.timestamp() + float("0" + value[19:-1])


def _condition(item: Any) -> Condition | tuple[int, int] | None:
    """A test, a content-length-range's bounds, or None for a range no size meets."""
    if isinstance(item, dict):
        if len(item) != 1:
            raise invalid_policy(
                "Invalid Simple-Condition: Simple-Conditions must have exactly one property "
                "specified."
            )
        ((name, value),) = item.items()
        if value is None:
            raise invalid_policy("Invalid JSON.")
        if not isinstance(value, str):
            raise invalid_policy("Invalid Simple-Condition: value must be a string.")
        # S3 quotes a failed simple condition as the eq test it stands for.
        return Condition("eq", name.lower(), value, _quote(["eq", f"${name}", value]))
    if not isinstance(item, list):
        raise invalid_policy("Invalid condition test: must be a List or Object.")
    if not item:
        raise invalid_policy("Invalid Condition: missing operation identifier.")
    operation = item[0]
    if not isinstance(operation, str):
        raise invalid_policy("Invalid JSON.")
    # S3 compat: operations and field names match whatever their case.
    kind = operation.lower()
    if kind not in _OPERATIONS:
        raise invalid_policy(f"Invalid Condition: unknown operation '{operation}'.")
    if len(item) != 3:
        raise invalid_policy(f"Invalid {operation}: wrong number of arguments.")
    if kind == "content-length-range":
        return _bounds(item[1], item[2])
    name, value = item[1], item[2]
    if not isinstance(name, str) or not isinstance(value, str):
        raise invalid_policy("Invalid JSON.")
    field = name[1:].lower() if name.startswith("$") else None
    return Condition(kind, field, value, _quote(item))


def _bounds(low: Any, high: Any) -> tuple[int, int] | None:
    numbers: list[int] = []
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, int | str):
            raise invalid_policy("Invalid JSON.")  # S3 answers so to 512.0 as well
        if isinstance(bound, str):
            if not _WHOLE_NUMBER.fullmatch(bound):
                return None  # S3 takes "5" for 5, and "test" for a range nothing meets
            bound = int(bound)
        if bound < 0:
            raise invalid_policy("Invalid content-length-range: the bounds cannot be negative.")
        numbers.append(bound)
    return numbers[0], numbers[1]


def _holds(condition: Condition, actual: str) -> bool:
    if condition.operation == "eq":
        return actual == condition.value
    if condition.field == "content-type":
        # AWS: each value of a comma-separated Content-Type must meet the condition.
        return all(p.strip().startswith(condition.value) for p in actual.split(","))
    return actual.startswith(condition.value)


def _quote(condition: list[Any]) -> str:
    return json.dumps(condition, ensure_ascii=False)


def _failed(text: str) -> S3Error:
    return access_denied(f"Invalid according to Policy: Policy Condition failed: {text}")
