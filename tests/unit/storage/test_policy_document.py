"""Bucket policy documents: what PutBucketPolicy accepts, and every refusal with S3's message."""

from __future__ import annotations

import json

import pytest

from nexq.storage.policy import (
    ACTIONS,
    MAX_POLICY_BYTES,
    ActionKind,
    Effect,
    MalformedPolicy,
    parse_policy,
)

BUCKET = "photos"
OBJECTS = "arn:aws:s3:::photos/*"


def statement(**fields: object) -> dict[str, object]:
    """A statement that S3 accepts, with ``fields`` added, replaced or (None) removed."""
    base: dict[str, object] = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": OBJECTS,
    }
    base.update(fields)
    return {name: value for name, value in base.items() if value is not None}


def policy_text(*statements: dict[str, object], **top: object) -> str:
    document: dict[str, object] = {"Version": "2012-10-17", "Statement": list(statements)}
    document.update(top)
    return json.dumps({k: v for k, v in document.items() if v is not None})


def refusal(text: str, bucket: str = BUCKET) -> str:
    with pytest.raises(MalformedPolicy) as refused:
        parse_policy(text, bucket)
    return refused.value.message


def test_a_policy_keeps_its_text_and_what_it_says() -> None:
    text = (
        '{"Version":"2012-10-17",  "Id": "P1",\n "Statement":'
        + json.dumps(
            [statement(Sid="Public"), statement(Effect="Deny", Principal={"AWS": "acc-b"})]
        )
        + "}"
    )
    policy = parse_policy(text, BUCKET)
    assert policy.text == text
    assert (policy.bucket, policy.version, policy.id) == (BUCKET, "2012-10-17", "P1")
    first, second = policy.statements
    assert (first.sid, first.effect, first.principals.everyone) == ("Public", Effect.ALLOW, True)
    assert (second.sid, second.effect, second.principals.accounts) == (
        None,
        Effect.DENY,
        frozenset({"acc-b"}),
    )


@pytest.mark.parametrize("version", ["2012-10-17", "2008-10-17", None])
def test_both_versions_and_none_are_accepted(version: str | None) -> None:
    assert parse_policy(policy_text(statement(), Version=version), BUCKET).version == version


def test_a_single_statement_object_is_a_policy_of_one() -> None:
    text = json.dumps({"Statement": statement()})
    assert len(parse_policy(text, BUCKET).statements) == 1


@pytest.mark.parametrize(
    "principal",
    [
        "*",
        {"AWS": "*"},
        {"AWS": "123456789012"},
        {"AWS": ["arn:aws:iam::123456789012:root", "0f9e8d7c6b5a49382716150483726150"]},
        {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
        {"Service": "cloudfront.amazonaws.com"},
        {"Service": ["logging.s3.amazonaws.com"], "AWS": "acc-a"},
        {"Federated": "cognito-identity.amazonaws.com"},
    ],
)
def test_the_principals_s3_accepts(principal: object) -> None:
    parse_policy(policy_text(statement(Principal=principal)), BUCKET)


def test_principals_name_accounts_by_id_root_arn_or_canonical_id() -> None:
    policy = parse_policy(
        policy_text(
            statement(Principal={"AWS": ["acc-a", "arn:aws:iam::acc-b:root"]}),
            statement(Principal={"CanonicalUser": "acc-c"}),
            statement(NotPrincipal={"AWS": "acc-d"}, Principal=None, Effect="Deny"),
        ),
        BUCKET,
    )
    assert policy.accounts == {"acc-a", "acc-b", "acc-c", "acc-d"}
    assert policy.statements[2].principals_negated


def test_action_names_ignore_case_and_may_be_wildcards() -> None:
    for action in ["S3:getobject", "s3:Get*", "s3:*Object", "s3:GetObjec?", "*", "s3:*"]:
        parse_policy(policy_text(statement(Action=action)), BUCKET)


def test_the_action_table_has_s3s_names_and_what_each_applies_to() -> None:
    assert ACTIONS["s3:GetObject"] is ActionKind.OBJECT
    assert ACTIONS["s3:PutObjectLegalHold"] is ActionKind.OBJECT
    assert ACTIONS["s3:BypassGovernanceRetention"] is ActionKind.OBJECT
    assert ACTIONS["s3:ListBucket"] is ActionKind.BUCKET
    assert ACTIONS["s3:GetBucketPolicyStatus"] is ActionKind.BUCKET
    assert ACTIONS["s3:ListAllMyBuckets"] is ActionKind.ACCOUNT
    assert all(name.startswith("s3:") for name in ACTIONS)
    assert len(ACTIONS) >= 90


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:ListBucket", "arn:aws:s3:::photos"),
        (["s3:ListBucket", "s3:GetObject"], ["arn:aws:s3:::photos", OBJECTS]),
        ("s3:Get*", OBJECTS),  # some Get action applies to objects
        ("s3:Get*", "arn:aws:s3:::photos"),
        ("s3:ListBucket", "arn:aws:s3:::pho*"),  # may name the bucket itself
        ("s3:GetObject", "arn:aws:s3:::pho*"),  # and its objects
        ("s3:GetObject", "*"),
        ("s3:GetObject", "arn:aws:s3:::photos/cats/?.jpg"),
        ("s3:GetObject", "arn:aws:s3:::photos/${aws:username}/*"),
        ("s3:GetObject", "arn:aws:s3:::*/*"),
    ],
)
def test_resources_of_the_bucket_for_actions_that_apply_to_them(
    action: object, resource: object
) -> None:
    parse_policy(policy_text(statement(Action=action, Resource=resource)), BUCKET)


def test_not_action_and_not_resource_are_accepted_in_place_of_their_positive_forms() -> None:
    policy = parse_policy(
        policy_text(
            statement(
                Action=None,
                NotAction="s3:DeleteObject",
                Resource=None,
                NotResource="arn:aws:s3:::photos/private/*",
            )
        ),
        BUCKET,
    )
    (only,) = policy.statements
    assert only.actions_negated and only.resources_negated and not only.principals_negated


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Policies must be valid JSON and the first byte must be '{'"),
        (" {}", "Policies must be valid JSON and the first byte must be '{'"),
        ("[]", "Policies must be valid JSON and the first byte must be '{'"),
        ("{", "This policy contains invalid Json"),
        ('{"Version": NaN, "Statement": []}', "This policy contains invalid Json"),
        ('{"Statement": []} trailing', "This policy contains invalid Json"),
        ('{"Statement": [], "Statement": []}', "This policy contains invalid Json: Statement is"),
        ("{}", "Missing required field Statement"),
        ('{"Id": "only"}', "Missing required field Statement"),
        ('{"Statement": []}', "Could not parse the policy: Statement is empty!"),
        ('{"Statement": {}}', "Could not parse the policy: Statement is empty!"),
        ('{"Version": "2012-10-18", "Statement": []}', "The policy must contain a valid version"),
        ('{"Version": 2012, "Statement": []}', "The policy must contain a valid version string"),
        ('{"Statements": []}', "Unknown field Statements"),
        ('{"Id": 7, "Statement": []}', "Id must be a string, not 7"),
        ('{"Statement": ["x"]}', "A statement must be an object, not 'x'"),
    ],
)
def test_documents_s3_refuses(text: str, message: str) -> None:
    assert refusal(text).startswith(message)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"Effect": None}, "Missing required field Effect"),
        ({"Effect": "allow"}, "Invalid effect: allow"),
        ({"Effect": ["Allow"]}, "Invalid effect: ['Allow']"),
        ({"Principal": None}, "Missing required field Principal"),
        ({"NotPrincipal": "*"}, "A statement may have Principal or NotPrincipal, not both"),
        ({"Principal": {}}, "Missing required field Principal cannot be empty!"),
        ({"Principal": ""}, "Missing required field Principal cannot be empty!"),
        ({"Principal": "123456789012"}, "Invalid principal in policy"),
        ({"Principal": {"AWS": "arn:aws:iam::123456789012:user/bob"}}, "Invalid principal"),
        ({"Principal": {"AWS": "arn:aws:iam::*:root"}}, "Invalid principal in policy"),
        ({"Principal": {"AWS": []}}, "Invalid principal in policy"),
        ({"Principal": {"AWS": [7]}}, "Invalid principal in policy"),
        ({"Principal": {"Service": "*"}}, "Invalid principal in policy"),
        ({"Principal": {"CanonicalUser": "*"}}, "Invalid principal in policy"),
        ({"Principal": {"Federated": "*"}}, "Invalid principal in policy"),
        ({"Principal": {"Users": "acc-a"}}, "Invalid principal in policy"),
        ({"Action": None}, "Missing required field Action"),
        ({"NotAction": "s3:GetObject"}, "A statement may have Action or NotAction, not both"),
        ({"Action": "ec2:RunInstances"}, "Policy has invalid action"),
        ({"Action": "s3:ListObjects"}, "Policy has invalid action"),
        ({"Action": "s3:Fly*"}, "Policy has invalid action"),
        ({"Action": []}, "Policy has invalid action"),
        ({"Action": "s3:" + "*e" * 30 + "*q"}, "Policy has invalid action"),
        ({"Action": ""}, "Policy has invalid action"),
        ({"Action": 3}, "Policy has invalid action"),
        ({"Resource": None}, "Missing required field Resource"),
        ({"NotResource": OBJECTS}, "A statement may have Resource or NotResource, not both"),
        ({"Resource": "arn:aws:s3:::videos/*"}, "Policy has invalid resource"),
        ({"Resource": "arn:aws:s3:::photos-old/*"}, "Policy has invalid resource"),
        ({"Resource": "arn:aws:s3:::photo"}, "Policy has invalid resource"),
        ({"Resource": "arn:aws:s3:eu-west-1::photos/*"}, "Policy has invalid resource"),
        ({"Resource": "photos/*"}, "Policy has invalid resource"),
        ({"Resource": [OBJECTS, "arn:aws:s3:::other"]}, "Policy has invalid resource"),
        ({"Resource": []}, "Policy has invalid resource"),
        ({"Resource": 5}, "Policy has invalid resource"),
        ({"NotResource": "arn:aws:s3:::other/*", "Resource": None}, "Policy has invalid resource"),
        ({"Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos"}, "Action does not apply"),
        ({"Action": "s3:ListBucket"}, "Action does not apply to any resource(s) in statement"),
        ({"Action": ["s3:ListBucket", "s3:GetObject"]}, "Action does not apply to any"),
        ({"Action": "s3:ListAllMyBuckets", "Resource": "*"}, "Action does not apply to any"),
        ({"Actions": "s3:GetObject"}, "Unknown field Actions"),
        ({"condition": {}}, "Unknown field condition"),
        ({"Sid": 1}, "Sid must be a string, not 1"),
        ({"Condition": {"StringEqual": {"s3:prefix": "a"}}}, "Invalid Condition type : Strin"),
        ({"Condition": {"StringEquals": {"s3:Nope/x": "a", "x": "b"}}}, "Policy has an invalid"),
        ({"Condition": {"IpAddress": {"aws:SourceIp": "1.2.3"}}}, "Invalid IP address in Cond"),
        ({"Condition": {"NumericLessThan": {"s3:max-keys": "x"}}}, "Condition NumericLessThan"),
        ({"Condition": "yes"}, "Condition must be an object of condition operators"),
    ],
)
def test_statements_s3_refuses(fields: dict[str, object], message: str) -> None:
    assert refusal(policy_text(statement(**fields))).startswith(message)


def test_statement_ids_are_unique_when_given() -> None:
    text = policy_text(statement(Sid="A"), statement(Sid="A"))
    assert refusal(text) == "Statement IDs (SID) in a single policy must be unique."
    parse_policy(policy_text(statement(Sid="A"), statement(Sid="B"), statement()), BUCKET)


def test_a_repeated_field_inside_a_statement_is_refused_not_dropped() -> None:
    text = (
        '{"Statement": [{"Effect": "Deny", "Effect": "Allow", "Principal": "*", '
        '"Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}]}'
    )
    assert refusal(text) == "This policy contains invalid Json: Effect is repeated"


def test_the_size_limit_is_20_kb_without_whitespace() -> None:
    def sized(count: int) -> str:
        keys = [f"s3-{n:05}" for n in range(count)]
        return policy_text(statement(Condition={"StringEquals": {"s3:prefix": keys}}))

    fits = sized(1500)
    assert len(json.dumps(json.loads(fits), separators=(",", ":"))) <= MAX_POLICY_BYTES
    parse_policy(fits.replace(",", ",    "), BUCKET)  # indentation is not counted
    assert refusal(sized(2000)) == "Policy exceeds the maximum allowed document size."
    padded = "{" + " " * (20 * MAX_POLICY_BYTES) + '"Statement": []}'
    assert refusal(padded) == "Policy exceeds the maximum allowed document size."


def test_deeply_nested_json_is_refused_as_invalid() -> None:
    text = '{"Statement": ' + "[" * 50_000 + "]" * 50_000 + "}"
    assert refusal(text) == "This policy contains invalid Json"
