"""Browser-form uploads (PostObject): the policy document and its conditions.

The policy is a base64 JSON document the form carries; its signature proves a key holder
wrote it, and its conditions bound what the browser may upload.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nexq.storage.s3.errors import S3Error, access_denied, invalid_argument

# Form fields the policy need not mention (AWS: the signature fields, the file, x-ignore-*).
_EXEMPT = {
    "policy",
    "x-amz-signature",
    "signature",
    "awsaccesskeyid",
    "file",
    "x-amz-checksum-algorithm",
}


@dataclass(frozen=True, slots=True)
class Policy:
    """A decoded policy: when it expires, what it allows, how large the file may be."""

    expiration: float
    conditions: list[Any]
    min_length: int
    max_length: int | None


def decode(encoded: str) -> Policy:
    """Parse the base64 policy; malformed documents are the client's error."""
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
        expiration = datetime.fromisoformat(document["expiration"].replace("Z", "+00:00"))
        conditions = document["conditions"]
        if not isinstance(conditions, list):
            raise TypeError("conditions must be a list")
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise invalid_argument("Invalid Policy: Invalid JSON.", "Policy", encoded[:64]) from None
    low, high = 0, None
    for condition in conditions:
        if isinstance(condition, list) and condition and condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
    return Policy(expiration.timestamp(), conditions, low, high)


def check(policy: Policy, fields: dict[str, str], bucket: str) -> None:
    """Every condition holds, and every form field is covered by one."""
    if time.time() > policy.expiration:
        raise access_denied("Invalid according to Policy: Policy expired.")
    values = {k.lower(): v for k, v in fields.items()}
    values["bucket"] = bucket
    covered = {"bucket"}
    for condition in policy.conditions:
        if isinstance(condition, dict):
            for name, expected in condition.items():
                _require(values.get(name.lower()) == expected, condition)
                covered.add(name.lower())
        elif isinstance(condition, list) and len(condition) == 3:
            op, name, expected = condition
            if op == "content-length-range":
                continue
            field = str(name).lstrip("$").lower()
            actual = values.get(field, "")
            if op == "eq":
                _require(actual == expected, condition)
            elif op == "starts-with":
                if field == "content-type":
                    _require(
                        all(p.strip().startswith(expected) for p in actual.split(",")), condition
                    )
                else:
                    _require(actual.startswith(expected), condition)
            else:
                raise invalid_argument(f"Invalid Policy: unknown operator {op}.", "Policy", str(op))
            covered.add(field)
        else:
            raise invalid_argument("Invalid Policy: a condition is malformed.", "Policy", "")
    for name in values:
        if name not in covered and name not in _EXEMPT and not name.startswith("x-ignore-"):
            raise access_denied(f"Invalid according to Policy: Extra input fields: {name}")


def _require(ok: bool, condition: Any) -> None:
    if not ok:
        raise access_denied(f"Invalid according to Policy: Policy Condition failed: {condition}")


def length_error(policy: Policy, size: int) -> S3Error | None:
    """The error for a file outside the policy's content-length-range, if it is."""
    if size < policy.min_length:
        return S3Error(
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size.",
            400,
            {"ProposedSize": str(size), "MinSizeAllowed": str(policy.min_length)},
        )
    if policy.max_length is not None and size > policy.max_length:
        return S3Error(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size.",
            400,
            {"ProposedSize": str(size), "MaxSizeAllowed": str(policy.max_length)},
        )
    return None
