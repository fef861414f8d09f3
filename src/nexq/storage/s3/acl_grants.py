"""ACLs on the request path: what a bucket's or an object's grants open to a caller who is
not the bucket's owner, as a bucket policy's Allow does (``Principal.granted``).

The rules, as AWS evaluates ACLs beside a bucket policy:
- the policy is applied first, so its explicit Deny has already refused the request;
- a bucket with Object Ownership BucketOwnerEnforced (the default) has no ACLs: nothing to
  read, nothing opened, and the bucket's owner never gets here at all (its hot path reads
  no ACL);
- a bucket grant opens the bucket-wide operations: READ the listings and HeadBucket,
  WRITE the writes and deletes of objects (multipart uploads included), READ_ACP and
  WRITE_ACP the bucket's ACL; an object grant opens that object: READ GetObject and
  HeadObject, READ_ACP and WRITE_ACP its ACL; FULL_CONTROL all of them. A copy needs READ
  on its source object besides WRITE on its target bucket;
- AllUsers is anyone, anonymous callers included; AuthenticatedUsers any signed caller;
  Block Public Access's IgnorePublicAcls makes both count for nothing;
- an access key limited to some buckets stays limited, whatever an ACL says.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, unquote

from nexq.storage import acl
from nexq.storage.access_control import AccessControl
from nexq.storage.acl import Ownership
from nexq.storage.directory import Credential
from nexq.storage.errors import NoSuchKey
from nexq.storage.model import Bucket
from nexq.storage.public_access import SETTING as PUBLIC_ACCESS_BLOCK
from nexq.storage.public_access import PublicAccessBlock
from nexq.storage.s3.http import S3Request
from nexq.storage.s3.operations import Operation

_O = Operation
# What a bucket grant must give for each operation it can open.
BUCKET_PERMISSIONS: dict[Operation, str] = {
    _O.LIST_OBJECTS: acl.READ,
    _O.LIST_OBJECTS_V2: acl.READ,
    _O.LIST_OBJECT_VERSIONS: acl.READ,
    _O.LIST_MULTIPART_UPLOADS: acl.READ,
    _O.HEAD_BUCKET: acl.READ,
    _O.PUT_OBJECT: acl.WRITE,
    _O.POST_OBJECT: acl.WRITE,
    _O.COPY_OBJECT: acl.WRITE,
    _O.CREATE_MULTIPART_UPLOAD: acl.WRITE,
    _O.UPLOAD_PART: acl.WRITE,
    _O.UPLOAD_PART_COPY: acl.WRITE,
    _O.COMPLETE_MULTIPART_UPLOAD: acl.WRITE,
    _O.ABORT_MULTIPART_UPLOAD: acl.WRITE,
    _O.LIST_PARTS: acl.WRITE,
    _O.DELETE_OBJECT: acl.WRITE,
    _O.DELETE_OBJECTS: acl.WRITE,
    _O.GET_BUCKET_ACL: acl.READ_ACP,
    _O.PUT_BUCKET_ACL: acl.WRITE_ACP,
}
# What an object grant must give for each operation it can open.
OBJECT_PERMISSIONS: dict[Operation, str] = {
    _O.GET_OBJECT: acl.READ,
    _O.HEAD_OBJECT: acl.READ,
    _O.GET_OBJECT_ACL: acl.READ_ACP,
    _O.PUT_OBJECT_ACL: acl.WRITE_ACP,
}
_COPIES = (_O.COPY_OBJECT, _O.UPLOAD_PART_COPY)


class AclGrants:
    """Applies the ACLs of the bucket a request names (and of its copy source)."""

    def __init__(self, access: AccessControl) -> None:
        self._access = access

    def authorize(self, req: S3Request, credential: Credential) -> Credential:
        """The credential the request goes ahead with: unchanged, or its principal opened to
        the buckets whose ACLs (or whose object's) grant this request."""
        if req.bucket is None or req.operation not in _ALL:
            return credential
        principal = credential.principal
        if principal.reaches is not None and credential.account.id:
            return credential  # a key limited to some buckets stays limited
        directory = self._access.directory
        bucket = directory.bucket(req.bucket)
        if bucket is None or bucket.account_id == credential.account.id:
            return credential
        if bucket.id in principal.granted:
            return credential  # the policy opened it already
        source = _copy_source(req) if req.operation in _COPIES else None
        if not self._permits(req, credential, bucket):
            return credential
        granted = {bucket.id}
        if source is not None:
            src = directory.bucket(source[0])
            readable = src is not None and (
                src.account_id == credential.account.id
                or src.id in principal.granted
                or self._object_permits(credential, src, source[1], source[2], acl.READ)
            )
            if not readable:
                if src is not None and src.id == bucket.id:
                    return credential  # writing a bucket is no right to read its objects
            elif src is not None:
                granted.add(src.id)
        opened = dataclasses.replace(principal, granted=principal.granted | granted)
        return dataclasses.replace(credential, principal=opened)

    def _permits(self, req: S3Request, credential: Credential, bucket: Bucket) -> bool:
        bucket_permission = BUCKET_PERMISSIONS.get(req.operation)
        if bucket_permission is not None:
            return self._bucket_permits(credential, bucket, bucket_permission)
        permission = OBJECT_PERMISSIONS[req.operation]
        version = req.query.get("versionId")
        key = req.key or ""
        if self._object_permits(credential, bucket, key, version, permission):
            return True
        if (
            permission == acl.READ
            and version is None
            and self._bucket_permits(credential, bucket, acl.READ)
            and self._access.stored_object_grants(bucket, key, None) is None
        ):
            # AWS: a caller who may list the bucket learns that a key is missing (404);
            # anyone else gets 403, which tells nothing.
            raise NoSuchKey()
        return False

    def _bucket_permits(self, credential: Credential, bucket: Bucket, permission: str) -> bool:
        if not self._enabled(bucket):
            return False
        grants = acl.stored_grants(
            self._access.directory.setting(bucket, acl.SETTING), bucket.account_id
        )
        return acl.permits(grants, credential.account.id, permission, self._ignore_public(bucket))

    def _object_permits(
        self,
        credential: Credential,
        bucket: Bucket,
        key: str,
        version: str | None,
        permission: str,
    ) -> bool:
        if not key or not self._enabled(bucket):
            return False
        found = self._access.stored_object_grants(bucket, key, version)
        if found is None:
            return False  # nothing to grant: the owner's answer (404) is not for others
        owner, grants = found
        if owner == credential.account.id and permission in (acl.READ_ACP, acl.WRITE_ACP):
            return True  # S3 compat: an object's owner may always read and change its ACL
        return acl.permits(grants, credential.account.id, permission, self._ignore_public(bucket))

    def _enabled(self, bucket: Bucket) -> bool:
        return self._access.ownership(bucket) is not Ownership.BUCKET_OWNER_ENFORCED

    def _ignore_public(self, bucket: Bucket) -> bool:
        text = self._access.directory.setting(bucket, PUBLIC_ACCESS_BLOCK)
        return PublicAccessBlock.parse(text).ignore_public_acls


_ALL = frozenset(BUCKET_PERMISSIONS) | frozenset(OBJECT_PERMISSIONS)


def _copy_source(req: S3Request) -> tuple[str, str, str | None] | None:
    raw = req.headers.get("x-amz-copy-source", "")
    path, _, query = raw.partition("?")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        return None
    version = parse_qs(query).get("versionId") if query else None
    return bucket, key, version[0] if version else None
