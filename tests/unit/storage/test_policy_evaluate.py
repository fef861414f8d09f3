"""Evaluating bucket policies for one request, and judging them public or not."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest

from nexq.storage.policy import (
    Decision,
    Policy,
    RequestContext,
    bucket_arn,
    evaluate,
    is_public,
    object_arn,
    parse_policy,
)

BUCKET = "photos"
OBJECTS = "arn:aws:s3:::photos/*"
OWNER, STRANGER = "0f9e8d7c6b5a49382716150483726150", "acc-b"


def policy(*statements: dict[str, object], version: str = "2012-10-17") -> Policy:
    return parse_policy(json.dumps({"Version": version, "Statement": list(statements)}), BUCKET)


def allow(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": OBJECTS,
    }
    base.update(fields)
    return {name: value for name, value in base.items() if value is not None}


def deny(**fields: object) -> dict[str, object]:
    return allow(Effect="Deny", **fields)


def decide(
    p: Policy,
    key: str | None = "cat.jpg",
    *,
    who: str | None = None,
    action: str = "s3:GetObject",
    keys: Mapping[str, str | Sequence[str]] | None = None,
) -> Decision:
    resource = bucket_arn(BUCKET) if key is None else object_arn(BUCKET, key)
    return evaluate(p, RequestContext(who, action, resource, keys or {}))


def test_an_allow_that_applies_allows_and_nothing_else_is_touched() -> None:
    p = policy(allow())
    assert decide(p) is Decision.ALLOW
    assert decide(p, who=STRANGER) is Decision.ALLOW
    assert decide(p, action="s3:PutObject") is Decision.NONE
    assert decide(p, None, action="s3:GetObject") is Decision.NONE  # the bucket is no object


def test_an_explicit_deny_wins_over_any_allow_in_any_order() -> None:
    rules = [allow(), deny(Resource="arn:aws:s3:::photos/private/*")]
    for statements in (rules, rules[::-1]):
        p = policy(*statements)
        assert decide(p, "private/diary.txt") is Decision.DENY
        assert decide(p, "public/cat.jpg") is Decision.ALLOW


def test_nothing_that_applies_is_none_not_deny() -> None:
    assert decide(policy(allow(Principal={"AWS": OWNER})), who=STRANGER) is Decision.NONE
    assert decide(policy(deny(Principal={"AWS": OWNER})), who=STRANGER) is Decision.NONE


def test_action_names_match_regardless_of_case() -> None:
    p = policy(allow(Action=["S3:GETOBJECT", "s3:put*"]))
    assert decide(p, action="s3:getobject") is Decision.ALLOW
    assert decide(p, action="s3:PutObjectTagging") is Decision.ALLOW
    assert decide(p, action="s3:DeleteObject") is Decision.NONE


@pytest.mark.parametrize(
    ("resource", "key", "applies"),
    [
        ("arn:aws:s3:::photos/*", "a/b/c.jpg", True),
        ("arn:aws:s3:::photos/a/*", "a/", True),
        ("arn:aws:s3:::photos/a/*", "b/a/x", False),
        ("arn:aws:s3:::photos/?.jpg", "x.jpg", True),
        ("arn:aws:s3:::photos/?.jpg", "xy.jpg", False),
        ("arn:aws:s3:::photos/*.jpg", "dir/x.JPG", False),  # ARNs are case-sensitive
        ("arn:aws:s3:::photos/ano:ther/*", "ano:ther/colon:s", True),
        ("arn:aws:s3:::photos/a*b", "a*b", True),
        ("arn:aws:s3:::photos/a*b", "a/long/way/to/b", True),
        ("arn:aws:s3:::photos/a${*}b", "a*b", True),
        ("arn:aws:s3:::photos/a${*}b", "axb", False),
        ("arn:aws:s3:::photos/100%25 fun?", "100%25 fun!", True),
        ("arn:aws:s3:::photos/été/*", "été/plage.jpg", True),
        ("arn:aws:s3:::photos/line\nbreak", "line\nbreak", True),
        ("arn:aws:s3:::photos/(a)+[b]$", "(a)+[b]$", True),
        ("arn:aws:s3:::photos/(a)+[b]$", "aab$", False),
        ("arn:aws:s3:::pho*", "x", True),
        ("*", "anything at all", True),
    ],
)
def test_resources_match_keys_with_wildcards_and_special_characters(
    resource: str, key: str, applies: bool
) -> None:
    expected = Decision.ALLOW if applies else Decision.NONE
    assert decide(policy(allow(Resource=resource)), key) is expected


def test_many_wildcards_against_a_long_key_cost_no_backtracking_blow_up() -> None:
    # Read as a backtracking regex, this pattern would take longer than the universe's age.
    p = policy(allow(Resource="arn:aws:s3:::photos/" + "*a" * 40 + "*b"))
    assert decide(p, "a" * 1000) is Decision.NONE
    assert decide(p, "a" * 1000 + "b") is Decision.ALLOW
    assert decide(p, "xa" * 40 + "b") is Decision.ALLOW


def test_version_2008_takes_dollar_braces_literally() -> None:
    p = policy(allow(Resource="arn:aws:s3:::photos/a${*}b"), version="2008-10-17")
    assert decide(p, "a${*}b") is Decision.ALLOW
    assert decide(p, "a*b") is Decision.NONE


def test_a_resource_with_a_policy_variable() -> None:
    p = policy(allow(Resource="arn:aws:s3:::photos/home/${aws:username}/*"))
    assert decide(p, "home/ana/x", keys={"aws:username": "ana"}) is Decision.ALLOW
    assert decide(p, "home/bob/x", keys={"aws:username": "ana"}) is Decision.NONE
    assert decide(p, "home/ana/x") is Decision.NONE


def test_bucket_and_object_resources_are_told_apart() -> None:
    p = policy(
        allow(Action="s3:ListBucket", Resource="arn:aws:s3:::photos"),
        allow(Action="s3:GetObject", Resource=OBJECTS),
    )
    assert decide(p, None, action="s3:ListBucket") is Decision.ALLOW
    assert decide(p, "photos", action="s3:ListBucket") is Decision.NONE
    assert decide(p, None, action="s3:GetObject") is Decision.NONE


def test_principal_star_and_aws_star_include_anonymous_callers() -> None:
    for principal in ("*", {"AWS": "*"}):
        p = policy(allow(Principal=principal))
        assert decide(p, who=None) is Decision.ALLOW
        assert decide(p, who=OWNER) is Decision.ALLOW


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": OWNER},
        {"AWS": f"arn:aws:iam::{OWNER}:root"},
        {"AWS": [STRANGER, OWNER]},
        {"CanonicalUser": OWNER},
    ],
)
def test_an_account_principal_names_that_accounts_callers_only(principal: object) -> None:
    p = policy(allow(Principal=principal))
    assert decide(p, who=OWNER) is Decision.ALLOW
    assert decide(p, who="someone-else") is Decision.NONE
    assert decide(p, who=None) is Decision.NONE


def test_service_and_federated_principals_name_no_nexq_caller() -> None:
    p = policy(allow(Principal={"Service": "cloudfront.amazonaws.com", "Federated": "x.example"}))
    assert decide(p, who=None) is Decision.NONE
    assert decide(p, who="cloudfront.amazonaws.com") is Decision.NONE


def test_not_principal_applies_to_everyone_but_those_listed_anonymous_included() -> None:
    p = policy(deny(Principal=None, NotPrincipal={"AWS": OWNER}))
    assert decide(p, who=OWNER) is Decision.NONE
    assert decide(p, who=STRANGER) is Decision.DENY
    assert decide(p, who=None) is Decision.DENY
    nobody = policy(deny(Principal=None, NotPrincipal={"AWS": "*"}))
    assert decide(nobody, who=None) is Decision.NONE


def test_not_action_applies_to_every_other_action() -> None:
    p = policy(allow(Action=None, NotAction=["s3:Delete*", "s3:PutObjectAcl"]))
    assert decide(p, action="s3:GetObject") is Decision.ALLOW
    assert decide(p, action="s3:PutObject") is Decision.ALLOW
    assert decide(p, action="s3:DeleteObject") is Decision.NONE
    assert decide(p, action="s3:putobjectacl") is Decision.NONE


def test_not_resource_applies_to_every_other_resource() -> None:
    p = policy(deny(Resource=None, NotResource=["arn:aws:s3:::photos/public/*"]))
    assert decide(p, "public/cat.jpg") is Decision.NONE
    assert decide(p, "private/x") is Decision.DENY
    assert decide(p, None, action="s3:GetObject") is Decision.DENY  # the bucket too


def test_conditions_decide_whether_a_statement_applies() -> None:
    p = policy(
        allow(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
        deny(Condition={"Bool": {"aws:SecureTransport": "false"}}),
    )
    office = {"aws:SourceIp": "203.0.113.9", "aws:SecureTransport": "true"}
    assert decide(p, keys=office) is Decision.ALLOW
    assert decide(p, keys={**office, "aws:SecureTransport": "false"}) is Decision.DENY
    assert decide(p, keys={**office, "aws:SourceIp": "198.51.100.1"}) is Decision.NONE
    # aws:SecureTransport missing: the Deny does not apply, the Allow still does.
    assert decide(p, keys={"aws:SourceIp": "203.0.113.9"}) is Decision.ALLOW


def test_a_deny_unless_encrypted_upload() -> None:
    p = policy(
        allow(Action="s3:PutObject"),
        deny(
            Action="s3:PutObject",
            Condition={"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}},
        ),
    )
    put = "s3:PutObject"
    assert decide(p, action=put, keys={"s3:x-amz-server-side-encryption": "AES256"}) is (
        Decision.ALLOW
    )
    assert decide(p, action=put, keys={"s3:x-amz-server-side-encryption": "aws:kms"}) is (
        Decision.DENY
    )
    assert decide(p, action=put) is Decision.DENY  # the header missing: still not AES256


def test_listing_only_a_prefix() -> None:
    p = policy(
        allow(
            Principal={"AWS": STRANGER},
            Action="s3:ListBucket",
            Resource=bucket_arn(BUCKET),
            Condition={"StringLike": {"s3:prefix": ["shared/*", ""]}},
        )
    )

    def listing(keys: dict[str, str]) -> Decision:
        return decide(p, None, who=STRANGER, action="s3:ListBucket", keys=keys)

    assert listing({"s3:prefix": "shared/2024/"}) is Decision.ALLOW
    assert listing({"s3:prefix": ""}) is Decision.ALLOW
    assert listing({"s3:prefix": "secret/"}) is Decision.NONE
    assert listing({}) is Decision.NONE


# --- is_public: the examples of S3's "The meaning of public" ------------------------------


def public(*statements: dict[str, object]) -> bool:
    return is_public(policy(*statements))


def test_the_public_examples_of_s3s_documentation() -> None:
    put = {"Action": "s3:PutObject", "Resource": "*"}
    assert public(allow(Principal={"Federated": "graph.facebook.com"}, **put))
    assert public(allow(**put))
    assert public(allow(Condition={"StringLike": {"aws:SourceVpc": "vpc-*"}}, **put))


def test_a_fixed_value_makes_the_last_example_non_public() -> None:
    condition = {"StringEquals": {"aws:SourceVpc": "vpc-91237329"}}
    assert not public(allow(Action="s3:PutObject", Resource="*", Condition=condition))


def test_fixed_principals_are_not_public() -> None:
    assert not public(allow(Principal={"AWS": OWNER}))
    assert not public(allow(Principal={"Service": "cloudtrail.amazonaws.com"}))
    assert not public(allow(Principal={"CanonicalUser": OWNER}))


def test_one_public_statement_makes_the_policy_public() -> None:
    # S3's example: CloudTrail, another account, then everyone without a condition.
    cloudtrail = allow(Principal={"Service": "cloudtrail.amazonaws.com"})
    account_2 = allow(Principal={"AWS": STRANGER})
    assert not public(cloudtrail, account_2)
    assert public(cloudtrail, account_2, allow())


def test_deny_statements_grant_nothing() -> None:
    assert not public(deny(), deny(Principal=None, NotPrincipal={"AWS": OWNER}))


def test_not_principal_in_an_allow_is_public() -> None:
    assert public(allow(Principal=None, NotPrincipal={"AWS": OWNER}))


@pytest.mark.parametrize(
    "condition",
    [
        {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}},
        {"StringEquals": {"aws:SourceArn": "arn:aws:cloudfront::1:distribution/E1"}},
        {"ArnLike": {"aws:SourceArn": "arn:aws:cloudfront::1:distribution/E1"}},
        {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
        {"StringEqualsIgnoreCase": {"aws:SourceOwner": "111122223333"}},
        {"StringEquals": {"AWS:SourceAccount": "111122223333"}},
        {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
        {"StringEquals": {"aws:PrincipalAccount": OWNER}},
        {"StringEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:k"}},
        {"StringLike": {"aws:userid": "AROAEXAMPLEID:*"}},
        {"StringEquals": {"aws:userid": "AIDAEXAMPLE"}},
        {"ArnLike": {"s3:DataAccessPointArn": "arn:aws:s3:us-west-2:123456789012:accesspoint/*"}},
        {"StringEquals": {"s3:DataAccessPointAccount": "123456789012"}},
        {"ForAnyValue:StringEquals": {"aws:SourceVpc": "vpc-1"}},
        # Any one confining condition is enough: conditions are ANDed.
        {"StringLike": {"s3:prefix": "*"}, "StringEquals": {"aws:SourceVpc": "vpc-1"}},
    ],
)
def test_conditions_that_confine_a_public_statement(condition: dict[str, object]) -> None:
    assert not public(allow(Condition=condition))


@pytest.mark.parametrize(
    "condition",
    [
        {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
        {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::/0"]}},
        {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}},
        {"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}},
        {"ForAllValues:StringEquals": {"aws:SourceVpc": "vpc-1"}},
        {"StringEquals": {"aws:SourceVpc": ["vpc-1", "vpc-*"]}},
        {"StringEquals": {"aws:SourceAccount": "${aws:PrincipalAccount}"}},
        {"StringLike": {"aws:userid": "*:session"}},
        {"ArnLike": {"s3:DataAccessPointArn": "arn:aws:s3:*:*:accesspoint/*"}},
        {"StringEquals": {"s3:prefix": "public/"}},  # not a key that confines callers
        {"Null": {"aws:SourceVpc": "false"}},
        {"Bool": {"aws:SecureTransport": "true"}},
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
    ],
)
def test_conditions_that_leave_a_statement_public(condition: dict[str, object]) -> None:
    assert public(allow(Condition=condition))
