"""DeleteObjects is decided key by key against the bucket policy, as S3 decides it: a Deny
on some keys spares them (the owner's request too) while the rest go, and another account
deletes only the keys the policy allows it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_policies import account_id, policy
from tests.live import Key, LiveServer

_names = itertools.count()


@pytest.fixture(scope="module")
def deleter(server: LiveServer) -> tuple[Key, Any]:
    """A second account, with an All Buckets key and its client."""
    key = server.key(server.account(f"deleter{next(_names)}@example.com"))
    return key, server.client(key)


def _objects(*keys: str) -> dict[str, Any]:
    return {"Objects": [{"Key": key} for key in keys]}


def _left(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_deny_on_some_keys_spares_them_and_the_rest_are_deleted(s3: Any, bucket: str) -> None:
    for key in ("keep/a", "keep/b", "tmp/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{bucket}/keep/*",
            },
        ),
    )
    answer = s3.delete_objects(Bucket=bucket, Delete=_objects("keep/a", "tmp/c", "keep/b"))
    assert [d["Key"] for d in answer["Deleted"]] == ["tmp/c"]
    assert {(e["Key"], e["Code"]) for e in answer["Errors"]} == {
        ("keep/a", "AccessDenied"),
        ("keep/b", "AccessDenied"),
    }
    assert _left(s3, bucket) == ["keep/a", "keep/b"]


def test_another_account_deletes_only_what_the_policy_allows_it(
    s3: Any, bucket: str, deleter: tuple[Key, Any]
) -> None:
    _, theirs = deleter
    for key in ("scratch/1", "scratch/2", "records/3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    with pytest.raises(ClientError) as refused:  # no policy: not their bucket at all
        theirs.delete_objects(Bucket=bucket, Delete=_objects("scratch/1"))
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": {"AWS": account_id(theirs)},
                "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{bucket}/scratch/*",
            },
        ),
    )
    answer = theirs.delete_objects(
        Bucket=bucket, Delete=_objects("scratch/1", "records/3", "scratch/2")
    )
    assert sorted(d["Key"] for d in answer["Deleted"]) == ["scratch/1", "scratch/2"]
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("records/3", "AccessDenied")]
    assert _left(s3, bucket) == ["records/3"]
    # A version id asks for s3:DeleteObjectVersion, which the policy does not allow them:
    # with no key of the request allowed, the request is refused whole.
    s3.put_object(Bucket=bucket, Key="scratch/4", Body=b"x")
    with pytest.raises(ClientError) as versioned:
        theirs.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": "scratch/4", "VersionId": "null"}]}
        )
    assert versioned.value.response["Error"]["Code"] == "AccessDenied"
    assert "scratch/4" in _left(s3, bucket)
