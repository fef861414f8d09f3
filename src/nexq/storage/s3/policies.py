"""Bucket policies on the request path: who, besides the owner, a bucket lets in, and what
it refuses to everyone.

The rules, as AWS evaluates a bucket policy together with ownership:
- an explicit Deny refuses the request, the owner's included (except the owner's own
  Get/Put/DeleteBucketPolicy, so that a policy can never lock its owner out);
- an Allow opens the bucket, for that request, to another account or an anonymous caller
  (``Principal.granted``); an access key limited to some buckets stays limited whatever a
  policy says;
- with no statement that applies, only the owner gets in, as before.
Block Public Access's RestrictPublicBuckets turns off what a public policy grants to
anyone but the owner.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import parse_qsl, unquote

from nexq.storage.directory import Credential, Directory
from nexq.storage.model import Bucket
from nexq.storage.policy import (
    Decision,
    MalformedPolicy,
    Policy,
    RequestContext,
    bucket_arn,
    evaluate,
    is_public,
    object_arn,
    parse_policy,
)
from nexq.storage.public_access import SETTING as PUBLIC_ACCESS_BLOCK
from nexq.storage.public_access import PublicAccessBlock
from nexq.storage.s3.errors import access_denied
from nexq.storage.s3.http import S3Request
from nexq.storage.s3.operations import Operation

# The S3 action each operation is authorized as, and whether it names the object (True) or
# the bucket; (action with a versionId, if it differs).
_O = Operation
ACTIONS: dict[Operation, tuple[str, bool, str | None]] = {
    _O.GET_OBJECT: ("s3:GetObject", True, "s3:GetObjectVersion"),
    _O.HEAD_OBJECT: ("s3:GetObject", True, "s3:GetObjectVersion"),
    _O.PUT_OBJECT: ("s3:PutObject", True, None),
    _O.COPY_OBJECT: ("s3:PutObject", True, None),
    _O.POST_OBJECT: ("s3:PutObject", True, None),  # the form's key (req.key)
    _O.CREATE_MULTIPART_UPLOAD: ("s3:PutObject", True, None),
    _O.UPLOAD_PART: ("s3:PutObject", True, None),
    _O.UPLOAD_PART_COPY: ("s3:PutObject", True, None),
    _O.COMPLETE_MULTIPART_UPLOAD: ("s3:PutObject", True, None),
    _O.ABORT_MULTIPART_UPLOAD: ("s3:AbortMultipartUpload", True, None),
    _O.LIST_PARTS: ("s3:ListMultipartUploadParts", True, None),
    _O.DELETE_OBJECT: ("s3:DeleteObject", True, "s3:DeleteObjectVersion"),
    # DeleteObjects: S3 checks each key (KeyPolicy), not the request.
    _O.GET_OBJECT_ATTRIBUTES: ("s3:GetObjectAttributes", True, "s3:GetObjectVersionAttributes"),
    _O.GET_OBJECT_ACL: ("s3:GetObjectAcl", True, "s3:GetObjectVersionAcl"),
    _O.PUT_OBJECT_ACL: ("s3:PutObjectAcl", True, "s3:PutObjectVersionAcl"),
    _O.GET_OBJECT_TAGGING: ("s3:GetObjectTagging", True, "s3:GetObjectVersionTagging"),
    _O.PUT_OBJECT_TAGGING: ("s3:PutObjectTagging", True, "s3:PutObjectVersionTagging"),
    _O.DELETE_OBJECT_TAGGING: ("s3:DeleteObjectTagging", True, "s3:DeleteObjectVersionTagging"),
    _O.LIST_OBJECTS: ("s3:ListBucket", False, None),
    _O.LIST_OBJECTS_V2: ("s3:ListBucket", False, None),
    _O.HEAD_BUCKET: ("s3:ListBucket", False, None),
    _O.LIST_OBJECT_VERSIONS: ("s3:ListBucketVersions", False, None),
    _O.LIST_MULTIPART_UPLOADS: ("s3:ListBucketMultipartUploads", False, None),
    _O.DELETE_BUCKET: ("s3:DeleteBucket", False, None),
    _O.GET_BUCKET_LOCATION: ("s3:GetBucketLocation", False, None),
    _O.GET_BUCKET_VERSIONING: ("s3:GetBucketVersioning", False, None),
    _O.PUT_BUCKET_VERSIONING: ("s3:PutBucketVersioning", False, None),
    _O.GET_BUCKET_ACL: ("s3:GetBucketAcl", False, None),
    _O.PUT_BUCKET_ACL: ("s3:PutBucketAcl", False, None),
    _O.PUT_BUCKET_OWNERSHIP_CONTROLS: ("s3:PutBucketOwnershipControls", False, None),
    _O.GET_BUCKET_OWNERSHIP_CONTROLS: ("s3:GetBucketOwnershipControls", False, None),
    # S3 compat: AWS authorizes DeleteBucketOwnershipControls as s3:PutBucketOwnershipControls.
    _O.DELETE_BUCKET_OWNERSHIP_CONTROLS: ("s3:PutBucketOwnershipControls", False, None),
    _O.GET_BUCKET_POLICY: ("s3:GetBucketPolicy", False, None),
    _O.PUT_BUCKET_POLICY: ("s3:PutBucketPolicy", False, None),
    _O.DELETE_BUCKET_POLICY: ("s3:DeleteBucketPolicy", False, None),
    _O.GET_BUCKET_POLICY_STATUS: ("s3:GetBucketPolicyStatus", False, None),
    _O.GET_BUCKET_CORS: ("s3:GetBucketCORS", False, None),
    _O.PUT_BUCKET_CORS: ("s3:PutBucketCORS", False, None),
    _O.DELETE_BUCKET_CORS: ("s3:PutBucketCORS", False, None),
    _O.GET_BUCKET_WEBSITE: ("s3:GetBucketWebsite", False, None),
    _O.PUT_BUCKET_WEBSITE: ("s3:PutBucketWebsite", False, None),
    _O.DELETE_BUCKET_WEBSITE: ("s3:DeleteBucketWebsite", False, None),
    _O.GET_BUCKET_LIFECYCLE: ("s3:GetLifecycleConfiguration", False, None),
    _O.PUT_BUCKET_LIFECYCLE: ("s3:PutLifecycleConfiguration", False, None),
    _O.DELETE_BUCKET_LIFECYCLE: ("s3:PutLifecycleConfiguration", False, None),
    _O.GET_BUCKET_TAGGING: ("s3:GetBucketTagging", False, None),
    _O.PUT_BUCKET_TAGGING: ("s3:PutBucketTagging", False, None),
    _O.DELETE_BUCKET_TAGGING: ("s3:PutBucketTagging", False, None),
    _O.GET_BUCKET_ENCRYPTION: ("s3:GetEncryptionConfiguration", False, None),
    _O.PUT_BUCKET_ENCRYPTION: ("s3:PutEncryptionConfiguration", False, None),
    _O.DELETE_BUCKET_ENCRYPTION: ("s3:PutEncryptionConfiguration", False, None),
    _O.PUT_OBJECT_LOCK_CONFIGURATION: ("s3:PutBucketObjectLockConfiguration", False, None),
    _O.GET_OBJECT_LOCK_CONFIGURATION: ("s3:GetBucketObjectLockConfiguration", False, None),
    _O.PUT_OBJECT_RETENTION: ("s3:PutObjectRetention", True, None),
    _O.GET_OBJECT_RETENTION: ("s3:GetObjectRetention", True, None),
    _O.PUT_OBJECT_LEGAL_HOLD: ("s3:PutObjectLegalHold", True, None),
    _O.GET_OBJECT_LEGAL_HOLD: ("s3:GetObjectLegalHold", True, None),
    _O.GET_PUBLIC_ACCESS_BLOCK: ("s3:GetBucketPublicAccessBlock", False, None),
    _O.PUT_PUBLIC_ACCESS_BLOCK: ("s3:PutBucketPublicAccessBlock", False, None),
    _O.DELETE_PUBLIC_ACCESS_BLOCK: ("s3:PutBucketPublicAccessBlock", False, None),
}
# Request headers that are condition keys of their own name ("s3:x-amz-acl"...).
_HEADER_KEYS = (
    "x-amz-acl",
    "x-amz-content-sha256",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
)
# Object Lock's keys, from the headers of a write that asks for a lock.
_LOCK_KEYS = {
    "x-amz-object-lock-mode": "s3:object-lock-mode",
    "x-amz-object-lock-retain-until-date": "s3:object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold": "s3:object-lock-legal-hold",
}
# The operations whose object's own tags a policy may ask about (s3:ExistingObjectTag/<key>),
# as AWS lists them: reads, and the calls on the object's ACL and tags.
_ON_EXISTING_OBJECT = frozenset(
    {
        _O.GET_OBJECT,
        _O.HEAD_OBJECT,
        _O.GET_OBJECT_ACL,
        _O.PUT_OBJECT_ACL,
        _O.GET_OBJECT_TAGGING,
        _O.PUT_OBJECT_TAGGING,
        _O.DELETE_OBJECT_TAGGING,
    }
)
# The tags of an object version (None: no such object), read without asking who may.
ExistingTags = Callable[[Bucket, str, str | None], Sequence[tuple[str, str]] | None]

# What the owner may always do, whatever its policy denies (AWS's root user may too).
_OWNER_ALWAYS = (_O.GET_BUCKET_POLICY, _O.PUT_BUCKET_POLICY, _O.DELETE_BUCKET_POLICY)


@functools.lru_cache(maxsize=1024)
def _policy(text: str, bucket: str) -> Policy | None:
    try:
        return parse_policy(text, bucket)
    except MalformedPolicy:  # stored by an older rule set: it grants nothing
        return None


def _condition_keys(
    req: S3Request, credential: Credential, client: str | None, secure: bool
) -> dict[str, str | Sequence[str]]:
    now = time.time()
    keys: dict[str, str | Sequence[str]] = {
        "aws:SecureTransport": "true" if secure else "false",
        "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "aws:EpochTime": str(int(now)),
    }
    if client:
        keys["aws:SourceIp"] = client
    for header, key in (("user-agent", "aws:UserAgent"), ("referer", "aws:Referer")):
        if header in req.headers:
            keys[key] = req.headers[header]
    if credential.account.id:
        keys["aws:PrincipalAccount"] = credential.account.id
        presigned = "X-Amz-Signature" in req.query or "Signature" in req.query
        keys["s3:authType"] = "REST-QUERY-STRING" if presigned else "REST-HEADER"
        v2 = req.headers.get("authorization", "").startswith("AWS ") or "Signature" in req.query
        keys["s3:signatureversion"] = "AWS" if v2 else "AWS4-HMAC-SHA256"
    for param in ("prefix", "delimiter", "max-keys"):
        if param in req.query:
            keys[f"s3:{param}"] = req.query[param]
    if "versionId" in req.query:
        keys["s3:VersionId"] = req.query["versionId"]
    for header in _HEADER_KEYS:
        if header in req.headers:
            keys[f"s3:{header}"] = req.headers[header]
    for header, key in _LOCK_KEYS.items():
        if header in req.headers:
            keys[key] = req.headers[header]
    if "x-amz-copy-source" in req.headers:
        # As the policy names it: bucket/key, decoded, without the version asked for.
        source = unquote(req.headers["x-amz-copy-source"].partition("?")[0]).lstrip("/")
        keys["s3:x-amz-copy-source"] = source
    if "x-amz-tagging" in req.headers:
        tags = parse_qsl(req.headers["x-amz-tagging"], keep_blank_values=True)
        keys["s3:RequestObjectTagKeys"] = [name for name, _ in tags]
        for name, value in tags:
            keys[f"s3:RequestObjectTag/{name}"] = value
    return keys


def _arn(req: S3Request, bucket: Bucket, on_object: bool) -> str:
    return (
        object_arn(bucket.name, req.key or "") if on_object and req.key else bucket_arn(bucket.name)
    )


@dataclasses.dataclass(slots=True)
class KeyPolicy:
    """A DeleteObjects request's bucket policy, decided key by key as S3 decides it: an
    explicit Deny refuses that key (the owner's too); a caller whom nothing but this policy
    lets into the bucket (``require_allow``) deletes only the keys it allows."""

    policy: Policy
    bucket: Bucket
    principal: str | None
    keys: Mapping[str, str | Sequence[str]]
    require_allow: bool = False

    def refuses(self, key: str, version: str | None) -> bool:
        action = "s3:DeleteObjectVersion" if version is not None else "s3:DeleteObject"
        context = RequestContext(
            self.principal, action, object_arn(self.bucket.name, key), self.keys
        )
        decision = evaluate(self.policy, context)
        return decision is Decision.DENY or (self.require_allow and decision is not Decision.ALLOW)


class BucketPolicies:
    """Applies the policy of the bucket a request names (and of its copy source)."""

    def __init__(self, directory: Directory, existing_tags: ExistingTags) -> None:
        self._directory = directory
        self._existing_tags = existing_tags

    def authorize(
        self, req: S3Request, credential: Credential, client: str | None, secure: bool
    ) -> Credential:
        """The credential the request goes ahead with: unchanged, or its principal opened
        to the buckets whose policy allows this request; AccessDenied on an explicit Deny."""
        if req.bucket is None:
            return credential
        bucket = self._directory.bucket(req.bucket)
        if req.operation is _O.DELETE_OBJECTS:
            if bucket is not None:
                req.key_policy = self._key_policy(req, credential, bucket, client, secure)
            return credential  # decided key by key (open_per_key, then the handler)
        granted = set()
        if bucket is not None and self._allows(
            req, credential, bucket, req.operation, client, secure
        ):
            granted.add(bucket.id)
            if req.operation in (_O.GET_OBJECT, _O.HEAD_OBJECT):
                req.absence_hidden = not self._lists(req, credential, bucket, client, secure)
        source = _copy_source(req)
        if source is not None:
            src = self._directory.bucket(source[0])
            readable = src is not None and self._allows(
                req, credential, src, _O.GET_OBJECT, client, secure, key=source[1]
            )
            if src is not None and bucket is not None and src.id == bucket.id:
                # One bucket opened for both ends: only if the policy lets this caller read
                # the source and write the target (writing a bucket is no right to read its
                # objects, nor reading one to write).
                if not readable:
                    granted.discard(src.id)
            elif src is not None and readable:
                granted.add(src.id)
        if not granted:
            return credential
        principal = dataclasses.replace(
            credential.principal, granted=credential.principal.granted | granted
        )
        return dataclasses.replace(credential, principal=principal)

    def _stored_policy(self, bucket: Bucket) -> Policy | None:
        text = self._directory.setting(bucket, "policy")
        return _policy(text, bucket.name) if text is not None else None

    def _key_policy(
        self,
        req: S3Request,
        credential: Credential,
        bucket: Bucket,
        client: str | None,
        secure: bool,
    ) -> KeyPolicy | None:
        policy = self._stored_policy(bucket)
        if policy is None:
            return None
        keys = _condition_keys(req, credential, client, secure)
        return KeyPolicy(policy, bucket, credential.account.id or None, keys)

    def open_per_key(self, req: S3Request, credential: Credential) -> Credential:
        """After ACLs had their say: a DeleteObjects caller whom nothing opened the bucket to
        gets it opened for this request, each key then needing the policy's Allow."""
        found = req.key_policy
        if found is None:
            return credential
        bucket, principal = found.bucket, credential.principal
        if bucket.account_id == credential.account.id or bucket.id in principal.granted:
            return credential
        if principal.reaches is not None and credential.account.id:
            return credential  # a key limited to some buckets stays limited
        block = PublicAccessBlock.parse(self._directory.setting(bucket, PUBLIC_ACCESS_BLOCK))
        if block.restrict_public_buckets and is_public(found.policy):
            return credential
        found.require_allow = True
        opened = dataclasses.replace(principal, granted=principal.granted | {bucket.id})
        return dataclasses.replace(credential, principal=opened)

    def _allows(
        self,
        req: S3Request,
        credential: Credential,
        bucket: Bucket,
        operation: Operation,
        client: str | None,
        secure: bool,
        key: str | None = None,
    ) -> bool:
        """Whether the policy opens ``bucket`` to this caller (raises on an explicit Deny)."""
        text = self._directory.setting(bucket, "policy")
        if text is None:
            return False
        policy = _policy(text, bucket.name)
        entry = ACTIONS.get(operation)
        if policy is None or entry is None:
            return False
        action, on_object, versioned = entry
        if versioned is not None and "versionId" in req.query and key is None:
            action = versioned
        owner = bucket.account_id == credential.account.id
        keys = _condition_keys(req, credential, client, secure)
        if operation in _ON_EXISTING_OBJECT and "existingobjecttag" in text.lower():
            # Read only for a policy that asks: the lookup costs a statement per request.
            version = req.query.get("versionId") if key is None else None
            tags = self._existing_tags(bucket, key or req.key or "", version)
            for name, value in tags or ():
                keys[f"s3:ExistingObjectTag/{name}"] = value
        context = RequestContext(
            principal=credential.account.id or None,
            action=action,
            resource=object_arn(bucket.name, key)
            if key is not None
            else _arn(req, bucket, on_object),
            keys=keys,
        )
        decision = evaluate(policy, context)
        if decision is Decision.DENY and not (owner and operation in _OWNER_ALWAYS):
            raise access_denied()
        if decision is not Decision.ALLOW or owner:
            return False
        if credential.principal.reaches is not None and credential.account.id:
            return False  # a key limited to some buckets stays limited
        block = PublicAccessBlock.parse(self._directory.setting(bucket, PUBLIC_ACCESS_BLOCK))
        return not (block.restrict_public_buckets and is_public(policy))

    def _lists(
        self,
        req: S3Request,
        credential: Credential,
        bucket: Bucket,
        client: str | None,
        secure: bool,
    ) -> bool:
        """Whether the bucket's policy allows this caller s3:ListBucket (a Deny of it only
        hides a missing key: it refuses nothing here)."""
        policy = self._stored_policy(bucket)
        if policy is None:
            return False
        context = RequestContext(
            principal=credential.account.id or None,
            action="s3:ListBucket",
            resource=bucket_arn(bucket.name),
            keys=_condition_keys(req, credential, client, secure),
        )
        return evaluate(policy, context) is Decision.ALLOW


def _copy_source(req: S3Request) -> tuple[str, str] | None:
    if req.operation not in (_O.COPY_OBJECT, _O.UPLOAD_PART_COPY):
        return None
    raw = req.headers.get("x-amz-copy-source", "")
    bucket, _, key = unquote(raw.partition("?")[0]).lstrip("/").partition("/")
    return (bucket, key) if bucket and key else None
