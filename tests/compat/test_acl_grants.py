"""What ACLs open, on live requests: anonymous callers, another account, grants by id and by
email, AuthenticatedUsers, Block Public Access, a policy's Deny, limited keys, versions,
copies, multipart uploads and form uploads (boto3 and unsigned HTTP)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.live import BURST, Key, LiveServer

_n = itertools.count()


@pytest.fixture(scope="module")
def other(server: LiveServer) -> tuple[Key, Any, str]:
    """A second account: its All Buckets key, its client and its account id."""
    email = server.account(f"grants-other{next(_n)}@example.com")
    server.raise_limits(email, buckets=50, s3_read_rps=BURST, s3_write_rps=BURST)
    key = server.key(email)
    client = server.client(key)
    return key, client, str(client.list_buckets()["Owner"]["ID"])


@pytest.fixture
def acls(s3: Any, bucket: str) -> str:
    """A bucket of the owner's with ACLs enabled (Object Ownership ObjectWriter) and public
    ones allowed (no Block Public Access, which a new bucket has)."""
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.delete_public_access_block(Bucket=bucket)
    return bucket


def unsigned(server: LiveServer, path: str, method: str = "GET") -> int:
    return httpx.request(method, f"{server.endpoint}/{path}", timeout=10).status_code


def reads(client: Any, bucket: str, key: str, **extra: str) -> bool:
    """Whether ``client`` may GET the object (False on AccessDenied)."""
    try:
        client.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
        return False
    return True


def code(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    return str(exc.value.response["Error"]["Code"])


def test_a_public_read_object_is_open_to_everyone_a_private_one_not(
    s3: Any, acls: str, server: LiveServer, other: tuple[Key, Any, str]
) -> None:
    _, other_s3, _ = other
    s3.put_object(Bucket=acls, Key="open", Body=b"for all", ACL="public-read")
    s3.put_object(Bucket=acls, Key="closed", Body=b"mine")
    assert unsigned(server, f"{acls}/open") == 200
    assert unsigned(server, f"{acls}/open", "HEAD") == 200
    assert unsigned(server, f"{acls}/closed") == 403
    assert reads(other_s3, acls, "open") and not reads(other_s3, acls, "closed")
    # An object grant opens that object only: no listing, no overwrite, no delete.
    assert unsigned(server, acls) == 403
    assert unsigned(server, f"{acls}/open", "DELETE") == 403
    assert code(lambda: other_s3.put_object(Bucket=acls, Key="open", Body=b"x")) == "AccessDenied"
    assert s3.get_object(Bucket=acls, Key="open")["Body"].read() == b"for all"


def test_a_public_read_bucket_lists_anonymously(s3: Any, acls: str, server: LiveServer) -> None:
    s3.put_object(Bucket=acls, Key="listed", Body=b"x")
    assert unsigned(server, acls) == 403
    s3.put_bucket_acl(Bucket=acls, ACL="public-read")
    listing = httpx.get(f"{server.endpoint}/{acls}?list-type=2&fetch-owner=true", timeout=10)
    assert listing.status_code == 200 and b"<Key>listed</Key>" in listing.content
    assert b"<Owner>" not in listing.content  # as AWS: no owner to an anonymous caller
    assert unsigned(server, acls, "HEAD") == 200
    assert unsigned(server, f"{acls}/listed") == 403  # the object's own ACL is private
    # As AWS: who may list the bucket learns that a key is missing; others get 403.
    assert unsigned(server, f"{acls}/missing") == 404
    assert unsigned(server, f"{acls}/missing", "HEAD") == 404
    assert unsigned(server, f"{acls}/new", "PUT") == 403  # READ is no WRITE
    s3.put_bucket_acl(Bucket=acls, ACL="public-read-write")
    assert unsigned(server, f"{acls}/new", "PUT") == 200
    s3.put_bucket_acl(Bucket=acls, ACL="private")
    assert unsigned(server, acls) == 403
    assert unsigned(server, f"{acls}/missing") == 403


def test_a_grant_by_account_id_works_until_private_revokes_it(
    s3: Any, acls: str, other: tuple[Key, Any, str]
) -> None:
    _, other_s3, other_id = other
    s3.put_object(Bucket=acls, Key="shared", Body=b"for you")
    assert not reads(other_s3, acls, "shared")
    s3.put_object_acl(Bucket=acls, Key="shared", GrantRead=f'id="{other_id}"')
    assert reads(other_s3, acls, "shared")
    assert code(lambda: other_s3.get_object_acl(Bucket=acls, Key="shared")) == "AccessDenied"
    s3.put_object_acl(Bucket=acls, Key="shared", ACL="private")
    assert not reads(other_s3, acls, "shared")
    # Bucket grants, by id: WRITE lets the other account put and delete objects.
    s3.put_bucket_acl(Bucket=acls, GrantWrite=f'id="{other_id}"')
    other_s3.put_object(Bucket=acls, Key="dropped", Body=b"x")
    other_s3.delete_object(Bucket=acls, Key="dropped")
    assert code(lambda: other_s3.list_objects_v2(Bucket=acls)) == "AccessDenied"
    # A policy document without grants takes every grant away, and reads back empty (as
    # AWS); the owner keeps its rights (docs/s3-compatibility.md, "ACLs").
    owner = s3.get_bucket_acl(Bucket=acls)["Owner"]
    s3.put_bucket_acl(Bucket=acls, AccessControlPolicy={"Owner": owner, "Grants": []})
    assert s3.get_bucket_acl(Bucket=acls).get("Grants", []) == []
    assert code(lambda: other_s3.put_object(Bucket=acls, Key="no", Body=b"x")) == "AccessDenied"
    s3.put_object_acl(Bucket=acls, Key="shared", AccessControlPolicy={"Owner": owner, "Grants": []})
    assert s3.get_object_acl(Bucket=acls, Key="shared").get("Grants", []) == []
    assert s3.get_object(Bucket=acls, Key="shared")["Body"].read() == b"for you"
    # A canned ACL lists its groups before the owner's full control.
    s3.put_bucket_acl(Bucket=acls, ACL="public-read")
    grants = s3.get_bucket_acl(Bucket=acls)["Grants"]
    assert [g["Permission"] for g in grants] == ["READ", "FULL_CONTROL"]
    assert grants[0]["Grantee"]["Type"] == "Group"


def test_a_grant_by_email_names_the_account(
    s3: Any, acls: str, other: tuple[Key, Any, str]
) -> None:
    other_key, other_s3, other_id = other
    s3.put_object(Bucket=acls, Key="mailed", Body=b"x")
    s3.put_object_acl(
        Bucket=acls, Key="mailed", GrantRead=f'emailAddress="{other_key.account.upper()}"'
    )
    # As S3: grant headers are the whole ACL (the owner keeps its rights as owner).
    grants = s3.get_object_acl(Bucket=acls, Key="mailed")["Grants"]
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in grants] == [(other_id, "READ")]
    assert reads(other_s3, acls, "mailed")


def test_authenticated_users_are_signed_callers_only(
    s3: Any, acls: str, server: LiveServer, other: tuple[Key, Any, str]
) -> None:
    s3.put_object(Bucket=acls, Key="members", Body=b"x", ACL="authenticated-read")
    assert reads(other[1], acls, "members")
    assert unsigned(server, f"{acls}/members") == 403


def test_block_public_acls_refuses_public_acls(s3: Any, acls: str) -> None:
    s3.put_public_access_block(
        Bucket=acls, PublicAccessBlockConfiguration={"BlockPublicAcls": True}
    )
    refused = code(lambda: s3.put_object(Bucket=acls, Key="p", Body=b"x", ACL="public-read"))
    assert refused == "AccessDenied"
    assert code(lambda: s3.head_object(Bucket=acls, Key="p")) == "404"
    s3.put_object(Bucket=acls, Key="p", Body=b"x")
    all_users = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'
    for call in (
        lambda: s3.put_object_acl(Bucket=acls, Key="p", ACL="authenticated-read"),
        lambda: s3.put_object_acl(Bucket=acls, Key="p", GrantRead=all_users),
        lambda: s3.put_bucket_acl(Bucket=acls, ACL="public-read"),
    ):
        assert code(call) == "AccessDenied"
    s3.put_object_acl(Bucket=acls, Key="p", ACL="private")  # a private ACL still goes


def test_ignore_public_acls_makes_public_grants_count_for_nothing(
    s3: Any, acls: str, server: LiveServer, other: tuple[Key, Any, str]
) -> None:
    _, other_s3, other_id = other
    s3.put_object(Bucket=acls, Key="was-public", Body=b"x", ACL="public-read")
    s3.put_object(Bucket=acls, Key="named", Body=b"x", GrantRead=f'id="{other_id}"')
    assert unsigned(server, f"{acls}/was-public") == 200
    s3.put_public_access_block(
        Bucket=acls, PublicAccessBlockConfiguration={"IgnorePublicAcls": True}
    )
    assert unsigned(server, f"{acls}/was-public") == 403
    assert not reads(other_s3, acls, "was-public")
    assert reads(other_s3, acls, "named")  # a grant to an account is not public
    s3.delete_public_access_block(Bucket=acls)
    assert unsigned(server, f"{acls}/was-public") == 200


def test_a_policy_deny_beats_an_acl_grant(s3: Any, acls: str, server: LiveServer) -> None:
    s3.put_object(Bucket=acls, Key="denied", Body=b"x", ACL="public-read")
    assert unsigned(server, f"{acls}/denied") == 200
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{acls}/denied",
    }
    s3.put_bucket_policy(
        Bucket=acls, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    assert unsigned(server, f"{acls}/denied") == 403
    s3.delete_bucket_policy(Bucket=acls)
    assert unsigned(server, f"{acls}/denied") == 200


def test_a_limited_key_stays_limited_whatever_an_acl_grants(
    server: LiveServer, s3: Any, acls: str, other: tuple[Key, Any, str]
) -> None:
    other_key, other_s3, other_id = other
    s3.put_object(Bucket=acls, Key="granted", Body=b"x", GrantRead=f'id="{other_id}"')
    own = f"grants-own-{next(_n)}"
    other_s3.create_bucket(Bucket=own)
    limited = server.client(server.key(other_key.account, buckets=[own]))
    assert reads(other_s3, acls, "granted")
    assert not reads(limited, acls, "granted")


def test_each_version_keeps_its_own_acl(s3: Any, acls: str, server: LiveServer) -> None:
    s3.put_bucket_versioning(Bucket=acls, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=acls, Key="v", Body=b"one", ACL="public-read")["VersionId"]
    second = s3.put_object(Bucket=acls, Key="v", Body=b"two")["VersionId"]
    assert unsigned(server, f"{acls}/v?versionId={first}") == 200
    assert unsigned(server, f"{acls}/v") == 403
    s3.put_object_acl(Bucket=acls, Key="v", VersionId=second, ACL="public-read")
    s3.put_object_acl(Bucket=acls, Key="v", VersionId=first, ACL="private")
    assert unsigned(server, f"{acls}/v") == 200
    assert unsigned(server, f"{acls}/v?versionId={first}") == 403
    older = s3.get_object_acl(Bucket=acls, Key="v", VersionId=first)["Grants"]
    assert [g["Permission"] for g in older] == ["FULL_CONTROL"]


def test_a_copy_gets_the_requests_acl_never_its_sources(
    s3: Any, acls: str, server: LiveServer
) -> None:
    s3.put_object(Bucket=acls, Key="src", Body=b"x", ACL="public-read")
    s3.copy_object(Bucket=acls, Key="plain", CopySource=f"{acls}/src")
    s3.copy_object(Bucket=acls, Key="asked", CopySource=f"{acls}/src", ACL="public-read")
    s3.copy_object(
        Bucket=acls,
        Key="replaced",
        CopySource=f"{acls}/src",
        MetadataDirective="REPLACE",
        ContentType="text/plain",
    )
    assert unsigned(server, f"{acls}/plain") == 403
    assert unsigned(server, f"{acls}/replaced") == 403
    assert unsigned(server, f"{acls}/asked") == 200


def test_a_copy_by_a_bucket_writer_needs_read_on_its_source(
    s3: Any, acls: str, other: tuple[Key, Any, str]
) -> None:
    _, other_s3, other_id = other
    s3.put_bucket_acl(Bucket=acls, GrantWrite=f'id="{other_id}"')
    s3.put_object(Bucket=acls, Key="secret", Body=b"x")
    s3.put_object(Bucket=acls, Key="readable", Body=b"x", GrantRead=f'id="{other_id}"')
    refused = code(
        lambda: other_s3.copy_object(Bucket=acls, Key="leak", CopySource=f"{acls}/secret")
    )
    assert refused == "AccessDenied"
    other_s3.copy_object(Bucket=acls, Key="fine", CopySource=f"{acls}/readable")


def test_a_multipart_upload_gets_its_acl_at_completion(
    s3: Any, acls: str, server: LiveServer
) -> None:
    upload = s3.create_multipart_upload(Bucket=acls, Key="big", ACL="public-read")
    part = s3.upload_part(
        Bucket=acls, Key="big", UploadId=upload["UploadId"], PartNumber=1, Body=b"part"
    )
    assert unsigned(server, f"{acls}/big") == 403  # nothing yet
    s3.complete_multipart_upload(
        Bucket=acls,
        Key="big",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    answer = httpx.get(f"{server.endpoint}/{acls}/big", timeout=10)
    assert answer.status_code == 200 and answer.content == b"part"


def test_uploads_name_who_started_them(s3: Any, acls: str, other: tuple[Key, Any, str]) -> None:
    """ListMultipartUploads and ListParts: each upload's Initiator and Owner (the writer, in
    an ObjectWriter bucket), by id alone: as AWS since November 2025, no DisplayName (an
    account's email here), not even to the account itself."""
    _, other_s3, other_id = other
    s3.put_bucket_acl(Bucket=acls, ACL="public-read-write")
    owner_id = s3.list_buckets()["Owner"]["ID"]
    mine = s3.create_multipart_upload(Bucket=acls, Key="mine")["UploadId"]
    theirs = other_s3.create_multipart_upload(Bucket=acls, Key="theirs")["UploadId"]

    def parties(client: Any) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
        uploads = client.list_multipart_uploads(Bucket=acls)["Uploads"]
        return {u["UploadId"]: (u["Initiator"], u["Owner"]) for u in uploads}

    seen_by_owner, seen_by_other = parties(s3), parties(other_s3)
    owner_named = {"ID": owner_id}
    assert seen_by_owner[mine] == (owner_named, owner_named)
    assert seen_by_owner[theirs] == ({"ID": other_id}, {"ID": other_id})
    other_named = {"ID": other_id}
    assert seen_by_other[theirs] == (other_named, other_named)
    assert seen_by_other[mine] == ({"ID": owner_id}, {"ID": owner_id})
    listed = s3.list_parts(Bucket=acls, Key="theirs", UploadId=theirs)
    assert (listed["Initiator"], listed["Owner"]) == ({"ID": other_id}, {"ID": other_id})


def test_a_form_upload_takes_its_acl_field(server: LiveServer, owner: Key, acls: str) -> None:
    post = server.client(owner).generate_presigned_post(
        acls, "form", Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}]
    )
    sent = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"form data")})
    assert sent.status_code == 204, sent.text
    assert unsigned(server, f"{acls}/form") == 200


def test_buckets_without_acls_ignore_stored_grants(s3: Any, acls: str, server: LiveServer) -> None:
    """Back to BucketOwnerEnforced: what objects' ACLs said opens nothing any more."""
    s3.put_object(Bucket=acls, Key="once-public", Body=b"x", ACL="public-read")
    assert unsigned(server, f"{acls}/once-public") == 200
    s3.put_bucket_ownership_controls(
        Bucket=acls, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    assert unsigned(server, f"{acls}/once-public") == 403
    grants = s3.get_object_acl(Bucket=acls, Key="once-public")["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
