"""S3's access control lists and Object Ownership, as a model: grants, canned ACLs, who a
grant lets in. No HTTP here; the S3 protocol reads and writes them (``s3/acl_*.py``).

A grantee is a Nexq account (by its id, the Owner ID that ListBuckets shows; an email
address is resolved to that id before anything is stored) or one of S3's groups. A bucket's
ACL is its ``acl`` setting; an object version's ACL rides in its stored headers
(:data:`ACL_HEADER`), with its owner (:data:`OWNER_HEADER`) when that is not the bucket's
owner. Absent means private: the owner's FULL_CONTROL and nothing else.
"""

from __future__ import annotations

import enum
import functools
import json
from dataclasses import dataclass

from nexq.core.errors import Invalid, NotFound

SETTING = "acl"  # the bucket setting holding the bucket's grants (JSON)
OWNERSHIP_SETTING = "ownershipControls"  # the bucket setting holding its Object Ownership
# Stored with an object version, never answered ("x-nexq-" headers are Nexq's own).
ACL_HEADER = "x-nexq-acl"
OWNER_HEADER = "x-nexq-owner"
STORED_HEADERS = (ACL_HEADER, OWNER_HEADER)

READ = "READ"
WRITE = "WRITE"
READ_ACP = "READ_ACP"
WRITE_ACP = "WRITE_ACP"
FULL_CONTROL = "FULL_CONTROL"
PERMISSIONS = (READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL)

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
PUBLIC_GROUPS = (ALL_USERS, AUTHENTICATED_USERS)

CANNED = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
)


class Ownership(enum.Enum):
    """A bucket's Object Ownership (S3's OwnershipControls rule)."""

    BUCKET_OWNER_ENFORCED = "BucketOwnerEnforced"
    BUCKET_OWNER_PREFERRED = "BucketOwnerPreferred"
    OBJECT_WRITER = "ObjectWriter"

    @classmethod
    def stored(cls, text: str | None) -> Ownership:
        """The setting as stored; none (the bucket's controls deleted) is ObjectWriter, as on
        AWS. New buckets store BucketOwnerEnforced (AWS's default since 2023)."""
        return cls(text) if text else cls.OBJECT_WRITER


# Errors (each docstring is S3's message) ----------------------------------------------------
class AclWithEnforcedOwnership(Invalid):
    """Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"""


class OwnershipControlsNotFound(NotFound):
    """The bucket ownership controls were not found"""


class UnresolvableEmail(Invalid):
    """The e-mail address you provided does not match any account on record."""


class InvalidGrant(Invalid):
    """A grant S3 answers with InvalidArgument, naming the argument at fault."""

    def __init__(self, message: str, name: str, value: str) -> None:
        super().__init__(message)
        self.name = name
        self.value = value


# Grants -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Grantee:
    """Who a grant is for: ``id`` (an account id), ``email`` (before it is resolved) or
    ``uri`` (a group)."""

    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class Grant:
    grantee: Grantee
    permission: str


@dataclass(frozen=True, slots=True)
class AclRequest:
    """The ACL a request asks for: a canned ACL, or grants (from ``x-amz-grant-*`` headers or
    an AccessControlPolicy document, whose Owner ID is ``owner``). Nothing asked is private."""

    canned: str | None = None
    grants: tuple[Grant, ...] = ()
    owner: str | None = None

    @property
    def empty(self) -> bool:
        return self.canned is None and not self.grants


def account(account_id: str, permission: str = FULL_CONTROL) -> Grant:
    return Grant(Grantee("id", account_id), permission)


def group(uri: str, permission: str) -> Grant:
    return Grant(Grantee("uri", uri), permission)


def private(owner: str) -> tuple[Grant, ...]:
    return (account(owner),)


def canned_grants(name: str, owner: str, bucket_owner: str, on_bucket: bool) -> tuple[Grant, ...]:
    """The grants of a canned ACL for a resource owned by ``owner`` in a bucket owned by
    ``bucket_owner`` (S3's table of canned ACLs)."""
    if name not in CANNED or (name == "log-delivery-write" and not on_bucket):
        raise InvalidGrant("Invalid canned ACL", "x-amz-acl", name)
    # S3 compat: a canned ACL's groups are listed before the owner's full control (what
    # s3-tests read back by position), then the bucket owner's grant of bucket-owner-*.
    grants: list[Grant] = []
    if name in ("public-read", "public-read-write"):
        grants.append(group(ALL_USERS, READ))
    if name == "public-read-write":
        grants.append(group(ALL_USERS, WRITE))
    if name == "authenticated-read":
        grants.append(group(AUTHENTICATED_USERS, READ))
    if name == "log-delivery-write":
        grants += [group(LOG_DELIVERY, WRITE), group(LOG_DELIVERY, READ_ACP)]
    grants.append(account(owner))
    # S3 compat: on a bucket, the bucket-owner-* ACLs are the owner's full control alone.
    if not on_bucket and bucket_owner != owner:
        if name == "bucket-owner-read":
            grants.append(account(bucket_owner, READ))
        if name == "bucket-owner-full-control":
            grants.append(account(bucket_owner))
    return tuple(grants)


def is_public(grants: tuple[Grant, ...]) -> bool:
    """Whether the grants give anything to everyone or to every signed caller."""
    return any(g.grantee.kind == "uri" and g.grantee.value in PUBLIC_GROUPS for g in grants)


def owner_only(grants: tuple[Grant, ...], owner: str) -> bool:
    """Whether the grants are the owner's full control (at most) and nothing for anyone
    else: the only ACL a bucket without ACLs (BucketOwnerEnforced) may have."""
    return all(g == account(owner) for g in grants)


def permits(grants: tuple[Grant, ...], caller: str, permission: str, ignore_public: bool) -> bool:
    """Whether ``grants`` give ``permission`` to the caller whose account id is ``caller``
    (``""``: anonymous). ``ignore_public`` is Block Public Access's IgnorePublicAcls."""
    for grant in grants:
        if grant.permission not in (permission, FULL_CONTROL):
            continue
        kind, value = grant.grantee.kind, grant.grantee.value
        if kind == "id" and caller and value == caller:
            return True
        public = value == ALL_USERS or (value == AUTHENTICATED_USERS and bool(caller))
        if kind == "uri" and public and not ignore_public:
            return True
    return False


# Stored form ------------------------------------------------------------------------------
def to_json(grants: tuple[Grant, ...]) -> str:
    """Compact JSON: ``[[kind, value, permission], ...]``."""
    return json.dumps(
        [[g.grantee.kind, g.grantee.value, g.permission] for g in grants], separators=(",", ":")
    )


@functools.lru_cache(maxsize=4096)
def from_json(text: str) -> tuple[Grant, ...]:
    return tuple(
        Grant(Grantee(kind, value), permission) for kind, value, permission in json.loads(text)
    )


def stored_grants(text: str | None, owner: str) -> tuple[Grant, ...]:
    """The grants as stored; none stored is private."""
    return from_json(text) if text else private(owner)
