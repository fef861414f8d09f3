"""A bucket's configuration documents (policy, CORS, lifecycle, tags) with boto3."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.live import Key


def test_a_policy_is_kept_verbatim_and_judged(s3: Any, bucket: str, owner: Key) -> None:
    with pytest.raises(ClientError) as none:
        s3.get_bucket_policy(Bucket=bucket)
    assert code(none) == "NoSuchBucketPolicy" and status(none) == 404
    s3.delete_public_access_block(Bucket=bucket)  # a new bucket refuses public policies
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/public/*",
                }
            ],
        },
        indent=1,
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == text
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as gone:
        s3.get_bucket_policy(Bucket=bucket)
    assert code(gone) == "NoSuchBucketPolicy"


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("not json", "Policies must be valid JSON and the first byte must be '{'"),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::another-bucket/*",
                    }
                ]
            },
            "Policy has invalid resource",
        ),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "no-such-account"},
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::BUCKET/*",
                    }
                ]
            },
            "Invalid principal in policy",
        ),
    ],
)
def test_a_malformed_policy_is_refused_naming_why(
    s3: Any, bucket: str, policy: Any, message: str
) -> None:
    text = policy if isinstance(policy, str) else json.dumps(policy).replace("BUCKET", bucket)
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert code(refused) == "MalformedPolicy" and status(refused) == 400
    assert message in refused.value.response["Error"]["Message"]


def test_cors_rules_round_trip(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as none:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(none) == "NoSuchCORSConfiguration"
    rules = [
        {
            "ID": "web",
            "AllowedOrigins": ["https://*.example.com"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        }
    ]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == rules
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_cors(
            Bucket=bucket,
            CORSConfiguration={
                "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]
            },
        )
    assert status(refused) == 400
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_lifecycle_rules_round_trip(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as none:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(none) == "NoSuchLifecycleConfiguration"
    rules = [
        {
            "ID": "logs",
            "Filter": {"Prefix": "logs/"},
            "Status": "Enabled",
            "Expiration": {"Days": 30},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
        }
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert got[0]["ID"] == "logs" and got[0]["Expiration"] == {"Days": 30}
    assert got[0]["Filter"] == {"Prefix": "logs/"}
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {"ID": "bad", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 0}}
                ]
            },
        )
    assert status(refused) == 400
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_bucket_tags_round_trip_with_aws_limits(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as none:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(none) == "NoSuchTagSet"
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "cost-centre", "Value": "42"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]})
    assert code(refused) == "InvalidTag"
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)
    # As AWS: an empty TagSet removes the bucket's tags (none left to answer).
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})
    with pytest.raises(ClientError) as emptied:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(emptied) == "NoSuchTagSet"


def test_documents_go_with_their_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket="settings-reused")
    s3.put_bucket_tagging(
        Bucket="settings-reused", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}
    )
    s3.delete_bucket(Bucket="settings-reused")
    s3.create_bucket(Bucket="settings-reused")
    with pytest.raises(ClientError) as fresh:
        s3.get_bucket_tagging(Bucket="settings-reused")
    assert code(fresh) == "NoSuchTagSet"


def test_a_document_for_a_missing_bucket_is_no_such_bucket_first(s3: Any) -> None:
    """As AWS: the bucket is looked up before its document is read, so a malformed document
    for a bucket that is not there is NoSuchBucket, not an error about the document."""
    gone = "settings-never-made"
    calls = [
        (s3.put_bucket_encryption, {"ServerSideEncryptionConfiguration": {"Rules": []}}),
        (s3.put_bucket_versioning, {"VersioningConfiguration": {}}),
        (s3.put_object_lock_configuration, {"ObjectLockConfiguration": {}}),
        (s3.put_bucket_ownership_controls, {"OwnershipControls": {"Rules": []}}),
        (s3.put_bucket_cors, {"CORSConfiguration": {"CORSRules": []}}),
        (
            s3.put_bucket_tagging,
            {"Tagging": {"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}},
        ),
        (s3.put_bucket_website, {"WebsiteConfiguration": {}}),
    ]
    for call, document in calls:
        with pytest.raises(ClientError) as refused:
            call(Bucket=gone, **document)
        assert (code(refused), status(refused)) == ("NoSuchBucket", 404), call
        assert refused.value.response["Error"]["BucketName"] == gone
