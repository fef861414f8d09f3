"""ACLs on writes: which rule a request's ACL headers meet, by its bucket's Object Ownership.

A bucket with ACLs (ObjectWriter, BucketOwnerPreferred) stores what a write asks for
(``nexq.storage.access_control``). A bucket without (BucketOwnerEnforced: S3's default
since April 2023, and every bucket that never set another) keeps its buckets and objects
private to its account, as below. Reading an ACL answers the owner's FULL_CONTROL; a
request that asks for any other ACL is refused with S3's error, never stored without it:

- PutObject, CopyObject, CreateMultipartUpload, PostObject (the ``acl`` form field),
  PutBucketAcl and PutObjectAcl: 400 ``AccessControlListNotSupported``;
- CreateBucket: 400 ``InvalidBucketAclWithObjectOwnership``.

What such a bucket accepts is what grants the owner full control and nobody anything: no
ACL, the canned ACLs ``private`` and ``bucket-owner-full-control``, a grant header of
FULL_CONTROL to the owner's own id, and an AccessControlPolicy document of the same.
"""

from __future__ import annotations

from collections.abc import Mapping

from nexq.core.identity import Principal
from nexq.storage import acl
from nexq.storage.access_control import AccessControl
from nexq.storage.acl import Grant, Ownership
from nexq.storage.s3.acl_headers import acl_request
from nexq.storage.s3.errors import S3Error, invalid_argument
from nexq.storage.s3.xml import private_policy

OWNER_ONLY_CANNED = ("private", "bucket-owner-full-control")


def owner_only(canned: str | None, grants: Mapping[str, str], owner_id: str) -> bool:
    """Whether a canned ACL and grant headers give the owner full control and nobody else
    anything."""
    if canned is not None and canned.strip() not in OWNER_ONLY_CANNED:
        return False
    for name, value in grants.items():
        if name != "x-amz-grant-full-control" or not _only_the_owner(value, owner_id):
            return False
    return True


def _only_the_owner(grantees: str, owner_id: str) -> bool:
    """``id="<owner>"`` (several times, at most): the grantees of a grant header."""
    for grantee in grantees.split(","):
        kind, _, value = grantee.strip().partition("=")
        if kind.strip().lower() != "id" or value.strip().strip('"') != owner_id:
            return False
    return True


def _grants(headers: Mapping[str, str]) -> dict[str, str]:
    # Any x-amz-grant-* header counts, so that a misspelt permission is refused, not ignored.
    return {name: value for name, value in headers.items() if name.startswith("x-amz-grant-")}


def acl_not_supported() -> S3Error:
    return S3Error("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)


def check_object_acl(headers: Mapping[str, str], owner_id: str) -> None:
    """Refuse the ACL headers of a write (PutObject, CopyObject, CreateMultipartUpload)
    unless they keep the object private."""
    if not owner_only(headers.get("x-amz-acl"), _grants(headers), owner_id):
        raise acl_not_supported()


def check_form_acl(fields: Mapping[str, str], owner_id: str) -> None:
    """Refuse PostObject's ``acl`` form field unless it keeps the object private."""
    lower = {name.lower(): value for name, value in fields.items()}
    if not owner_only(lower.get("acl"), _grants(lower), owner_id):
        raise acl_not_supported()


def check_bucket_acl(headers: Mapping[str, str], owner_id: str) -> None:
    """Refuse CreateBucket's ACL headers unless they keep the bucket private."""
    if not owner_only(headers.get("x-amz-acl"), _grants(headers), owner_id):
        raise S3Error(
            "InvalidBucketAclWithObjectOwnership",
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
            400,
        )


def check_acl_change(headers: Mapping[str, str], body: bytes, owner_id: str) -> None:
    """Refuse PutBucketAcl / PutObjectAcl unless the ACL they set is the private one (a
    canned ACL, grant headers or an AccessControlPolicy document)."""
    if not owner_only(headers.get("x-amz-acl"), _grants(headers), owner_id) or not (
        private_policy(body)
    ):
        raise acl_not_supported()


def new_object_acl(
    caller: Principal,
    headers: Mapping[str, str],
    access: AccessControl,
    bucket_name: str,
    canned_name: str = "x-amz-acl",
) -> dict[str, str]:
    """The stored headers a new object gets from its request's ACL (``canned_name`` is
    ``acl`` in a PostObject form): none in a bucket without ACLs, after today's checks."""
    bucket, ownership = access.ownership_of(caller, bucket_name)
    if ownership is Ownership.BUCKET_OWNER_ENFORCED:
        if canned_name == "acl":
            check_form_acl(headers, caller.account.id)
        else:
            check_object_acl(headers, caller.account.id)
        return {}
    lower = {name.lower(): value for name, value in headers.items()}
    return access.new_object_headers(caller, bucket, ownership, acl_request(lower, canned_name))


OWNERSHIP_HEADER = "x-amz-object-ownership"


def new_bucket_acl(
    caller: Principal, headers: Mapping[str, str], access: AccessControl
) -> tuple[Ownership | None, tuple[Grant, ...] | None]:
    """CreateBucket's ``x-amz-object-ownership`` (None: not given, BucketOwnerEnforced) and
    the grants its ACL headers ask for (None: private), checked before the bucket exists."""
    asked = headers.get(OWNERSHIP_HEADER)
    try:
        ownership = None if asked is None else Ownership(asked.strip())
    except ValueError:
        # S3 compat: AWS names the header, not its value, as ArgumentName alone.
        raise invalid_argument(
            f"Invalid x-amz-object-ownership header: {asked}", OWNERSHIP_HEADER
        ) from None
    if ownership in (None, Ownership.BUCKET_OWNER_ENFORCED):
        check_bucket_acl(headers, caller.account.id)
        return ownership, None
    grants = access.new_bucket_grants(caller, acl_request(headers))
    if grants is not None and acl.is_public(grants):
        # A new bucket blocks public access (as on AWS since 2023): its ACL cannot be public.
        raise S3Error(
            "InvalidBucketAclWithBlockPublicAccessError",
            "Bucket cannot have public ACLs set with BlockPublicAccess enabled",
            400,
        )
    return ownership, grants
