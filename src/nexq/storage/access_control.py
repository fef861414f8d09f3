"""Object Ownership and ACLs: the use cases (the model is nexq.storage.acl).

A bucket with Object Ownership BucketOwnerEnforced (every bucket that never set another)
has no ACLs: reading one answers the owner's full control, and what a request may still ask
for is decided by the S3 layer exactly as before ACLs existed. The other two settings keep
and answer ACLs, which open buckets and objects to other accounts and to everyone
(``s3/acl_grants.py`` applies them to each request).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nexq.core.identity import Principal
from nexq.storage import acl
from nexq.storage.acl import AclRequest, Grant, Grantee, Ownership
from nexq.storage.conditions import Conditions
from nexq.storage.directory import Directory
from nexq.storage.errors import AccessDenied, InvalidArgument
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import Bucket, ObjectMeta
from nexq.storage.public_access import SETTING as PUBLIC_ACCESS
from nexq.storage.public_access import PublicAccessBlock
from nexq.storage.service import ObjectStorage
from nexq.storage.tagging import TAGGING_SETTING
from nexq.storage.versions import parse_version_id


@dataclass(frozen=True, slots=True)
class AclView:
    """An ACL as GetBucketAcl / GetObjectAcl answer it: the owner and each grant. S3 compat:
    accounts by id alone, as AWS has answered since November 2025 (no DisplayName), so an
    ACL shows nobody's email."""

    owner: str
    grants: tuple[Grant, ...]


class AccessControl:
    """Ownership controls and ACLs of buckets and objects, as seen by one caller."""

    def __init__(self, store: MetadataStore, objects: ObjectStorage) -> None:
        self._store = store
        self._objects = objects

    @property
    def directory(self) -> Directory:
        """The cached buckets and their settings, which authorization reads."""
        return self._objects.directory

    # Object Ownership ---------------------------------------------------------------------
    def ownership(self, bucket: Bucket) -> Ownership:
        """The bucket's Object Ownership (cached with the bucket's other settings)."""
        text = self._objects.directory.setting(bucket, acl.OWNERSHIP_SETTING)
        return Ownership.stored(text)

    def ownership_of(self, caller: Principal, bucket_name: str) -> tuple[Bucket, Ownership]:
        bucket = self._objects.bucket(caller, bucket_name)
        return bucket, self.ownership(bucket)

    def ownership_controls(self, caller: Principal, bucket_name: str) -> Ownership:
        """The stored setting; OwnershipControlsNotFound when the bucket has none."""
        text = self._objects.bucket_document(caller, bucket_name, acl.OWNERSHIP_SETTING)
        if text is None:
            raise acl.OwnershipControlsNotFound()
        return Ownership(text)

    def set_ownership_controls(
        self, caller: Principal, bucket_name: str, ownership: Ownership | None
    ) -> None:
        """Set (or with None remove: the bucket then has ACLs, as ObjectWriter) the bucket's
        Object Ownership. Disabling ACLs is refused while the bucket's ACL grants anyone but
        its owner anything (as AWS: move those grants to a policy first)."""
        bucket = self._objects.bucket(caller, bucket_name)
        if ownership is Ownership.BUCKET_OWNER_ENFORCED:
            grants = self._bucket_grants(bucket)
            if not acl.owner_only(grants, bucket.account_id):
                raise acl.AclWithEnforcedOwnership()
        value = None if ownership is None else ownership.value
        self._objects.set_bucket_document(caller, bucket_name, acl.OWNERSHIP_SETTING, value)

    # Buckets ------------------------------------------------------------------------------
    def new_bucket_grants(self, caller: Principal, request: AclRequest) -> tuple[Grant, ...] | None:
        """The grants CreateBucket's ACL headers ask for, checked before the bucket exists
        (None: private)."""
        owner = caller.account.id
        grants = self._resolved(request, owner, owner, on_bucket=True)
        return None if acl.owner_only(grants, owner) else grants

    def settle_new_bucket(
        self,
        bucket: Bucket,
        ownership: Ownership | None,
        grants: tuple[Grant, ...] | None,
        tags: str | None = None,
    ) -> None:
        """Store what CreateBucket asked for besides ``bucket``, which it just made (``tags``:
        its tag set's JSON, already checked)."""
        if tags is not None:
            self._store.set_bucket_setting(bucket.id, TAGGING_SETTING, tags)
        if ownership is not None:
            self._store.set_bucket_setting(bucket.id, acl.OWNERSHIP_SETTING, ownership.value)
        if grants is not None:
            self._store.set_bucket_setting(bucket.id, acl.SETTING, acl.to_json(grants))

    def bucket_acl(self, caller: Principal, bucket_name: str) -> AclView:
        bucket = self._objects.bucket(caller, bucket_name)
        if self.ownership(bucket) is Ownership.BUCKET_OWNER_ENFORCED:
            grants = acl.private(bucket.account_id)
        else:
            grants = self._bucket_grants(bucket)
        return self._view(bucket.account_id, grants)

    def set_bucket_acl(self, caller: Principal, bucket_name: str, request: AclRequest) -> None:
        """PutBucketAcl on a bucket that has ACLs (ObjectWriter or BucketOwnerPreferred)."""
        bucket = self._objects.bucket(caller, bucket_name)
        owner = bucket.account_id
        self._check_owner(request, owner)
        grants = self._resolved(request, owner, owner, on_bucket=True)
        self._check_public(bucket, grants)
        text = None if grants and acl.owner_only(grants, owner) else acl.to_json(grants)
        self._objects.set_bucket_document(caller, bucket_name, acl.SETTING, text)

    def _bucket_grants(self, bucket: Bucket) -> tuple[Grant, ...]:
        return acl.stored_grants(
            self._objects.directory.setting(bucket, acl.SETTING), bucket.account_id
        )

    # Objects ------------------------------------------------------------------------------
    def new_object_headers(
        self, caller: Principal, bucket: Bucket, ownership: Ownership, request: AclRequest
    ) -> dict[str, str]:
        """The stored headers that give a new object (PutObject, CopyObject, a multipart
        upload, PostObject) its owner and the ACL its request asked for."""
        writer = caller.account.id or bucket.account_id
        owner = writer
        if ownership is Ownership.BUCKET_OWNER_PREFERRED and (
            request.canned == "bucket-owner-full-control"
        ):
            owner = bucket.account_id
        grants = self._resolved(request, owner, bucket.account_id, on_bucket=False)
        self._check_public(bucket, grants)
        headers = {}
        if owner != bucket.account_id:
            headers[acl.OWNER_HEADER] = owner
        if not acl.owner_only(grants, owner):
            headers[acl.ACL_HEADER] = acl.to_json(grants)
        return headers

    def object_acl(
        self, caller: Principal, bucket_name: str, key: str, version: str | None
    ) -> AclView:
        meta = self._objects.head_object(caller, bucket_name, key, Conditions(), version)
        bucket = self._objects.bucket(caller, bucket_name)
        if self.ownership(bucket) is Ownership.BUCKET_OWNER_ENFORCED:
            return self._view(bucket.account_id, acl.private(bucket.account_id))
        owner, grants = object_grants(meta, bucket)
        return self._view(owner, grants)

    def set_object_acl(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        version: str | None,
        request: AclRequest,
    ) -> ObjectMeta:
        """PutObjectAcl on an object of a bucket that has ACLs: replaces that version's ACL
        in place (other versions keep theirs)."""
        bucket = self._objects.bucket(caller, bucket_name)
        block = self._block(bucket)

        def amend(meta: ObjectMeta) -> ObjectMeta:
            owner, _ = object_grants(meta, bucket)
            self._check_owner(request, owner)
            grants = self._resolved(request, owner, bucket.account_id, on_bucket=False)
            if block.block_public_acls and acl.is_public(grants):
                raise _public_refused()
            headers = {k: v for k, v in meta.headers.items() if k != acl.ACL_HEADER}
            if not grants or not acl.owner_only(grants, owner):
                headers[acl.ACL_HEADER] = acl.to_json(grants)
            return replace(meta, headers=headers)

        return self._objects.amend_version(caller, bucket_name, key, version, amend)

    def stored_object_grants(
        self, bucket: Bucket, key: str, version: str | None
    ) -> tuple[str, tuple[Grant, ...]] | None:
        """The owner and grants of an object version, read without asking who may: what an
        authorization decides from. None when there is no such object (or version)."""
        meta = self._stored_version(bucket, key, version)
        return None if meta is None else object_grants(meta, bucket)

    def stored_object_tags(
        self, bucket: Bucket, key: str, version: str | None
    ) -> tuple[tuple[str, str], ...] | None:
        """The tags of an object version, read without asking who may (a bucket policy's
        ``s3:ExistingObjectTag/<key>``). None when there is no such object (or version)."""
        meta = self._stored_version(bucket, key, version)
        return None if meta is None else meta.tags

    def _stored_version(self, bucket: Bucket, key: str, version: str | None) -> ObjectMeta | None:
        if version is None:
            meta = self._store.get_object(bucket.id, key)
        else:
            try:
                vid = parse_version_id(version)
            except InvalidArgument:  # opens nothing; the handler answers the id's error
                return None
            meta = self._store.get_version(bucket.id, key, vid)
        return None if meta is None or meta.delete_marker else meta

    # Shared -------------------------------------------------------------------------------
    def _resolved(
        self, request: AclRequest, owner: str, bucket_owner: str, on_bucket: bool
    ) -> tuple[Grant, ...]:
        """The grants of a request, with every account it names checked and every email
        resolved to its account's id."""
        if request.canned is not None:
            return acl.canned_grants(request.canned, owner, bucket_owner, on_bucket)
        if not request.grants:
            # S3 compat: a policy document without grants takes every grant away (the
            # owner's too, as GetBucketAcl then lists); no ACL asked at all is private.
            return () if request.owner is not None else acl.private(owner)
        grants = []
        for grant in request.grants:
            grantee = grant.grantee
            if grantee.kind == "email":
                found = self._store.find_account(grantee.value)
                if found is None:
                    raise acl.UnresolvableEmail()
                grantee = Grantee("id", found.id)
            elif grantee.kind == "id" and self._store.get_account(grantee.value) is None:
                raise acl.InvalidGrant("Invalid id", "CanonicalUser/ID", grantee.value)
            elif grantee.kind == "uri" and grantee.value not in acl.GROUPS:
                raise acl.InvalidGrant("Invalid group uri", "Group/URI", grantee.value)
            resolved = Grant(grantee, grant.permission)
            if resolved not in grants:
                grants.append(resolved)
        return tuple(grants)

    def _check_owner(self, request: AclRequest, owner: str) -> None:
        # S3 compat: an AccessControlPolicy cannot give the resource away to another owner.
        if request.owner is not None and request.owner != owner:
            raise AccessDenied()

    def _block(self, bucket: Bucket) -> PublicAccessBlock:
        return PublicAccessBlock.parse(self._objects.directory.setting(bucket, PUBLIC_ACCESS))

    def _check_public(self, bucket: Bucket, grants: tuple[Grant, ...]) -> None:
        """Block Public Access's BlockPublicAcls: a public ACL is refused, nothing stored."""
        if acl.is_public(grants) and self._block(bucket).block_public_acls:
            raise _public_refused()

    def _view(self, owner: str, grants: tuple[Grant, ...]) -> AclView:
        return AclView(owner, grants)


def object_grants(meta: ObjectMeta, bucket: Bucket) -> tuple[str, tuple[Grant, ...]]:
    """An object version's owner and grants, from its stored headers."""
    owner = meta.headers.get(acl.OWNER_HEADER, bucket.account_id)
    return owner, acl.stored_grants(meta.headers.get(acl.ACL_HEADER), owner)


def _public_refused() -> AccessDenied:
    return AccessDenied(
        "Access Denied: the bucket's Block Public Access settings refuse a public ACL"
    )
