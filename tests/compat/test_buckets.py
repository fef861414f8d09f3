"""Bucket operations with boto3 against a live server."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.live import Key, LiveServer


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def test_create_list_head_delete(s3: Any) -> None:
    s3.create_bucket(Bucket="alpha-bucket")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "alpha-bucket" in names
    head = s3.head_bucket(Bucket="alpha-bucket")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (head["BucketRegion"], head["AccessPointAlias"]) == ("nexq-1", False)
    assert s3.get_bucket_location(Bucket="alpha-bucket")["LocationConstraint"] == "nexq-1"
    s3.delete_bucket(Bucket="alpha-bucket")
    assert "alpha-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="alpha-bucket")
    assert status(exc) == 404


@pytest.mark.parametrize(
    "name",
    [
        *("ab", "a" * 64, "UPPER", "under_score", "-dash", "dash-", "192.168.1.1", "a..b"),
        # Reserved by AWS (general purpose bucket naming rules). Not "--x-s3": boto3 takes
        # such a name for an S3 Express directory bucket and signs for another service.
        *("xn--abc", "sthree-abc", "amzn-s3-demo-abc", "abc-s3alias", "abc--ol-s3"),
        *("abc.mrap", "abc--table-s3"),
    ],
)
def test_invalid_names_are_refused(s3: Any, name: str) -> None:
    # S3 compat: AWS answers 400 InvalidBucketName for every name its naming rules refuse.
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert (code(exc), status(exc)) == ("InvalidBucketName", 400)


def test_valid_edge_names(s3: Any) -> None:
    for name in ["abc", "a" * 63, "with.dots.ok", "0-digits-9"]:
        s3.create_bucket(Bucket=name)
        s3.delete_bucket(Bucket=name)


def test_already_owned_and_already_exists(server: LiveServer, s3: Any) -> None:
    s3.create_bucket(Bucket="taken-name")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="taken-name")
    assert code(exc) == "BucketAlreadyOwnedByYou"
    other = server.client(server.key(server.account("rival@example.com")))
    with pytest.raises(ClientError) as exc:
        other.create_bucket(Bucket="taken-name")
    assert code(exc) == "BucketAlreadyExists"
    assert status(exc) == 409


def test_delete_non_empty_bucket_is_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert code(exc) == "BucketNotEmpty"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


def test_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert code(exc) == "NoSuchBucket"
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]


def test_location_constraint_other_region_is_refused(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(
            Bucket="elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )
    assert code(exc) == "IllegalLocationConstraintException"


def test_versioning_and_acl_answer(s3: Any, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"


def test_unsupported_subresource_is_not_implemented(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_logging(Bucket=bucket)
    assert code(exc) == "NotImplemented"
    assert status(exc) == 501


def test_request_ids_on_every_response(s3: Any, bucket: str) -> None:
    headers = s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-request-id"]
    assert headers["x-amz-id-2"]
    # An error names both in its document too, as S3's do (the SDKs show them).
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=bucket, Key="nothing")
    answer = refused.value.response
    assert answer["Error"]["Code"] == "NoSuchKey"
    assert (
        answer["ResponseMetadata"]["RequestId"]
        == answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    )
    assert (
        answer["ResponseMetadata"]["HostId"]
        == answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-id-2"]
    )


def test_region_aliases(server: LiveServer, owner: Key) -> None:
    import boto3
    from botocore.config import Config

    for region in ("us-east-1", "auto", "nexq-1"):
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=owner.access_key_id,
            aws_secret_access_key=owner.secret_access_key,
            region_name=region,
            config=Config(s3={"addressing_style": "path"}),
        )
        assert "Buckets" in client.list_buckets()
    wrong = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=owner.access_key_id,
        aws_secret_access_key=owner.secret_access_key,
        region_name="eu-central-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as exc:
        wrong.list_buckets()
    assert code(exc) == "AuthorizationHeaderMalformed"


def test_put_acl_accepts_private_only(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    policy = s3.get_object_acl(Bucket=bucket, Key="k")
    s3.put_object_acl(
        Bucket=bucket,
        Key="k",
        AccessControlPolicy={"Grants": policy["Grants"], "Owner": policy["Owner"]},
    )
    for call in (
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        # S3 compat: as an AWS bucket with ACLs disabled (tests/compat/test_acl.py).
        assert (code(exc), status(exc)) == ("AccessControlListNotSupported", 400)
