"""Object Ownership (Put/Get/DeleteBucketOwnershipControls, CreateBucket's
x-amz-object-ownership) and the ACL documents of buckets that have ACLs: who owns an
object, what GetBucketAcl/GetObjectAcl answer, and S3's refusals (boto3 and aws-cli)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.tools import aws_command, aws_env, run
from tests.live import BURST, Key, LiveServer

_n = itertools.count()
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def error_of(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as exc:
        call()
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def ownership(value: str) -> dict[str, Any]:
    return {"Rules": [{"ObjectOwnership": value}]}


def grants_of(answer: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (g["Grantee"].get("ID") or g["Grantee"].get("URI") or "", g["Permission"])
        for g in answer["Grants"]
    }


@pytest.fixture(scope="module")
def other(server: LiveServer) -> tuple[Key, Any, str]:
    """A second account: its key, its client and its account id (the Owner ID)."""
    email = server.account(f"ownership-other{next(_n)}@example.com")
    server.raise_limits(email, buckets=50, s3_read_rps=BURST, s3_write_rps=BURST)
    key = server.key(email)
    client = server.client(key)
    return key, client, str(client.list_buckets()["Owner"]["ID"])


@pytest.fixture(scope="module")
def owner_id(s3: Any) -> str:
    return str(s3.list_buckets()["Owner"]["ID"])


def test_ownership_controls_put_get_delete(s3: Any, bucket: str) -> None:
    # A new bucket has its Object Ownership stored, BucketOwnerEnforced (as AWS since 2023).
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    for value in ("BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced"):
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=ownership(value))
        rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": value}]
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    again = error_of(lambda: s3.get_bucket_ownership_controls(Bucket=bucket))
    assert again == ("OwnershipControlsNotFoundError", 404)


def test_ownership_controls_refuse_what_s3_refuses(s3: Any, bucket: str) -> None:
    bad = error_of(
        lambda: s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls=ownership("Everyone")
        )
    )
    assert bad == ("MalformedXML", 400)
    two = {"Rules": [{"ObjectOwnership": "ObjectWriter"}, {"ObjectOwnership": "ObjectWriter"}]}
    refused = error_of(
        lambda: s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=two)
    )
    assert refused == ("MalformedXML", 400)
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]  # as it was


def test_acls_cannot_be_disabled_while_the_bucket_acl_grants_others(s3: Any, bucket: str) -> None:
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=ownership("ObjectWriter"))
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    enforce = ownership("BucketOwnerEnforced")
    refused = error_of(
        lambda: s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=enforce)
    )
    assert refused == ("InvalidBucketAclWithObjectOwnership", 400)
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "ObjectWriter"}]
    # Without controls a bucket has ACLs, as on AWS (ObjectWriter): deleting them keeps the
    # grants in force.
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    assert error_of(lambda: s3.get_bucket_ownership_controls(Bucket=bucket))[1] == 404
    assert (ALL_USERS, "READ") in grants_of(s3.get_bucket_acl(Bucket=bucket))
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls=ownership("BucketOwnerEnforced")
    )
    # ACLs disabled again: today's refusals, exactly.
    refused = error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read"))
    assert refused == ("AccessControlListNotSupported", 400)
    assert error_of(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read")) == (
        "AccessControlListNotSupported",
        400,
    )


def test_create_bucket_with_object_ownership_and_an_acl(s3: Any, owner_id: str) -> None:
    name = f"ownership-{next(_n)}"
    # A new bucket blocks public access (AWS's default since 2023): no public ACL at birth.
    public = error_of(
        lambda: s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter", ACL="public-read")
    )
    assert public == ("InvalidBucketAclWithBlockPublicAccessError", 400)
    assert error_of(lambda: s3.head_bucket(Bucket=name))[1] == 404
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter", GrantRead=f"id={owner_id}")
    rules = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "ObjectWriter"}]
    answer = s3.get_bucket_acl(Bucket=name)
    assert answer["Owner"]["ID"] == owner_id
    assert grants_of(answer) == {(owner_id, "READ")}
    # Without the header a bucket has no ACLs: an ACL is refused as before.
    refused = error_of(lambda: s3.create_bucket(Bucket=f"ownership-{next(_n)}", ACL="public-read"))
    assert refused == ("InvalidBucketAclWithObjectOwnership", 400)
    enforced = f"ownership-{next(_n)}"
    asked = error_of(
        lambda: s3.create_bucket(
            Bucket=enforced, ObjectOwnership="BucketOwnerEnforced", ACL="public-read"
        )
    )
    assert asked == ("InvalidBucketAclWithObjectOwnership", 400)
    assert error_of(lambda: s3.head_bucket(Bucket=enforced))[1] == 404


def test_create_bucket_refuses_an_unknown_object_ownership(s3: Any) -> None:
    name = f"ownership-{next(_n)}"

    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-amz-object-ownership"] = "Everyone"

    s3.meta.events.register("before-sign.s3.CreateBucket", add_header)
    try:
        assert error_of(lambda: s3.create_bucket(Bucket=name)) == ("InvalidArgument", 400)
    finally:
        s3.meta.events.unregister("before-sign.s3.CreateBucket", add_header)
    assert error_of(lambda: s3.head_bucket(Bucket=name))[1] == 404


def test_object_writer_owns_what_it_writes(
    s3: Any, bucket: str, owner_id: str, other: tuple[Key, Any, str]
) -> None:
    _, other_s3, other_id = other
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=ownership("ObjectWriter"))
    s3.put_bucket_acl(
        Bucket=bucket, GrantWrite=f'id="{other_id}"', GrantFullControl=f'id="{owner_id}"'
    )
    other_s3.put_object(Bucket=bucket, Key="theirs", Body=b"written by other")
    answer = other_s3.get_object_acl(Bucket=bucket, Key="theirs")
    assert answer["Owner"]["ID"] == other_id
    assert grants_of(answer) == {(other_id, "FULL_CONTROL")}
    assert other_s3.get_object(Bucket=bucket, Key="theirs")["Body"].read() == b"written by other"
    # Bucket-owner-full-control: the writer still owns it under ObjectWriter.
    other_s3.put_object(Bucket=bucket, Key="shared", Body=b"x", ACL="bucket-owner-full-control")
    shared = s3.get_object_acl(Bucket=bucket, Key="shared")
    assert shared["Owner"]["ID"] == other_id
    assert grants_of(shared) == {(other_id, "FULL_CONTROL"), (owner_id, "FULL_CONTROL")}


def test_bucket_owner_preferred_takes_objects_given_full_control(
    s3: Any, bucket: str, owner_id: str, other: tuple[Key, Any, str]
) -> None:
    _, other_s3, other_id = other
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls=ownership("BucketOwnerPreferred")
    )
    s3.put_bucket_acl(
        Bucket=bucket, GrantWrite=f'id="{other_id}"', GrantFullControl=f'id="{owner_id}"'
    )
    other_s3.put_object(Bucket=bucket, Key="given", Body=b"x", ACL="bucket-owner-full-control")
    assert s3.get_object_acl(Bucket=bucket, Key="given")["Owner"]["ID"] == owner_id
    other_s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
    assert s3.get_object_acl(Bucket=bucket, Key="kept")["Owner"]["ID"] == other_id
    # The writer gave the object away: it reads it no more.
    assert error_of(lambda: other_s3.get_object(Bucket=bucket, Key="given")) == (
        "AccessDenied",
        403,
    )


def test_acl_documents_are_checked_as_s3_checks_them(
    s3: Any, bucket: str, owner_id: str, other: tuple[Key, Any, str]
) -> None:
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=ownership("ObjectWriter"))
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="doc", Body=b"x")
    owner = {"ID": owner_id}

    def put(grants: list[dict[str, Any]], owner: dict[str, str] = owner) -> object:
        policy = {"Owner": owner, "Grants": grants}
        return s3.put_object_acl(Bucket=bucket, Key="doc", AccessControlPolicy=policy)

    no_id = [{"Grantee": {"Type": "CanonicalUser"}, "Permission": "READ"}]
    assert error_of(lambda: put(no_id)) == ("MalformedACLError", 400)
    bad_permission = [{"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "ALL"}]
    assert error_of(lambda: put(bad_permission)) == ("MalformedACLError", 400)
    unknown = [
        {"Grantee": {"Type": "CanonicalUser", "ID": "no-such-account"}, "Permission": "READ"}
    ]
    assert error_of(lambda: put(unknown)) == ("InvalidArgument", 400)
    nobody = [
        {
            "Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "nobody@example.com"},
            "Permission": "READ",
        }
    ]
    assert error_of(lambda: put(nobody)) == ("UnresolvableGrantByEmailAddress", 400)
    mine = [{"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": "FULL_CONTROL"}]
    assert error_of(lambda: put(mine, {"ID": other[2]})) == ("AccessDenied", 403)
    both = error_of(
        lambda: s3.put_object_acl(
            Bucket=bucket, Key="doc", ACL="public-read", GrantRead=f'id="{owner_id}"'
        )
    )
    assert both == ("InvalidRequest", 400)
    bad_header = error_of(lambda: s3.put_object_acl(Bucket=bucket, Key="doc", GrantRead="nobody"))
    assert bad_header == ("InvalidArgument", 400)
    assert grants_of(s3.get_object_acl(Bucket=bucket, Key="doc")) == {(owner_id, "FULL_CONTROL")}
    # A well-formed document is stored and answered as sent.
    put([*mine, {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}])
    assert grants_of(s3.get_object_acl(Bucket=bucket, Key="doc")) == {
        (owner_id, "FULL_CONTROL"),
        (ALL_USERS, "READ"),
    }


def test_aws_cli_sets_ownership_and_an_object_acl(
    server: LiveServer, owner: Key, s3: Any, bucket: str, owner_id: str, tmp_path: Path
) -> None:
    env = aws_env(tmp_path, owner)

    def s3api(*args: str) -> Any:
        done = run([*aws_command(), "--endpoint-url", server.endpoint, "s3api", *args], env)
        return json.loads(done.stdout) if done.stdout.strip() else None

    s3api(
        "put-bucket-ownership-controls",
        "--bucket",
        bucket,
        "--ownership-controls",
        "Rules=[{ObjectOwnership=BucketOwnerPreferred}]",
    )
    answer = s3api("get-bucket-ownership-controls", "--bucket", bucket, "--output", "json")
    assert answer["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    s3api("delete-public-access-block", "--bucket", bucket)
    s3.put_object(Bucket=bucket, Key="cli", Body=b"x")
    s3api("put-object-acl", "--bucket", bucket, "--key", "cli", "--acl", "public-read")
    acl = s3api("get-object-acl", "--bucket", bucket, "--key", "cli", "--output", "json")
    assert {
        (g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"]) for g in acl["Grants"]
    } == {
        (owner_id, "FULL_CONTROL"),
        (ALL_USERS, "READ"),
    }
