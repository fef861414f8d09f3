"""Object tags with boto3: on PUT, copy and multipart, by version, with AWS's limits."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.live import Key, LiveServer


def tags_of(s3: Any, bucket: str, key: str, **extra: Any) -> dict[str, str]:
    got = s3.get_object_tagging(Bucket=bucket, Key=key, **extra)["TagSet"]
    return {t["Key"]: t["Value"] for t in got}


def test_tags_given_on_put_are_counted_and_replaced(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="team=storage&note=a%20b")
    assert tags_of(s3, bucket, "k") == {"team": "storage", "note": "a b"}
    assert (
        s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"][
            "x-amz-tagging-count"
        ]
        == "2"
    )
    s3.put_object_tagging(
        Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "only", "Value": "one"}]}
    )
    assert tags_of(s3, bucket, "k") == {"only": "one"}
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert tags_of(s3, bucket, "k") == {}
    headers = s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    assert "x-amz-tagging-count" not in headers


def test_aws_limits_are_enforced(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    with pytest.raises(ClientError) as too_many:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": eleven})
    assert code(too_many) == "BadRequest" and status(too_many) == 400
    with pytest.raises(ClientError) as reserved:
        s3.put_object_tagging(
            Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "aws:x", "Value": "v"}]}
        )
    assert code(reserved) == "InvalidTag"
    with pytest.raises(ClientError) as header:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", Tagging="a=1&a=2")
    assert code(header) == "InvalidArgument"
    with pytest.raises(ClientError) as missing:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert code(missing) == "NoSuchKey"


def test_copy_keeps_or_replaces_tags(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1")
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    assert tags_of(s3, bucket, "kept") == {"a": "1"}
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource={"Bucket": bucket, "Key": "src"},
        TaggingDirective="REPLACE",
        Tagging="b=2",
    )
    assert tags_of(s3, bucket, "replaced") == {"b": "2"}


def test_multipart_tags_reach_the_object(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="stage=raw")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert tags_of(s3, bucket, "mp") == {"stage": "raw"}
    assert (
        "x-nexq-tags"
        not in s3.head_object(Bucket=bucket, Key="mp")["ResponseMetadata"]["HTTPHeaders"]
    )


def test_each_version_has_its_own_tags(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="v=old")["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="v=new")["VersionId"]
    put = s3.put_object_tagging(
        Bucket=bucket, Key="k", VersionId=old, Tagging={"TagSet": [{"Key": "v", "Value": "x"}]}
    )
    assert put["VersionId"] == old
    assert tags_of(s3, bucket, "k", VersionId=old) == {"v": "x"}
    assert tags_of(s3, bucket, "k") == {"v": "new"}
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert {v["VersionId"] for v in listed} == {old, new}  # tagging made no version


def test_a_tagging_without_a_tag_set_is_no_tags(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    """<Tagging/> (what an SDK sends for TagSet=None once it stops checking) removes every
    tag, as AWS takes it."""
    unchecked = server.client(owner, parameter_validation=False)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=b")
    unchecked.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": None})
    assert tags_of(s3, bucket, "k") == {}
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    unchecked.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": None})
    with pytest.raises(ClientError) as none:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(none) == "NoSuchTagSet"


def test_a_bucket_created_with_tags_has_them(s3: Any, bucket: str) -> None:
    """CreateBucketConfiguration's Tags (AWS, 2025): the new bucket's tags, checked as
    PutBucketTagging's; a refused tag leaves no bucket behind."""
    name = f"{bucket}-tagged"
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "cost-centre", "Value": "42"}]
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"Tags": tags})
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == sorted(tags, key=lambda t: t["Key"])
    plain = f"{bucket}-plain"
    s3.create_bucket(Bucket=plain, CreateBucketConfiguration={"Tags": []})
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=plain)
    assert code(exc) == "NoSuchTagSet"
    refused = f"{bucket}-refused"
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(
            Bucket=refused, CreateBucketConfiguration={"Tags": [{"Key": "k" * 129, "Value": "v"}]}
        )
    assert (code(exc), status(exc)) == ("InvalidTag", 400)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=refused)
    assert status(exc) == 404
