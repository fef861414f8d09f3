"""Whether a bucket policy is public, as S3 decides it for GetBucketPolicyStatus and for
Block Public Access (BlockPublicPolicy refuses such a policy, RestrictPublicBuckets limits
a bucket that has one to its owner's account)."""

from __future__ import annotations

import ipaddress
import re

from nexq.storage.policy.conditions import Condition, Pattern
from nexq.storage.policy.document import Effect, Policy, Statement

# The condition keys that, tested against fixed values, confine a statement to known
# callers or sources (S3's list, "The meaning of public"; aws:Principal* are the principal
# keys it gives as examples of a fixed principal).
_CONFINING_KEYS = frozenset(
    {
        "aws:sourceip",
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceowner",
        "aws:sourceaccount",
        "aws:userid",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "s3:dataaccesspointarn",
        "s3:dataaccesspointaccount",
    }
)
# Operators that admit only the values listed: a negated one admits everything else.
_EXACT = frozenset(
    {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "IpAddress"}
)
_ROLE_SESSIONS = re.compile(r"[^*?:$]+:\*")  # aws:userid "AROLEID:*": one role's sessions


def is_public(policy: Policy) -> bool:
    """Whether the policy grants access to the public.

    S3 starts from public and looks for a reason not to be: a policy is non-public only if
    every Allow statement names fixed principals (accounts, canonical users, services), or
    is confined by a condition that admits only fixed values (no wildcard, no policy
    variable) of one of the keys above (aws:SourceIp to CIDRs other than /0). Deny
    statements grant nothing and are not considered.
    """
    return any(_grants_public(s) for s in policy.statements if s.effect is Effect.ALLOW)


def _grants_public(statement: Statement) -> bool:
    principals = statement.principals
    # NotPrincipal names everyone but a few; a Federated identity is anyone who signs in there.
    open_to_all = statement.principals_negated or principals.everyone or bool(principals.federated)
    if not open_to_all:
        return False
    return not any(_confines(c) for c in statement.conditions)


def _confines(condition: Condition) -> bool:
    if condition.key not in _CONFINING_KEYS or condition.base not in _EXACT:
        return False
    # IfExists and ForAllValues hold when the key is missing, so they confine nothing.
    if condition.if_exists or condition.qualifier == "ForAllValues":
        return False
    if condition.base == "IpAddress":
        return condition.key == "aws:sourceip" and all(
            isinstance(net, ipaddress.IPv4Network | ipaddress.IPv6Network) and net.prefixlen > 0
            for net in condition.values
        )
    return all(isinstance(p, Pattern) and _fixed(condition.key, p) for p in condition.values)


def _fixed(key: str, pattern: Pattern) -> bool:
    if pattern.has_variables:
        return False
    text = pattern.text
    if key == "aws:userid" and _ROLE_SESSIONS.fullmatch(text):
        return True
    if key == "s3:dataaccesspointarn":
        # Any access point of one fixed account and Region keeps a bucket policy non-public.
        *head, resource = text.split(":", 5)
        name = resource.removeprefix("accesspoint/")
        if len(head) == 5 and name != resource:
            return not any(c in "".join(head) for c in "*?")
    return not any(c in text for c in "*?")
