"""Bucket policies: the IAM policy language as S3 accepts it on a bucket, parsed and checked
(``parse_policy``), evaluated for one request (``evaluate``), and judged public or not
(``is_public``). A pure library: no store, no HTTP."""

from nexq.storage.policy.conditions import Condition, Keys
from nexq.storage.policy.document import (
    ACTIONS,
    MAX_POLICY_BYTES,
    ActionKind,
    Effect,
    MalformedPolicy,
    Policy,
    Principals,
    Statement,
    bucket_arn,
    parse_policy,
)
from nexq.storage.policy.evaluate import Decision, RequestContext, evaluate, object_arn
from nexq.storage.policy.status import is_public

__all__ = [
    "ACTIONS",
    "MAX_POLICY_BYTES",
    "ActionKind",
    "Condition",
    "Decision",
    "Effect",
    "Keys",
    "MalformedPolicy",
    "Policy",
    "Principals",
    "RequestContext",
    "Statement",
    "bucket_arn",
    "evaluate",
    "is_public",
    "object_arn",
    "parse_policy",
]
