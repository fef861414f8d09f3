"""Object Ownership and ACLs (nexq.storage.acl, nexq.storage.access_control) on the in-memory
stores: canned ACLs, who a grant lets in, the owner of a new object, what is stored."""

from __future__ import annotations

import pytest

from nexq.storage import acl
from nexq.storage.access_control import AccessControl
from nexq.storage.acl import AclRequest, Grant, Grantee, Ownership
from nexq.storage.errors import AccessDenied
from nexq.storage.public_access import SETTING as PUBLIC_ACCESS
from nexq.storage.public_access import PublicAccessBlock
from tests.unit.storage.conftest import Storage

A, B = "acc-a", "acc-b"


@pytest.fixture
def access(storage: Storage) -> AccessControl:
    return AccessControl(storage.store, storage.objects)


def test_canned_acls_as_s3_lists_them() -> None:
    full = acl.account(A)
    assert acl.canned_grants("private", A, A, on_bucket=False) == (full,)
    # Groups first, then the owner, as s3-tests read them back by position.
    assert acl.canned_grants("public-read-write", A, A, on_bucket=True) == (
        acl.group(acl.ALL_USERS, acl.READ),
        acl.group(acl.ALL_USERS, acl.WRITE),
        full,
    )
    assert acl.canned_grants("bucket-owner-read", B, A, on_bucket=False) == (
        acl.account(B),
        acl.account(A, acl.READ),
    )
    # The bucket's own owner wrote it: one grant, not two.
    assert acl.canned_grants("bucket-owner-full-control", A, A, on_bucket=False) == (full,)
    assert acl.canned_grants("bucket-owner-full-control", A, A, on_bucket=True) == (full,)
    assert acl.group(acl.LOG_DELIVERY, acl.WRITE) in acl.canned_grants(
        "log-delivery-write", A, A, on_bucket=True
    )
    for refused, on_bucket in (("log-delivery-write", False), ("aws-exec-read", True), ("", True)):
        with pytest.raises(acl.InvalidGrant):
            acl.canned_grants(refused, A, A, on_bucket)


def test_who_a_grant_lets_in() -> None:
    grants = (
        acl.account(A),
        acl.account(B, acl.READ),
        acl.group(acl.AUTHENTICATED_USERS, acl.READ_ACP),
        acl.group(acl.ALL_USERS, acl.WRITE),
    )
    assert acl.permits(grants, A, acl.WRITE_ACP, ignore_public=False)  # FULL_CONTROL
    assert acl.permits(grants, B, acl.READ, ignore_public=False)
    assert not acl.permits(grants, B, acl.WRITE_ACP, ignore_public=False)
    assert acl.permits(grants, "acc-c", acl.READ_ACP, ignore_public=False)  # any signed caller
    assert not acl.permits(grants, "", acl.READ_ACP, ignore_public=False)  # not anonymous
    assert acl.permits(grants, "", acl.WRITE, ignore_public=False)  # AllUsers: anyone
    assert not acl.permits(grants, "", acl.WRITE, ignore_public=True)
    assert acl.permits(grants, B, acl.READ, ignore_public=True)  # an account is not public
    assert acl.is_public(grants) and not acl.is_public(grants[:2])
    assert acl.owner_only((), A) and acl.owner_only((acl.account(A),), A)
    assert not acl.owner_only(grants, A)


def test_grants_keep_their_stored_form() -> None:
    grants = (acl.account(A), acl.group(acl.ALL_USERS, acl.READ))
    assert acl.from_json(acl.to_json(grants)) == grants
    assert acl.stored_grants(None, A) == acl.private(A)


def test_a_new_object_is_owned_by_its_writer_or_the_bucket_owner(
    storage: Storage, access: AccessControl
) -> None:
    owner, writer = storage.caller(A), storage.caller(B)
    bucket = storage.bucket(owner, "owned")
    asked = AclRequest("bucket-owner-full-control")
    preferred = access.new_object_headers(writer, bucket, Ownership.BUCKET_OWNER_PREFERRED, asked)
    assert preferred == {}  # the bucket owner's, private: nothing to store
    written = access.new_object_headers(writer, bucket, Ownership.OBJECT_WRITER, asked)
    assert written[acl.OWNER_HEADER] == B
    assert acl.from_json(written[acl.ACL_HEADER]) == (acl.account(B), acl.account(A))
    own = access.new_object_headers(owner, bucket, Ownership.OBJECT_WRITER, AclRequest())
    assert own == {}


def test_grants_name_existing_accounts_and_emails_become_ids(
    storage: Storage, access: AccessControl
) -> None:
    owner = storage.caller(A)
    storage.bucket(owner, "named")
    access.set_ownership_controls(owner, "named", Ownership.OBJECT_WRITER)
    storage.next_request()
    by_email = Grant(Grantee("email", "ACC-B@example.com"), acl.READ)
    access.set_bucket_acl(owner, "named", AclRequest(None, (by_email,)))
    storage.next_request()
    view = access.bucket_acl(owner, "named")
    assert view.grants == (acl.account(B, acl.READ),)
    with pytest.raises(acl.InvalidGrant) as unknown:
        access.set_bucket_acl(owner, "named", AclRequest(None, (acl.account("nobody"),)))
    assert (unknown.value.name, unknown.value.value) == ("CanonicalUser/ID", "nobody")
    nobody = Grant(Grantee("email", "nobody@example.com"), acl.READ)
    with pytest.raises(acl.UnresolvableEmail):
        access.set_bucket_acl(owner, "named", AclRequest(None, (nobody,)))
    with pytest.raises(AccessDenied):  # the document names another owner
        access.set_bucket_acl(owner, "named", AclRequest(None, (), B))


def test_acls_are_disabled_only_once_the_bucket_acl_is_private(
    storage: Storage, access: AccessControl
) -> None:
    owner = storage.caller(A)
    storage.bucket(owner, "shared")
    assert access.ownership_controls(owner, "shared") is Ownership.BUCKET_OWNER_ENFORCED
    access.set_ownership_controls(owner, "shared", None)
    with pytest.raises(acl.OwnershipControlsNotFound):
        access.ownership_controls(owner, "shared")
    storage.next_request()
    # Without controls the bucket has ACLs, as on AWS (ObjectWriter).
    shared = storage.objects.bucket(owner, "shared")
    assert access.ownership(shared) is Ownership.OBJECT_WRITER
    access.set_ownership_controls(owner, "shared", Ownership.BUCKET_OWNER_PREFERRED)
    storage.objects.set_bucket_document(owner, "shared", PUBLIC_ACCESS, None)
    storage.next_request()
    access.set_bucket_acl(owner, "shared", AclRequest("authenticated-read"))
    storage.next_request()
    with pytest.raises(acl.AclWithEnforcedOwnership):
        access.set_ownership_controls(owner, "shared", Ownership.BUCKET_OWNER_ENFORCED)
    access.set_ownership_controls(owner, "shared", None)  # ACLs stay: nothing refused
    access.set_bucket_acl(owner, "shared", AclRequest("private"))
    storage.next_request()
    access.set_ownership_controls(owner, "shared", Ownership.BUCKET_OWNER_ENFORCED)
    storage.next_request()
    assert access.ownership(storage.objects.bucket(owner, "shared")) is (
        Ownership.BUCKET_OWNER_ENFORCED
    )


def test_an_object_acl_is_set_per_version_and_public_ones_can_be_blocked(
    storage: Storage, access: AccessControl
) -> None:
    owner = storage.caller(A)
    bucket = storage.bucket(owner, "versions")
    storage.objects.set_versioning(owner, "versions", "Enabled")
    access.set_ownership_controls(owner, "versions", Ownership.OBJECT_WRITER)
    # A new bucket blocks public ACLs (AWS's default since 2023): allowed here, then blocked.
    assert PublicAccessBlock.parse(
        storage.objects.directory.setting(bucket, PUBLIC_ACCESS)
    ).block_public_acls
    storage.objects.set_bucket_document(owner, "versions", PUBLIC_ACCESS, None)
    storage.next_request()
    first = storage.put(owner, "versions", "k", b"1").version_id
    second = storage.put(owner, "versions", "k", b"2").version_id
    access.set_object_acl(owner, "versions", "k", first, AclRequest("public-read"))
    older = access.stored_object_grants(bucket, "k", first)
    assert older is not None and acl.is_public(older[1])
    latest = access.stored_object_grants(bucket, "k", None)
    assert latest == (A, acl.private(A))
    assert access.object_acl(owner, "versions", "k", second).grants == acl.private(A)
    storage.objects.set_bucket_document(
        owner, "versions", PUBLIC_ACCESS, PublicAccessBlock(block_public_acls=True).to_json()
    )
    storage.next_request()
    with pytest.raises(AccessDenied):
        access.set_object_acl(owner, "versions", "k", second, AclRequest("public-read"))
    with pytest.raises(AccessDenied):
        access.new_object_headers(
            owner, bucket, Ownership.OBJECT_WRITER, AclRequest("public-read-write")
        )
    assert access.stored_object_grants(bucket, "k", second) == (A, acl.private(A))
    assert access.stored_object_grants(bucket, "missing", None) is None
    assert access.stored_object_grants(bucket, "k", "not-an-id") is None
