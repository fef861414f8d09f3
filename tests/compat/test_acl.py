"""ACL headers on writes: every bucket is S3's "bucket owner enforced" (ACLs disabled, AWS's
default since April 2023), so an ACL other than the owner's full control is refused with
S3's error and nothing is stored; ``private`` and ``bucket-owner-full-control`` still work."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.live import Key, LiveServer

_n = itertools.count()
PUBLIC = ("public-read", "public-read-write", "authenticated-read", "aws-exec-read")
ALL_USERS = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'
NOT_SUPPORTED = ("AccessControlListNotSupported", 400)


def error_of(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as exc:
        call()
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def absent(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return bool(exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404)
    return False


@pytest.fixture(scope="module")
def box(s3: Any) -> str:
    """One bucket for the module: refused writes leave nothing in it."""
    s3.create_bucket(Bucket="acl-box")
    s3.put_object(Bucket="acl-box", Key="source", Body=b"source")
    return "acl-box"


@pytest.fixture(scope="module")
def owner_id(s3: Any, box: str) -> str:
    return str(s3.get_bucket_acl(Bucket=box)["Owner"]["ID"])


def key() -> str:
    return f"k{next(_n)}"


@pytest.mark.parametrize("acl", [*PUBLIC, "bucket-owner-read", "not-a-canned-acl"])
def test_put_object_with_a_public_acl_is_refused(s3: Any, box: str, acl: str) -> None:
    name = key()
    assert error_of(lambda: s3.put_object(Bucket=box, Key=name, Body=b"v", ACL=acl)) == (
        NOT_SUPPORTED
    )
    assert absent(s3, box, name)


@pytest.mark.parametrize(
    "grant",
    [
        {"GrantRead": ALL_USERS},
        {"GrantReadACP": ALL_USERS},
        {"GrantWriteACP": 'id="someone-else"'},
        {"GrantFullControl": 'emailAddress="someone@example.com"'},
    ],
)
def test_put_object_with_grants_is_refused(s3: Any, box: str, grant: dict[str, str]) -> None:
    name = key()
    assert error_of(lambda: s3.put_object(Bucket=box, Key=name, Body=b"v", **grant)) == (
        NOT_SUPPORTED
    )
    assert absent(s3, box, name)


def test_grant_write_header_on_an_object_is_refused(s3: Any, box: str) -> None:
    """boto3 has no GrantWrite for PutObject (S3 has no such object permission): sent raw."""
    name = key()

    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-amz-grant-write"] = ALL_USERS

    s3.meta.events.register("before-sign.s3.PutObject", add_header)
    try:
        assert error_of(lambda: s3.put_object(Bucket=box, Key=name, Body=b"v")) == NOT_SUPPORTED
    finally:
        s3.meta.events.unregister("before-sign.s3.PutObject", add_header)
    assert absent(s3, box, name)


@pytest.mark.parametrize("acl", ["private", "bucket-owner-full-control"])
def test_owner_only_acls_are_accepted(s3: Any, box: str, owner_id: str, acl: str) -> None:
    name = key()
    s3.put_object(Bucket=box, Key=name, Body=b"kept", ACL=acl)
    assert s3.get_object(Bucket=box, Key=name)["Body"].read() == b"kept"
    copied = key()
    s3.copy_object(Bucket=box, Key=copied, CopySource=f"{box}/{name}", ACL=acl)
    assert s3.get_object(Bucket=box, Key=copied)["Body"].read() == b"kept"
    upload = s3.create_multipart_upload(Bucket=box, Key=key(), ACL=acl)
    s3.abort_multipart_upload(Bucket=box, Key=upload["Key"], UploadId=upload["UploadId"])
    s3.put_object_acl(Bucket=box, Key=name, ACL=acl)
    s3.put_bucket_acl(Bucket=box, ACL=acl)
    grant = {"GrantFullControl": f'id="{owner_id}"'}  # the owner's full control, as a grant
    s3.put_object(Bucket=box, Key=name, Body=b"again", **grant)
    assert s3.get_object(Bucket=box, Key=name)["Body"].read() == b"again"
    # GetObjectAcl still answers the owner's FULL_CONTROL, whatever was asked.
    grants = s3.get_object_acl(Bucket=box, Key=name)["Grants"]
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in grants] == [(owner_id, "FULL_CONTROL")]


@pytest.mark.parametrize("acl", ["public-read", "authenticated-read"])
def test_copy_object_with_a_public_acl_is_refused(s3: Any, box: str, acl: str) -> None:
    name = key()
    for asked in ({"ACL": acl}, {"GrantRead": ALL_USERS}):

        def copy(asked: dict[str, str] = asked) -> object:
            return s3.copy_object(Bucket=box, Key=name, CopySource=f"{box}/source", **asked)

        assert error_of(copy) == NOT_SUPPORTED
        assert absent(s3, box, name)


def test_multipart_upload_with_a_public_acl_is_refused(s3: Any, box: str) -> None:
    name = key()
    for asked in ({"ACL": "public-read"}, {"GrantFullControl": ALL_USERS}):

        def create(asked: dict[str, str] = asked) -> object:
            return s3.create_multipart_upload(Bucket=box, Key=name, **asked)

        assert error_of(create) == NOT_SUPPORTED
    assert s3.list_multipart_uploads(Bucket=box, Prefix=name).get("Uploads", []) == []


@pytest.mark.parametrize("acl", ["public-read", "public-read-write", "authenticated-read"])
def test_create_bucket_with_a_public_acl_is_refused(s3: Any, acl: str) -> None:
    name = f"acl-bucket-{next(_n)}"
    refused = error_of(lambda: s3.create_bucket(Bucket=name, ACL=acl))
    assert refused == ("InvalidBucketAclWithObjectOwnership", 400)
    assert error_of(lambda: s3.head_bucket(Bucket=name)) == ("404", 404)


@pytest.mark.parametrize(
    "grant", ["GrantRead", "GrantWrite", "GrantReadACP", "GrantWriteACP", "GrantFullControl"]
)
def test_create_bucket_with_grants_is_refused(s3: Any, grant: str) -> None:
    name = f"acl-bucket-{next(_n)}"
    refused = error_of(lambda: s3.create_bucket(Bucket=name, **{grant: ALL_USERS}))
    assert refused == ("InvalidBucketAclWithObjectOwnership", 400)
    assert error_of(lambda: s3.head_bucket(Bucket=name)) == ("404", 404)


@pytest.mark.parametrize("acl", ["private", "bucket-owner-full-control"])
def test_create_bucket_with_an_owner_only_acl(s3: Any, acl: str) -> None:
    name = f"acl-bucket-{next(_n)}"
    s3.create_bucket(Bucket=name, ACL=acl)
    s3.head_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)


def test_acl_calls_refuse_public_acls_as_aws_does(s3: Any, box: str) -> None:
    s3.put_object(Bucket=box, Key="acl-target", Body=b"v")
    for call in (
        lambda: s3.put_object_acl(Bucket=box, Key="acl-target", ACL="public-read"),
        lambda: s3.put_object_acl(Bucket=box, Key="acl-target", GrantRead=ALL_USERS),
        lambda: s3.put_bucket_acl(Bucket=box, ACL="public-read-write"),
        lambda: s3.put_bucket_acl(Bucket=box, GrantWrite=ALL_USERS),
    ):
        assert error_of(call) == NOT_SUPPORTED


def _form(server: LiveServer, owner: Key, box: str, name: str, acl: str) -> dict[str, Any]:
    post: dict[str, Any] = server.client(owner).generate_presigned_post(
        box, name, Fields={"acl": acl}, Conditions=[{"acl": acl}], ExpiresIn=600
    )
    return post


@pytest.mark.parametrize("acl", ["public-read", "public-read-write", "authenticated-read"])
def test_post_object_with_a_public_acl_field_is_refused(
    server: LiveServer, owner: Key, s3: Any, box: str, acl: str
) -> None:
    name = key()
    post = _form(server, owner, box, name, acl)
    answer = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"form data")})
    assert answer.status_code == 400, answer.text
    assert "<Code>AccessControlListNotSupported</Code>" in answer.text
    assert "<Message>The bucket does not allow ACLs</Message>" in answer.text
    assert absent(s3, box, name)


@pytest.mark.parametrize("acl", ["private", "bucket-owner-full-control"])
def test_post_object_with_an_owner_only_acl_field(
    server: LiveServer, owner: Key, s3: Any, box: str, acl: str
) -> None:
    name = key()
    post = _form(server, owner, box, name, acl)
    answer = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"form data")})
    assert answer.status_code == 204, answer.text
    assert s3.get_object(Bucket=box, Key=name)["Body"].read() == b"form data"


def test_refusal_comes_after_authentication(server: LiveServer, owner: Key, box: str) -> None:
    """A bad signature is refused as such, whatever ACL the request asks for."""
    forged = server.client(Key(owner.access_key_id, "x" * 40, owner.account))
    assert error_of(
        lambda: forged.put_object(Bucket=box, Key=key(), Body=b"v", ACL="public-read")
    ) == ("SignatureDoesNotMatch", 403)
