"""Bucket policies on live requests: anonymous readers, other accounts, deny over allow,
conditions and Block Public Access (boto3 and unsigned HTTP)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.live import BURST, Key, LiveServer

_names = itertools.count()


def policy(bucket: str, *statements: dict[str, Any]) -> str:
    for statement in statements:
        statement.setdefault("Resource", f"arn:aws:s3:::{bucket}/*")
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def account_id(s3: Any) -> str:
    return str(s3.list_buckets()["Owner"]["ID"])


@pytest.fixture(scope="module")
def other(server: LiveServer) -> tuple[Key, Any]:
    """A second account, with an All Buckets key and its client."""
    email = server.account(f"other{next(_names)}@example.com")
    server.raise_limits(email, s3_read_rps=BURST, s3_write_rps=BURST)
    key = server.key(email)
    return key, server.client(key)


def unsigned(server: LiveServer, bucket: str, key: str = "", method: str = "GET") -> httpx.Response:
    return httpx.request(method, f"{server.endpoint}/{bucket}/{key}", timeout=10)


def test_anonymous_readers_get_only_what_a_policy_opens(
    s3: Any, bucket: str, server: LiveServer
) -> None:
    s3.put_object(Bucket=bucket, Key="public/page.html", Body=b"<h1>hi</h1>")
    s3.put_object(Bucket=bucket, Key="private/secret", Body=b"s")
    assert unsigned(server, bucket, "public/page.html").status_code == 403  # no policy yet
    s3.delete_public_access_block(Bucket=bucket)  # a new bucket refuses public policies
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/public/*",
            },
        ),
    )
    page = unsigned(server, bucket, "public/page.html")
    assert page.status_code == 200 and page.content == b"<h1>hi</h1>"
    refused = unsigned(server, bucket, "private/secret")
    assert refused.status_code == 403 and b"<Code>AccessDenied</Code>" in refused.content
    assert unsigned(server, bucket).status_code == 403  # listing was not opened
    assert unsigned(server, bucket, "public/page.html", "DELETE").status_code == 403
    assert s3.get_object(Bucket=bucket, Key="public/page.html")["Body"].read()  # still there
    missing = unsigned(server, "no-such-bucket-here", "x")
    assert missing.status_code == 404 and b"NoSuchBucket" in missing.content
    # As AWS: a missing key is 403 to who may get objects but not list the bucket, 404 once
    # s3:ListBucket is allowed too (the owner always learns it).
    hidden = unsigned(server, bucket, "public/gone.html")
    assert hidden.status_code == 403 and b"<Code>AccessDenied</Code>" in hidden.content
    assert unsigned(server, bucket, "public/gone.html", "HEAD").status_code == 403
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/public/*",
            },
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ),
    )
    told = unsigned(server, bucket, "public/gone.html")
    assert told.status_code == 404 and b"<Code>NoSuchKey</Code>" in told.content
    assert unsigned(server, bucket, "public/page.html").status_code == 200
    assert httpx.get(f"{server.endpoint}/", timeout=10).status_code == 403  # ListBuckets


def test_another_account_reads_what_it_is_granted(
    s3: Any, bucket: str, server: LiveServer, other: tuple[Key, Any]
) -> None:
    other_key, other_s3 = other
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"for you")
    with pytest.raises(ClientError) as before:
        other_s3.get_object(Bucket=bucket, Key="shared.txt")
    assert code(before) == "AccessDenied"
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": {"AWS": account_id(other_s3)},
                "Action": ["s3:GetObject"],
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id(other_s3)}:root"},
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ),
    )
    assert other_s3.get_object(Bucket=bucket, Key="shared.txt")["Body"].read() == b"for you"
    listed = other_s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["shared.txt"]
    with pytest.raises(ClientError) as write:
        other_s3.put_object(Bucket=bucket, Key="intruder", Body=b"x")
    assert code(write) == "AccessDenied"
    # A key of the other account limited to its own buckets stays limited.
    other_s3.create_bucket(Bucket=f"{bucket}-own")
    limited = server.client(server.key(other_key.account, buckets=[f"{bucket}-own"]))
    with pytest.raises(ClientError) as narrow:
        limited.get_object(Bucket=bucket, Key="shared.txt")
    assert code(narrow) == "AccessDenied"


def test_an_explicit_deny_binds_the_owner_but_never_locks_the_policy(s3: Any, bucket: str) -> None:
    s3.delete_public_access_block(Bucket=bucket)  # the policy opens the bucket to anyone
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject"},
        ),
    )
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket=bucket, Key="keep")
    assert code(denied) == "AccessDenied" and status(denied) == 403
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"x"
    s3.delete_bucket_policy(Bucket=bucket)  # the owner can always remove it
    s3.delete_object(Bucket=bucket, Key="keep")


def test_conditions_decide_on_the_request(s3: Any, bucket: str, server: LiveServer) -> None:
    s3.put_object(Bucket=bucket, Key="doc", Body=b"x")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            },
        ),
    )
    assert unsigned(server, bucket, "doc").status_code == 403  # we come from 127.0.0.1
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Condition": {
                    "IpAddress": {"aws:SourceIp": "127.0.0.0/8"},
                    "StringLike": {"aws:UserAgent": "curl/*"},
                },
            },
        ),
    )
    url = f"{server.endpoint}/{bucket}/doc"
    assert httpx.get(url, headers={"user-agent": "curl/8.0"}, timeout=10).status_code == 200
    assert httpx.get(url, headers={"user-agent": "wget"}, timeout=10).status_code == 403


def test_conditions_on_tags_copies_and_grants(s3: Any, bucket: str, other: tuple[Key, Any]) -> None:
    """s3:ExistingObjectTag/<key> (the object's own tags), s3:RequestObjectTag/<key> (the
    x-amz-tagging header's), s3:x-amz-copy-source, s3:x-amz-metadata-directive and
    s3:x-amz-grant-* decide for another account as AWS's policy language says."""
    _, other_s3 = other
    other_id = account_id(other_s3)
    principal = {"AWS": f"arn:aws:iam::{other_id}:root"}
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_object(Bucket=bucket, Key="public", Body=b"p", Tagging="security=public")
    s3.put_object(Bucket=bucket, Key="private", Body=b"q", Tagging="security=private")
    s3.put_object(Bucket=bucket, Key="src/public/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="src/private/b", Body=b"b")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": principal,
                "Action": ["s3:GetObject", "s3:GetObjectTagging"],
                "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "public"}},
            },
            {
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/tagged/*",
                "Condition": {"StringEquals": {"s3:RequestObjectTag/team": "web"}},
            },
            {
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/src/*",
            },
            {
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/copies/*",
                "Condition": {
                    "StringLike": {"s3:x-amz-copy-source": f"{bucket}/src/public/*"},
                    "StringEquals": {"s3:x-amz-metadata-directive": "COPY"},
                },
            },
            {
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/granted/*",
                "Condition": {
                    "StringEquals": {"s3:x-amz-grant-full-control": f"id={account_id(s3)}"}
                },
            },
        ),
    )

    def refused(call: Any) -> str:
        with pytest.raises(ClientError) as caught:
            call()
        return code(caught)

    assert other_s3.get_object(Bucket=bucket, Key="public")["Body"].read() == b"p"
    assert other_s3.get_object_tagging(Bucket=bucket, Key="public")["TagSet"]
    assert refused(lambda: other_s3.get_object(Bucket=bucket, Key="private")) == "AccessDenied"
    other_s3.put_object(Bucket=bucket, Key="tagged/1", Body=b"t", Tagging="team=web")
    assert (
        refused(
            lambda: other_s3.put_object(Bucket=bucket, Key="tagged/2", Body=b"t", Tagging="team=db")
        )
        == "AccessDenied"
    )
    assert refused(lambda: other_s3.put_object(Bucket=bucket, Key="tagged/3", Body=b"t")) == (
        "AccessDenied"
    )
    source = {"Bucket": bucket, "Key": "src/public/a"}
    other_s3.copy_object(Bucket=bucket, Key="copies/a", CopySource=source, MetadataDirective="COPY")
    assert (
        refused(
            lambda: other_s3.copy_object(
                Bucket=bucket, Key="copies/b", CopySource={"Bucket": bucket, "Key": "src/private/b"}
            )
        )
        == "AccessDenied"
    )
    assert (
        refused(
            lambda: other_s3.copy_object(
                Bucket=bucket, Key="copies/c", CopySource=source, MetadataDirective="REPLACE"
            )
        )
        == "AccessDenied"
    )
    other_s3.put_object(
        Bucket=bucket, Key="granted/1", Body=b"g", GrantFullControl=f"id={account_id(s3)}"
    )
    assert refused(lambda: other_s3.put_object(Bucket=bucket, Key="granted/2", Body=b"g")) == (
        "AccessDenied"
    )


def test_a_copy_needs_read_on_its_source_even_in_the_bucket_it_writes(
    s3: Any, bucket: str, other: tuple[Key, Any]
) -> None:
    """A policy that lets another account write a prefix is no right to copy the bucket's
    other objects there (it would own, and read, the copies)."""
    _, other_s3 = other
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_object(Bucket=bucket, Key="private/secret", Body=b"mine")
    s3.put_object(Bucket=bucket, Key="shared/note", Body=b"yours")
    writer = {"AWS": f"arn:aws:iam::{account_id(other_s3)}:root"}
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": writer,
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/drop/*",
            },
            {
                "Effect": "Allow",
                "Principal": writer,
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/shared/*",
            },
        ),
    )
    with pytest.raises(ClientError) as refused:
        other_s3.copy_object(
            Bucket=bucket, Key="drop/stolen", CopySource={"Bucket": bucket, "Key": "private/secret"}
        )
    assert code(refused) == "AccessDenied"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="drop/")
    other_s3.copy_object(
        Bucket=bucket, Key="drop/note", CopySource={"Bucket": bucket, "Key": "shared/note"}
    )
    assert s3.get_object(Bucket=bucket, Key="drop/note")["Body"].read() == b"yours"


def test_block_public_access(s3: Any, bucket: str, server: LiveServer) -> None:
    # A new bucket blocks public access, all four switches on (AWS's default since 2023).
    default = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert default == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    s3.put_object(Bucket=bucket, Key="doc", Body=b"x")
    public = policy(bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"})
    with pytest.raises(ClientError) as blocked_at_birth:
        s3.put_bucket_policy(Bucket=bucket, Policy=public)
    assert code(blocked_at_birth) == "AccessDenied"
    s3.delete_public_access_block(Bucket=bucket)
    with pytest.raises(ClientError) as none:
        s3.get_public_access_block(Bucket=bucket)
    assert code(none) == "NoSuchPublicAccessBlockConfiguration"
    s3.put_bucket_policy(Bucket=bucket, Policy=public)
    assert unsigned(server, bucket, "doc").status_code == 200
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got["RestrictPublicBuckets"] is True and got["BlockPublicAcls"] is False
    assert unsigned(server, bucket, "doc").status_code == 403  # restricted to the owner
    with pytest.raises(ClientError) as blocked:
        s3.put_bucket_policy(Bucket=bucket, Policy=public)
    assert code(blocked) == "AccessDenied"
    s3.delete_public_access_block(Bucket=bucket)
    assert unsigned(server, bucket, "doc").status_code == 200


def test_a_listing_by_another_account_shows_the_bucket_owner_s_id_not_its_email(
    s3: Any, bucket: str, other: tuple[Key, Any]
) -> None:
    _, theirs = other
    s3.put_object(Bucket=bucket, Key="shared/a", Body=b"a")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            bucket,
            {
                "Effect": "Allow",
                "Principal": {"AWS": account_id(theirs)},
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ),
    )
    mine = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"][0]["Owner"]
    assert mine == {"ID": account_id(s3)}  # no DisplayName, as AWS since November 2025
    for listed in (
        theirs.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"][0]["Owner"],
        theirs.list_objects(Bucket=bucket)["Contents"][0]["Owner"],
        theirs.list_object_versions(Bucket=bucket)["Versions"][0]["Owner"],
    ):
        assert listed == {"ID": account_id(s3)}  # the owner's id, never its email
