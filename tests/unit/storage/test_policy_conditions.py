"""Bucket policy Condition operators: each one true, false, with its key missing and with
IfExists; the set qualifiers; patterns with wildcards, ARN segments and policy variables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from nexq.storage.policy.conditions import (
    InvalidCondition,
    Pattern,
    parse_conditions,
    parse_date,
)
from nexq.storage.policy.evaluate import RequestContext


def holds(
    condition: Mapping[str, object],
    keys: Mapping[str, str | Sequence[str]],
    *,
    variables: bool = True,
) -> bool:
    """Whether every condition of a Condition element holds for a request with ``keys``."""
    parsed = parse_conditions(condition, variables=variables)
    request = RequestContext(None, "s3:GetObject", "arn:aws:s3:::b/k", keys).condition_keys()
    return all(c.holds(request) for c in parsed)


# (operator, policy value, a request value that matches, one that does not)
CASES = [
    ("StringEquals", "abc", "abc", "ABC"),
    ("StringEqualsIgnoreCase", "abc", "AbC", "abd"),
    ("StringLike", "home/*/x?", "home/a/b/x1", "home/a/x"),
    ("NumericEquals", "10", "10.0", "11"),
    ("NumericLessThan", "10", "9.5", "10"),
    ("NumericLessThanEquals", "10", "10", "10.01"),
    ("NumericGreaterThan", "10", "11", "10"),
    ("NumericGreaterThanEquals", "-1.5", "-1.5", "-2"),
    ("DateEquals", "2024-01-02T03:04:05Z", "1704164645", "2024-01-02T03:04:06Z"),
    ("DateLessThan", "2024-01-01", "2023-12-31T23:59:59Z", "2024-01-01T00:00:00Z"),
    ("DateLessThanEquals", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00", "1704067201"),
    ("DateGreaterThan", "1704067200", "2024-01-01T00:00:00.5Z", "2024-01-01"),
    ("DateGreaterThanEquals", "2024-06", "2024-06-01T00:00:00Z", "2024-05-31T23:59:59Z"),
    ("Bool", "true", "TRUE", "false"),
    ("BinaryEquals", "QmluYXJ5", "QmluYXJ5", "QmluYXJ6"),
    ("IpAddress", "203.0.113.0/24", "203.0.113.200", "203.0.114.1"),
    ("IpAddress", "2001:DB8:1234:5678::/64", "2001:db8:1234:5678::9", "2001:db8:1234:5679::1"),
    ("IpAddress", "192.0.2.7", "192.0.2.7", "192.0.2.8"),
    ("ArnEquals", "arn:aws:sns:*:111122223333:topic", "arn:aws:sns:eu-1:111122223333:topic", "x"),
    ("ArnLike", "arn:aws:s3:::b/*", "arn:aws:s3:::b/a:b:c", "arn:aws:s3:::c/a"),
]
NEGATED = {
    "StringEquals": "StringNotEquals",
    "StringEqualsIgnoreCase": "StringNotEqualsIgnoreCase",
    "StringLike": "StringNotLike",
    "NumericEquals": "NumericNotEquals",
    "DateEquals": "DateNotEquals",
    "IpAddress": "NotIpAddress",
    "ArnEquals": "ArnNotEquals",
    "ArnLike": "ArnNotLike",
}


@pytest.mark.parametrize(("operator", "value", "match", "miss"), CASES)
def test_an_operator_holds_for_a_matching_value_only(
    operator: str, value: str, match: str, miss: str
) -> None:
    assert holds({operator: {"s3:key": value}}, {"s3:key": match}) is True
    assert holds({operator: {"s3:key": value}}, {"s3:key": miss}) is False


@pytest.mark.parametrize(("operator", "value", "match", "miss"), CASES)
def test_a_missing_key_fails_an_operator_but_not_its_if_exists_form(
    operator: str, value: str, match: str, miss: str
) -> None:
    assert holds({operator: {"s3:key": value}}, {}) is False
    assert holds({operator + "IfExists": {"s3:key": value}}, {}) is True
    # IfExists changes nothing when the key is there.
    assert holds({operator + "IfExists": {"s3:key": value}}, {"s3:key": match}) is True
    assert holds({operator + "IfExists": {"s3:key": value}}, {"s3:key": miss}) is False


@pytest.mark.parametrize(
    ("operator", "value", "match", "miss"), [c for c in CASES if c[0] in NEGATED]
)
def test_a_negated_operator_holds_when_no_value_matches(
    operator: str, value: str, match: str, miss: str
) -> None:
    negated = NEGATED[operator]
    assert holds({negated: {"s3:key": value}}, {"s3:key": miss}) is True
    assert holds({negated: {"s3:key": value}}, {"s3:key": match}) is False
    # AWS: a negated operator whose key is missing holds (there is nothing that matches).
    assert holds({negated: {"s3:key": value}}, {}) is True
    assert holds({negated + "IfExists": {"s3:key": value}}, {}) is True
    assert holds({negated + "IfExists": {"s3:key": value}}, {"s3:key": match}) is False


def test_several_values_are_ored_and_negated_values_nored() -> None:
    assert holds({"StringEquals": {"s3:prefix": ["a", "b"]}}, {"s3:prefix": "b"})
    assert not holds({"StringEquals": {"s3:prefix": ["a", "b"]}}, {"s3:prefix": "c"})
    assert holds({"StringNotEquals": {"s3:prefix": ["a", "b"]}}, {"s3:prefix": "c"})
    assert not holds({"StringNotEquals": {"s3:prefix": ["a", "b"]}}, {"s3:prefix": "b"})
    assert holds({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1"]}}, {"aws:sourceip": "::2"})
    assert not holds(
        {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1"]}}, {"aws:SourceIp": "10.1.2.3"}
    )


def test_several_keys_and_several_operators_are_anded() -> None:
    condition = {
        "StringEquals": {"s3:prefix": "a/", "s3:delimiter": "/"},
        "NumericLessThanEquals": {"s3:max-keys": "10"},
    }
    assert holds(condition, {"s3:prefix": "a/", "s3:delimiter": "/", "s3:max-keys": "5"})
    assert not holds(condition, {"s3:prefix": "a/", "s3:delimiter": "/", "s3:max-keys": "50"})
    assert not holds(condition, {"s3:prefix": "a/", "s3:max-keys": "5"})


def test_keys_ignore_case_but_values_do_not() -> None:
    assert holds({"StringEquals": {"AWS:UserAgent": "Boto3"}}, {"aws:useragent": "Boto3"})
    assert not holds({"StringEquals": {"aws:UserAgent": "Boto3"}}, {"aws:UserAgent": "boto3"})
    assert not holds(
        {"StringLike": {"aws:Referer": "https://Example.com/*"}},
        {"aws:referer": "https://example.com/a"},
    )


def test_tag_keys_in_condition_keys_may_hold_spaces_and_symbols() -> None:
    condition = {"StringEquals": {"s3:ExistingObjectTag/cost centre+=@": "ops"}}
    assert holds(condition, {"S3:existingObjectTag/Cost Centre+=@": "ops"})
    assert not holds(condition, {"s3:ExistingObjectTag/cost": "ops"})


def test_for_any_value_needs_one_request_value_to_match() -> None:
    condition = {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["team", "owner"]}}
    assert holds(condition, {"s3:RequestObjectTagKeys": ["colour", "team"]})
    assert not holds(condition, {"s3:RequestObjectTagKeys": ["colour"]})
    assert not holds(condition, {})  # an empty set has no value that matches
    assert not holds(condition, {"s3:RequestObjectTagKeys": []})


def test_for_all_values_needs_every_request_value_to_match_and_holds_on_none() -> None:
    condition = {"ForAllValues:StringLike": {"s3:RequestObjectTagKeys": ["team", "cost-*"]}}
    assert holds(condition, {"s3:RequestObjectTagKeys": ["team", "cost-centre"]})
    assert not holds(condition, {"s3:RequestObjectTagKeys": ["team", "colour"]})
    assert holds(condition, {})
    assert holds(condition, {"s3:RequestObjectTagKeys": []})


def test_qualified_negated_operators_apply_the_negation_to_each_request_value() -> None:
    all_not = {"ForAllValues:StringNotEquals": {"s3:RequestObjectTagKeys": ["secret"]}}
    assert holds(all_not, {"s3:RequestObjectTagKeys": ["a", "b"]})
    assert not holds(all_not, {"s3:RequestObjectTagKeys": ["a", "secret"]})
    any_not = {"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": ["secret"]}}
    assert holds(any_not, {"s3:RequestObjectTagKeys": ["a", "secret"]})
    assert not holds(any_not, {"s3:RequestObjectTagKeys": ["secret"]})
    assert not holds(any_not, {})


def test_an_unqualified_operator_on_a_multi_valued_key() -> None:
    assert holds(
        {"StringEquals": {"s3:RequestObjectTagKeys": "a"}}, {"s3:RequestObjectTagKeys": ["b", "a"]}
    )
    assert not holds(
        {"StringNotEquals": {"s3:RequestObjectTagKeys": "a"}},
        {"s3:RequestObjectTagKeys": ["b", "a"]},
    )


def test_for_all_values_if_exists_and_null() -> None:
    condition = {"ForAllValues:StringEqualsIfExists": {"s3:RequestObjectTagKeys": "a"}}
    assert holds(condition, {})
    assert not holds(condition, {"s3:RequestObjectTagKeys": ["a", "b"]})


def test_null_tests_whether_the_key_is_there() -> None:
    assert holds({"Null": {"s3:x-amz-server-side-encryption": "true"}}, {})
    assert not holds(
        {"Null": {"s3:x-amz-server-side-encryption": "true"}},
        {"s3:x-amz-server-side-encryption": "AES256"},
    )
    assert holds(
        {"Null": {"s3:x-amz-server-side-encryption": False}},
        {"s3:x-amz-server-side-encryption": "AES256"},
    )
    assert not holds({"Null": {"s3:x-amz-server-side-encryption": "false"}}, {})
    assert holds({"Null": {"s3:RequestObjectTagKeys": "true"}}, {"s3:RequestObjectTagKeys": []})


def test_json_numbers_and_booleans_are_values_too() -> None:
    assert holds({"NumericLessThan": {"s3:max-keys": 10}}, {"s3:max-keys": "9"})
    assert holds({"NumericEquals": {"s3:max-keys": 2.5}}, {"s3:max-keys": "2.50"})
    assert holds({"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": "false"})


def test_a_request_value_of_the_wrong_type_never_matches() -> None:
    assert not holds({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "few"})
    assert not holds({"DateLessThan": {"aws:CurrentTime": "2030"}}, {"aws:CurrentTime": "soon"})
    assert not holds({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, {"aws:SourceIp": "host"})
    assert not holds({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, {"aws:SourceIp": "::1"})
    assert not holds({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "yes"})
    assert not holds({"BinaryEquals": {"s3:k": "QQ=="}}, {"s3:k": "not base64!"})


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2024-02", 1706745600),
        ("2024-02-03", 1706918400),
        ("2024-02-03T04:05Z", 1706933100),
        ("2024-02-03T04:05:06Z", 1706933106),
        ("2024-02-03T04:05:06", 1706933106),
        ("2024-02-03T06:05:06+02:00", 1706933106),
        ("2024-02-03T02:05:06-0200", 1706933106),
        ("1706933106", 1706933106),
    ],
)
def test_dates_in_the_w3c_iso_8601_profiles_and_epoch_seconds(text: str, epoch: int) -> None:
    assert parse_date(text) == epoch


def test_a_fraction_of_a_second_counts() -> None:
    assert parse_date("2024-02-03T04:05:06.250Z") == parse_date("1706933106.25")


def test_all_digits_are_epoch_seconds_never_a_year() -> None:
    assert parse_date("2024") == 2024
    assert parse_date("2024-01") == 1704067200
    assert parse_date("2024-02-30") is None


@pytest.mark.parametrize(
    ("value", "text", "matched"),
    [
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/", True),
        ("arn:aws:s3:::b/a?c", "arn:aws:s3:::b/abc", True),
        ("arn:aws:s3:::b/a?c", "arn:aws:s3:::b/ac", False),
        # A wildcard matches within one segment only (AWS's own example).
        (
            "arn:aws:someservice:*:111122223333:finance/*",
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/x",
            False,
        ),
        # With fewer than six segments, the last one takes the rest of the ARN.
        ("arn:aws:sns:*", "arn:aws:sns:r:1:topic", True),
        ("*", "arn:aws:sns:r:1:topic", True),
        ("arn:aws:s3:::b/Key", "arn:aws:s3:::b/key", False),
    ],
)
def test_arn_operators_compare_segment_by_segment(value: str, text: str, matched: bool) -> None:
    assert holds({"ArnLike": {"aws:SourceArn": value}}, {"aws:SourceArn": text}) is matched


def test_string_like_wildcards_cross_colons_where_arn_like_does_not() -> None:
    value = "arn:aws:someservice:*:111122223333:finance/*"
    text = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/x"
    assert holds({"StringLike": {"aws:SourceArn": value}}, {"aws:SourceArn": text})


def test_string_like_with_many_wildcards_stays_fast_and_exact() -> None:
    condition = {"StringLike": {"aws:UserAgent": "*a?" * 30 + "*z"}}
    assert not holds(condition, {"aws:UserAgent": "a" * 2000})
    assert holds(condition, {"aws:UserAgent": "ab" * 30 + "z"})
    assert not holds(condition, {"aws:UserAgent": "ab" * 29 + "z"})


def test_string_equals_takes_wildcard_characters_literally() -> None:
    assert holds({"StringEquals": {"s3:prefix": "a*"}}, {"s3:prefix": "a*"})
    assert not holds({"StringEquals": {"s3:prefix": "a*"}}, {"s3:prefix": "ab"})


def test_escapes_give_literal_wildcards_in_version_2012() -> None:
    condition = {"StringLike": {"s3:prefix": "a${*}b${?}${$}*"}}
    assert holds(condition, {"s3:prefix": "a*b?$tail"})
    assert not holds(condition, {"s3:prefix": "axxb?$"})
    # Version 2008-10-17 has no policy variables: the text is taken as written.
    assert holds(condition, {"s3:prefix": "a${x}b${y}${$}"}, variables=False)


def test_policy_variables_are_read_from_the_request_keys() -> None:
    condition = {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}
    assert holds(condition, {"s3:prefix": "home/ana/x", "aws:username": "ana"})
    assert not holds(condition, {"s3:prefix": "home/bob/x", "aws:username": "ana"})
    # A variable's value is text, never a wildcard; an absent one matches nothing.
    assert not holds(condition, {"s3:prefix": "home/ana/x", "aws:username": "*"})
    assert not holds(condition, {"s3:prefix": "home/ana/x"})
    with_default = {"StringEquals": {"s3:prefix": "${aws:username, 'guest'}"}}
    assert holds(with_default, {"s3:prefix": "guest"})


def test_a_pattern_knows_what_it_could_match() -> None:
    pattern = Pattern("arn:aws:s3:::b*", wildcards=True, variables=True, arn=True)
    assert pattern.could_match("arn:aws:s3:::b", whole=True)
    assert pattern.could_match("arn:aws:s3:::bc/", whole=False)
    exact = Pattern("arn:aws:s3:::b", wildcards=True, variables=True, arn=True)
    assert not exact.could_match("arn:aws:s3:::b/", whole=False)
    assert not exact.could_match("arn:aws:s3:::bc", whole=True)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"stringequals": {"s3:prefix": "a"}}, "Invalid Condition type : stringequals"),
        ({"StringEqual": {"s3:prefix": "a"}}, "Invalid Condition type : StringEqual"),
        ({"NullIfExists": {"s3:prefix": "true"}}, "Invalid Condition type : NullIfExists"),
        ({"ForSomeValues:StringLike": {"s3:x": "a"}}, "Invalid Condition type : ForSomeValues:"),
        ({"IfExists": {"s3:prefix": "a"}}, "Invalid Condition type : IfExists"),
        ({"StringEquals": {"prefix": "a"}}, "Policy has an invalid condition key"),
        ({"StringEquals": {"ec2:InstanceType": "a"}}, "Policy has an invalid condition key"),
        ({"IpAddress": {"aws:SourceIp": "10.207.*.*"}}, "Invalid IP address in Conditions"),
        ({"NumericLessThan": {"s3:max-keys": "ten"}}, "'ten' (a number expected)"),
        ({"DateLessThan": {"aws:CurrentTime": "2024-13-01"}}, "(an ISO 8601 date"),
        ({"Bool": {"aws:SecureTransport": "yes"}}, "'yes' (true or false expected)"),
        ({"Null": {"s3:prefix": "maybe"}}, "'maybe' (true or false expected)"),
        ({"BinaryEquals": {"s3:k": "***"}}, "'***' (base64 expected)"),
        ({"StringEquals": {"s3:prefix": []}}, "StringEquals on s3:prefix has no values"),
        ({"StringEquals": {"s3:prefix": {"a": 1}}}, "has an invalid value {'a': 1}"),
        ({"StringEquals": {"s3:prefix": [None]}}, "has an invalid value None"),
        ({"StringEquals": "s3:prefix"}, "Condition StringEquals must be an object"),
        (["StringEquals"], "Condition must be an object"),
    ],
)
def test_what_the_condition_language_refuses(condition: object, message: str) -> None:
    with pytest.raises(InvalidCondition) as refused:
        parse_conditions(condition, variables=True)
    assert message in str(refused.value)
