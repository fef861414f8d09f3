"""A bucket's settings and object versions over the REST API, checked against what boto3 sees
through the S3 endpoint (each side reads what the other wrote)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.conftest import api, assert_problem, fresh_email
from tests.live import BURST, LiveServer

_n = itertools.count()
CORS = {
    "CORSRules": [
        {
            "ID": "uploads",
            "AllowedHeaders": ["*"],
            "AllowedMethods": ["PUT", "POST"],
            "AllowedOrigins": ["https://app.example.com"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3000,
        },
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]},
    ]
}


@pytest.fixture(scope="module")
def s3(client: httpx.Client, server: LiveServer) -> Any:
    key = client.post("/v1/storage/access-keys", json={"label": "settings", "buckets": "all"})
    body = key.json()
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=body["access_key_id"],
        aws_secret_access_key=body["secret_access_key"],
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(client: httpx.Client) -> str:
    name = f"settings-{next(_n)}"
    assert client.post("/v1/storage/buckets", json={"name": name}).status_code == 201
    return name


@pytest.fixture(scope="module")
def stranger(server: LiveServer) -> Iterator[httpx.Client]:
    """Another account, with every scope."""
    email = server.account(fresh_email("stranger"))
    server.raise_limits(email, api_rps=BURST)
    with api(server, server.api_key(email)) as c:
        yield c


def url(bucket: str, path: str) -> str:
    return f"/v1/storage/buckets/{bucket}/{path}"


def fields_of(problem: dict[str, Any]) -> set[str]:
    """The fields a validation problem names."""
    return {error["field"] for error in problem["errors"]}


def policy_text(bucket: str) -> str:
    # Spacing of its own: the policy must come back byte for byte.
    statement = {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/public/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=3)


# -- versioning and versions -----------------------------------------------------------


def test_versioning_enable_and_suspend(client: httpx.Client, bucket: str, s3: Any) -> None:
    assert client.get(url(bucket, "versioning")).json() == {"status": None}
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    answer = client.put(url(bucket, "versioning"), json={"status": "Enabled"})
    assert answer.status_code == 200 and answer.json() == {"status": "Enabled"}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert client.get(url(bucket, "versioning")).json() == {"status": "Suspended"}
    off = client.put(url(bucket, "versioning"), json={"status": None})
    assert fields_of(assert_problem(off, 422, "validation")) == {"status"}
    assert client.get(url(bucket, "versioning")).json() == {"status": "Suspended"}


def test_versions_listed_as_s3_lists_them(client: httpx.Client, bucket: str, s3: Any) -> None:
    s3.put_object(Bucket=bucket, Key="doc", Body=b"before versioning")  # the null version
    client.put(url(bucket, "versioning"), json={"status": "Enabled"}).raise_for_status()
    s3.put_object(Bucket=bucket, Key="doc", Body=b"second")
    s3.put_object(Bucket=bucket, Key="doc", Body=b"third!")
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    assert client.delete(url(bucket, "objects/other")).status_code == 204  # a delete marker

    listed = client.get(url(bucket, "versions")).json()
    assert listed["next_cursor"] is None
    seen = s3.list_object_versions(Bucket=bucket)
    expected = [
        (v["Key"], v["VersionId"], v["IsLatest"], False, v["Size"]) for v in seen["Versions"]
    ] + [(m["Key"], m["VersionId"], m["IsLatest"], True, 0) for m in seen["DeleteMarkers"]]
    got = [
        (v["key"], v["version_id"], v["is_latest"], v["delete_marker"], v["size"])
        for v in listed["items"]
    ]
    assert sorted(got) == sorted(expected)
    # By key, newest first within a key: the latest, then older ones down to the null one.
    assert [(key, latest, marker) for key, _, latest, marker, _ in got] == [
        ("doc", True, False),
        ("doc", False, False),
        ("doc", False, False),
        ("other", True, True),
        ("other", False, False),
    ]
    assert [v["version_id"] for v in listed["items"] if v["key"] == "doc"][-1] == "null"
    marker = next(v for v in listed["items"] if v["delete_marker"])
    assert (marker["key"], marker["etag"], marker["is_latest"]) == ("other", None, True)
    newest = listed["items"][0]
    head = s3.head_object(Bucket=bucket, Key="doc")
    assert (newest["etag"], newest["version_id"]) == (head["ETag"], head["VersionId"])

    # One entry per page, resumed inside a key's versions: the same list in the same order.
    walked, cursor = [], None
    while True:
        page = client.get(
            url(bucket, "versions"), params={"limit": 1} | ({"cursor": cursor} if cursor else {})
        ).json()
        walked += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == listed["items"]
    only = client.get(url(bucket, "versions"), params={"prefix": "oth"}).json()["items"]
    assert [(v["key"], v["delete_marker"]) for v in only] == [("other", True), ("other", False)]
    assert_problem(client.get(url(bucket, "versions"), params={"cursor": "bm9wZQ"}), 400, "invalid")


def test_restore_makes_an_old_version_current(client: httpx.Client, bucket: str, s3: Any) -> None:
    client.put(url(bucket, "versioning"), json={"status": "Enabled"}).raise_for_status()
    first = s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"first", Metadata={"k": "v"})
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"second")

    answer = client.post(
        url(bucket, "objects/a/b.txt/restore"), json={"version_id": first["VersionId"]}
    )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["version_id"] not in (first["VersionId"], "null")
    assert (made["key"], made["is_latest"], made["size"]) == ("a/b.txt", True, 5)
    got = s3.get_object(Bucket=bucket, Key="a/b.txt")
    assert got["Body"].read() == b"first" and got["VersionId"] == made["version_id"]
    assert got["Metadata"] == {"k": "v"} and got["ETag"] == made["etag"] == first["ETag"]
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 3  # every version stays

    s3.delete_object(Bucket=bucket, Key="a/b.txt")
    marker = s3.list_object_versions(Bucket=bucket)["DeleteMarkers"][0]["VersionId"]
    refused = client.post(url(bucket, "objects/a/b.txt/restore"), json={"version_id": marker})
    assert "delete marker" in str(assert_problem(refused, 400, "invalid")["detail"])
    unknown = client.post(url(bucket, "objects/a/b.txt/restore"), json={"version_id": "0" * 32})
    assert_problem(unknown, 404, "not-found")
    malformed = client.post(url(bucket, "objects/a/b.txt/restore"), json={"version_id": "v1"})
    assert "Invalid version id" in str(assert_problem(malformed, 400, "invalid")["detail"])


def test_delete_one_version_for_good(client: httpx.Client, bucket: str, s3: Any) -> None:
    client.put(url(bucket, "versioning"), json={"status": "Enabled"}).raise_for_status()
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"new")["VersionId"]

    gone = client.delete(url(bucket, "objects/k"), params={"version_id": new})
    assert gone.status_code == 204
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(old, True)]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    again = client.delete(url(bucket, "objects/k"), params={"version_id": new})
    assert new in str(assert_problem(again, 404, "not-found")["detail"])
    assert_problem(
        client.delete(url(bucket, "objects/k"), params={"version_id": "x"}), 400, "invalid"
    )

    # Without a version: a delete marker, and the versions stay; a key that is not there
    # gets a 404 and no marker.
    assert client.delete(url(bucket, "objects/k")).status_code == 204
    listed = s3.list_object_versions(Bucket=bucket)
    assert [m["Key"] for m in listed["DeleteMarkers"]] == ["k"]
    assert [v["VersionId"] for v in listed["Versions"]] == [old]
    assert_problem(client.delete(url(bucket, "objects/k")), 404, "not-found")
    assert_problem(client.delete(url(bucket, "objects/never")), 404, "not-found")
    assert len(s3.list_object_versions(Bucket=bucket)["DeleteMarkers"]) == 1


def test_null_version_of_an_unversioned_bucket(client: httpx.Client, bucket: str, s3: Any) -> None:
    s3.put_object(Bucket=bucket, Key="plain", Body=b"1")
    [version] = client.get(url(bucket, "versions")).json()["items"]
    assert (version["version_id"], version["is_latest"]) == ("null", True)
    answer = client.delete(url(bucket, "objects/plain"), params={"version_id": "null"})
    assert answer.status_code == 204
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# -- policy ----------------------------------------------------------------------------


def test_policy_round_trip(server: LiveServer, client: httpx.Client, bucket: str, s3: Any) -> None:
    assert "no policy" in str(
        assert_problem(client.get(url(bucket, "policy")), 404, "not-found")["detail"]
    )
    # The policy opens objects to anyone: a new bucket's Block Public Access refuses it.
    assert client.delete(url(bucket, "public-access-block")).status_code == 204
    text = policy_text(bucket)
    answer = client.put(
        url(bucket, "policy"), content=text, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 200 and answer.text == text
    assert client.get(url(bucket, "policy")).text == text
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == text
    # The policy is in force: an anonymous GET of a public key goes through.
    s3.put_object(Bucket=bucket, Key="public/hello.txt", Body=b"hello")
    assert httpx.get(f"{server.endpoint}/{bucket}/public/hello.txt").content == b"hello"

    assert client.delete(url(bucket, "policy")).status_code == 204
    assert_problem(client.get(url(bucket, "policy")), 404, "not-found")
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_policy(Bucket=bucket)
    assert caught.value.response["Error"]["Code"] == "NoSuchBucketPolicy"
    assert client.delete(url(bucket, "policy")).status_code == 204  # as S3: no error


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("not json", "first byte must be '{'"),
        ('{"Version": "2012-10-17", "Statement": []}', "Statement is empty"),
        (
            '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:Fly", '
            '"Resource": "arn:aws:s3:::BUCKET/*"}]}',
            "Policy has invalid action",
        ),
        (
            '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", '
            '"Resource": "arn:aws:s3:::elsewhere/*"}]}',
            "Policy has invalid resource",
        ),
    ],
)
def test_malformed_policy_names_why(
    client: httpx.Client, bucket: str, s3: Any, document: str, says: str
) -> None:
    answer = client.put(url(bucket, "policy"), content=document.replace("BUCKET", bucket))
    assert says in str(assert_problem(answer, 400, "invalid")["detail"])
    assert_problem(client.get(url(bucket, "policy")), 404, "not-found")


def test_block_public_policy_refuses_a_public_policy(client: httpx.Client, bucket: str) -> None:
    block = client.put(url(bucket, "public-access-block"), json={"block_public_policy": True})
    assert block.json() == {
        "block_public_acls": False,
        "ignore_public_acls": False,
        "block_public_policy": True,
        "restrict_public_buckets": False,
    }
    refused = client.put(url(bucket, "policy"), content=policy_text(bucket))
    assert "Block Public Access" in str(assert_problem(refused, 403, "forbidden")["detail"])
    assert_problem(client.get(url(bucket, "policy")), 404, "not-found")


# -- CORS ------------------------------------------------------------------------------


def test_cors_in_aws_cli_shape(
    server: LiveServer, client: httpx.Client, bucket: str, s3: Any
) -> None:
    assert_problem(client.get(url(bucket, "cors")), 404, "not-found")
    answer = client.put(url(bucket, "cors"), json=CORS)
    assert answer.status_code == 200 and answer.json() == CORS
    assert client.get(url(bucket, "cors")).json() == CORS
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == CORS["CORSRules"]
    preflight = httpx.options(
        f"{server.endpoint}/{bucket}/file",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"

    # What boto3 (or aws-cli) puts reads back in the shape it was put.
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedMethods": ["HEAD"], "AllowedOrigins": ["*"]}]},
    )
    assert client.get(url(bucket, "cors")).json() == {
        "CORSRules": [{"AllowedMethods": ["HEAD"], "AllowedOrigins": ["*"]}]
    }
    assert client.delete(url(bucket, "cors")).status_code == 204
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_cors(Bucket=bucket)
    assert caught.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        (
            {"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]},
            "CORSRules[1]: Found unsupported HTTP method in CORS config. Unsupported method "
            "is PATCH",
        ),
        (
            {"AllowedMethods": ["GET"], "AllowedOrigins": ["https://*.a.*"]},
            'AllowedOrigin "https://*.a.*" can not have more than one wildcard',
        ),
        (
            {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "ExposeHeaders": ["x-*"]},
            "We currently do not support wildcard for ExposeHeader",
        ),
        ({"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "ID": "i" * 256}, "ID length"),
    ],
)
def test_cors_refused_as_s3_refuses_it(
    client: httpx.Client, bucket: str, rule: dict[str, Any], says: str
) -> None:
    good = {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}
    answer = client.put(url(bucket, "cors"), json={"CORSRules": [good, rule]})
    assert says in str(assert_problem(answer, 400, "invalid")["detail"])
    assert_problem(client.get(url(bucket, "cors")), 404, "not-found")


def test_cors_shape_errors_name_the_field(client: httpx.Client, bucket: str) -> None:
    empty = assert_problem(
        client.put(url(bucket, "cors"), json={"CORSRules": []}), 422, "validation"
    )
    assert fields_of(empty) == {"CORSRules"}
    typo = {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigin": ["*"]}]}
    refused = assert_problem(client.put(url(bucket, "cors"), json=typo), 422, "validation")
    assert fields_of(refused) == {"CORSRules.0.AllowedOrigins", "CORSRules.0.AllowedOrigin"}


# -- lifecycle -------------------------------------------------------------------------

LIFECYCLE = {
    "Rules": [
        {
            "ID": "logs",
            "Filter": {"Prefix": "logs/"},
            "Status": "Enabled",
            "Expiration": {"Days": 30},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2},
        },
        {
            "ID": "big tmp",
            "Filter": {
                "And": {
                    "Prefix": "tmp/",
                    "Tags": [{"Key": "kind", "Value": "scratch"}],
                    "ObjectSizeGreaterThan": 1024,
                }
            },
            "Status": "Disabled",
            "Expiration": {"Date": "2030-01-01T00:00:00.000Z"},
        },
        {
            "ID": "uploads",
            "Filter": {},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
        },
    ]
}


def test_lifecycle_in_aws_cli_shape(client: httpx.Client, bucket: str, s3: Any) -> None:
    assert_problem(client.get(url(bucket, "lifecycle")), 404, "not-found")
    answer = client.put(url(bucket, "lifecycle"), json=LIFECYCLE)
    assert answer.status_code == 200 and answer.json() == LIFECYCLE
    assert client.get(url(bucket, "lifecycle")).json() == LIFECYCLE
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in rules] == ["logs", "big tmp", "uploads"]
    assert (
        rules[0]["NoncurrentVersionExpiration"]
        == LIFECYCLE["Rules"][0]["NoncurrentVersionExpiration"]
    )
    assert rules[1]["Filter"] == LIFECYCLE["Rules"][1]["Filter"]
    assert rules[1]["Expiration"]["Date"].isoformat() == "2030-01-01T00:00:00+00:00"

    # A rule put through S3 without an ID, in the form before filters, reads back as put.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [{"Prefix": "old/", "Status": "Enabled", "Expiration": {"Days": 1}}]
        },
    )
    [rule] = client.get(url(bucket, "lifecycle")).json()["Rules"]
    assert rule["ID"] == s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["ID"]
    assert {k: v for k, v in rule.items() if k != "ID"} == {
        "Prefix": "old/",
        "Status": "Enabled",
        "Expiration": {"Days": 1},
    }
    assert client.delete(url(bucket, "lifecycle")).status_code == 204
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert caught.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"


def test_lifecycle_rule_without_id_is_given_one(client: httpx.Client, bucket: str) -> None:
    document = {
        "Rules": [
            {
                "Filter": {"Tag": {"Key": "t", "Value": ""}},
                "Status": "Enabled",
                "Expiration": {"Date": "2031-05-01"},
            }
        ]
    }
    [rule] = client.put(url(bucket, "lifecycle"), json=document).json()["Rules"]
    assert rule["ID"] and rule["Expiration"] == {"Date": "2031-05-01T00:00:00.000Z"}
    assert client.get(url(bucket, "lifecycle")).json()["Rules"] == [rule]


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        (
            {"Filter": {}, "Status": "Enabled", "Expiration": {"Days": 0}},
            "'Days' for Expiration action must be a positive integer",
        ),
        (
            {"Prefix": "a", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}},
            "Rules[0]: give a Filter, or a Prefix",
        ),
        (
            {
                "Filter": {"Prefix": "a", "ObjectSizeLessThan": 5},
                "Status": "Enabled",
                "Expiration": {"Days": 1},
            },
            "Rules[0].Filter: one of Prefix, ObjectSizeLessThan",
        ),
        (
            {"Filter": {"And": {"Prefix": "a"}}, "Status": "Enabled", "Expiration": {"Days": 1}},
            "Rules[0].Filter.And: combine two predicates",
        ),
        (
            {
                "Filter": {},
                "Status": "Enabled",
                "Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True},
            },
            "Rules[0].Expiration: one of Days",
        ),
        (
            {
                "Filter": {"Tag": {"Key": "k", "Value": "v"}},
                "Status": "Enabled",
                "Expiration": {"ExpiredObjectDeleteMarker": True},
            },
            "ExpiredObjectDeleteMarker cannot be specified with Tags",
        ),
        (
            {"Filter": {}, "Status": "Enabled", "Expiration": {"Date": "2030-01-01T12:00:00Z"}},
            "'Date' must be at midnight GMT",
        ),
        (
            {"Filter": {}, "Status": "Enabled", "Expiration": {"Date": "soon"}},
            "Rules[0].Expiration.Date: 'soon' is not an ISO 8601 date",
        ),
        (
            {
                "Filter": {},
                "Status": "Enabled",
                "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
            },
            "The storage class you specified is not valid",
        ),
        (
            {
                "Filter": {},
                "Status": "Enabled",
                "Transitions": [{"Days": 30, "StorageClass": "COLD"}],
            },
            "'COLD' is not a storage class",
        ),
        (
            {"Filter": {}, "Status": "Enabled"},
            "At least one action needs to be specified in a rule",
        ),
    ],
)
def test_lifecycle_refused_as_s3_refuses_it(
    client: httpx.Client, bucket: str, rule: dict[str, Any], says: str
) -> None:
    answer = client.put(url(bucket, "lifecycle"), json={"Rules": [rule]})
    assert says in str(assert_problem(answer, 400, "invalid")["detail"])
    assert_problem(client.get(url(bucket, "lifecycle")), 404, "not-found")


def test_lifecycle_checks_across_rules(client: httpx.Client, bucket: str) -> None:
    rule = {"ID": "same", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}
    twice = client.put(url(bucket, "lifecycle"), json={"Rules": [rule, rule]})
    assert "Rule ID must be unique" in str(assert_problem(twice, 400, "invalid")["detail"])
    none = client.put(url(bucket, "lifecycle"), json={"Rules": []})
    assert "At least one lifecycle rule" in str(assert_problem(none, 400, "invalid")["detail"])
    status = client.put(url(bucket, "lifecycle"), json={"Rules": [{**rule, "Status": "On"}]})
    assert fields_of(assert_problem(status, 422, "validation")) == {"Rules.0.Status"}


# -- tags and Block Public Access ------------------------------------------------------


def test_bucket_tags(client: httpx.Client, bucket: str, s3: Any) -> None:
    assert client.get(url(bucket, "tags")).json() == {"tags": {}}
    tags = {"env": "prod", "team": "storage", "empty": ""}
    assert client.put(url(bucket, "tags"), json={"tags": tags}).json() == {"tags": tags}
    assert client.get(url(bucket, "tags")).json() == {"tags": tags}
    seen = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert {t["Key"]: t["Value"] for t in seen} == tags

    reserved = client.put(url(bucket, "tags"), json={"tags": {"aws:made": "x"}})
    assert "'aws:made'" in str(assert_problem(reserved, 400, "invalid")["detail"])
    many = client.put(url(bucket, "tags"), json={"tags": {f"k{i}": "v" for i in range(51)}})
    assert "50" in str(assert_problem(many, 400, "invalid")["detail"])
    assert client.get(url(bucket, "tags")).json() == {"tags": tags}

    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "from", "Value": "s3"}]})
    assert client.get(url(bucket, "tags")).json() == {"tags": {"from": "s3"}}
    assert client.delete(url(bucket, "tags")).status_code == 204
    assert client.get(url(bucket, "tags")).json() == {"tags": {}}
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_tagging(Bucket=bucket)
    assert caught.value.response["Error"]["Code"] == "NoSuchTagSet"


def test_public_access_block(client: httpx.Client, bucket: str, s3: Any) -> None:
    off = dict.fromkeys(
        (
            "block_public_acls",
            "ignore_public_acls",
            "block_public_policy",
            "restrict_public_buckets",
        ),
        False,
    )
    # A new bucket blocks public access: all four switches on (AWS's default since 2023).
    assert client.get(url(bucket, "public-access-block")).json() == dict.fromkeys(off, True)
    on = {**off, "block_public_acls": True, "restrict_public_buckets": True}
    assert client.put(url(bucket, "public-access-block"), json=on).json() == on
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": False,
        "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True,
    }
    loose = client.put(url(bucket, "public-access-block"), json={"block_public_acls": "yes"})
    assert_problem(loose, 422, "validation")
    typo = client.put(url(bucket, "public-access-block"), json={"block_public_acl": True})
    assert_problem(typo, 422, "validation")
    assert client.get(url(bucket, "public-access-block")).json() == on
    assert client.delete(url(bucket, "public-access-block")).status_code == 204
    assert client.get(url(bucket, "public-access-block")).json() == off
    with pytest.raises(ClientError) as caught:
        s3.get_public_access_block(Bucket=bucket)
    assert caught.value.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration"


# -- who may -----------------------------------------------------------------------------


def test_another_accounts_bucket_is_not_found(
    client: httpx.Client, stranger: httpx.Client, bucket: str, s3: Any
) -> None:
    client.put(url(bucket, "cors"), json=CORS).raise_for_status()
    s3.put_object(Bucket=bucket, Key="k", Body=b"mine")
    calls = [
        ("GET", "versioning", None),
        ("PUT", "versioning", {"status": "Enabled"}),
        ("GET", "versions", None),
        ("GET", "cors", None),
        ("PUT", "cors", CORS),
        ("DELETE", "cors", None),
        ("GET", "tags", None),
        ("DELETE", "policy", None),
        ("PUT", "public-access-block", {"block_public_policy": True}),
        ("POST", "objects/k/restore", {"version_id": "null"}),
        ("DELETE", "objects/k?version_id=null", None),
    ]
    for method, path, body in calls:
        answer = stranger.request(method, url(bucket, path), json=body)
        assert_problem(answer, 404, "not-found")
    assert client.get(url(bucket, "cors")).json() == CORS
    assert client.get(url(bucket, "versioning")).json() == {"status": None}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"mine"


def test_reading_needs_storage_read_and_changing_storage_write(
    server: LiveServer, user: str, bucket: str
) -> None:
    with api(server, server.api_key(user, "settings reader", ("storage:read",))) as reader:
        assert reader.get(url(bucket, "public-access-block")).status_code == 200
        assert reader.get(url(bucket, "versions")).json()["items"] == []
        for method, path, body in [
            ("PUT", "versioning", {"status": "Enabled"}),
            ("PUT", "tags", {"tags": {"k": "v"}}),
            ("DELETE", "cors", None),
            ("POST", "objects/k/restore", {"version_id": "null"}),
        ]:
            refused = reader.request(method, url(bucket, path), json=body)
            assert assert_problem(refused, 403, "missing-scope")["scope"] == "storage:write"
