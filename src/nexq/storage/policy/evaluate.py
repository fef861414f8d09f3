"""Deciding one request against a bucket policy: explicit Deny over Allow over nothing."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nexq.storage.policy.conditions import Keys
from nexq.storage.policy.document import Effect, Policy, Statement, bucket_arn


class Decision(enum.Enum):
    """What a policy says of a request; NONE leaves it to the other rules (the owner, ACLs)."""

    ALLOW = "allow"
    DENY = "deny"
    NONE = "none"


def object_arn(bucket: str, key: str) -> str:
    """The ARN of an object, as a policy's Resource names it (the key as stored, unescaped)."""
    return f"{bucket_arn(bucket)}/{key}"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One request as a policy sees it.

    ``principal`` is the calling account's id, None for an anonymous caller; ``action`` an
    S3 action name (``s3:GetObject``; any case); ``resource`` the ARN of the bucket or the
    object (``bucket_arn``, ``object_arn``); ``keys`` the condition keys the request
    provides (``aws:SourceIp``, ``s3:prefix``, ``s3:RequestObjectTagKeys`` ...), each a
    string or, for a multi-valued key, a list of strings. Keys are matched regardless of
    case; a key the request does not have is left out (an empty list counts as absent).
    """

    principal: str | None
    action: str
    resource: str
    keys: Mapping[str, str | Sequence[str]] = field(default_factory=dict)

    def condition_keys(self) -> Keys:
        """The keys lower-cased, each with a tuple of values."""
        return {
            name.lower(): (value,) if isinstance(value, str) else tuple(value)
            for name, value in self.keys.items()
        }


def evaluate(policy: Policy, context: RequestContext) -> Decision:
    """DENY if a Deny statement applies, else ALLOW if an Allow statement applies, else NONE."""
    keys = context.condition_keys()
    allowed = False
    for statement in policy.statements:
        if statement.effect is Effect.ALLOW and allowed:
            continue  # an Allow already holds; only a Deny could change the answer
        if applies(statement, context, keys):
            if statement.effect is Effect.DENY:
                return Decision.DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.NONE


def applies(statement: Statement, context: RequestContext, keys: Keys) -> bool:
    """Whether ``statement`` covers the request: its principal, action and resource match
    (each inverted by its Not- form) and every condition holds."""
    if statement.principals.matches(context.principal) == statement.principals_negated:
        return False
    named = any(a.matches(context.action) for a in statement.actions)
    if named == statement.actions_negated:
        return False
    covered = any(r.matches(context.resource, keys) for r in statement.resources)
    if covered == statement.resources_negated:
        return False
    return all(condition.holds(keys) for condition in statement.conditions)
