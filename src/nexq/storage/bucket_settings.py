"""A bucket's settings: its configuration documents (bucket policy, CORS, lifecycle...),
its versioning state, its default encryption and what a write is sealed with."""

from __future__ import annotations

import functools

from nexq.core.identity import Principal
from nexq.storage import encryption
from nexq.storage.encryption import KMS, BucketEncryption, CustomerKeysBlocked, ObjectKey, Requested
from nexq.storage.errors import AccessDenied, IllegalVersioningConfiguration
from nexq.storage.model import Bucket
from nexq.storage.object_lock import InvalidBucketState
from nexq.storage.policy import MalformedPolicy, Policy, is_public, parse_policy
from nexq.storage.public_access import SETTING as PUBLIC_ACCESS
from nexq.storage.public_access import PublicAccessBlock
from nexq.storage.service_base import ObjectStorageBase
from nexq.storage.versions import ENABLED, STATES

# A PUT without an encryption header reads its bucket's default: parsed once per stored
# text, not per write (the value is immutable).
_parsed_encryption = functools.lru_cache(maxsize=512)(BucketEncryption.from_json)


class BucketSettings(ObjectStorageBase):
    """ObjectStorage's use cases of a bucket's settings."""

    # configuration documents ------------------------------------------------------------
    def bucket_document(self, caller: Principal, bucket_name: str, name: str) -> str | None:
        """The bucket's configuration document ``name`` (policy, cors, lifecycle...)."""
        return self._store.bucket_setting(self.bucket(caller, bucket_name).id, name)

    def set_bucket_document(
        self, caller: Principal, bucket_name: str, name: str, document: str | None
    ) -> None:
        """Store, already validated, or remove (None) a configuration document."""
        self._store.set_bucket_setting(self.bucket(caller, bucket_name).id, name, document)

    def set_bucket_policy(self, caller: Principal, bucket_name: str, text: str) -> Policy:
        """Check and store a bucket policy; every account it names must exist."""
        bucket = self.bucket(caller, bucket_name)
        policy = parse_policy(text, bucket.name)
        for account_id in sorted(policy.accounts):
            if self._store.get_account(account_id) is None:
                raise MalformedPolicy("Invalid principal in policy")
        block = PublicAccessBlock.parse(self._store.bucket_setting(bucket.id, PUBLIC_ACCESS))
        if block.block_public_policy and is_public(policy):
            raise AccessDenied(
                "Access Denied: the bucket's Block Public Access settings refuse a public policy"
            )
        self._store.set_bucket_setting(bucket.id, "policy", policy.text)
        return policy

    # versioning -------------------------------------------------------------------------
    def set_versioning(self, caller: Principal, bucket_name: str, state: str) -> None:
        """Turn versioning on ("Enabled") or suspend it ("Suspended"); never back off."""
        if state not in STATES:
            raise IllegalVersioningConfiguration(
                "The Versioning element must be specified as Enabled or Suspended."
            )
        bucket = self.bucket(caller, bucket_name)
        if state != ENABLED and self.lock_configuration(bucket) is not None:
            raise InvalidBucketState(
                "An Object Lock configuration is present on this bucket, so the versioning "
                "state cannot be changed."
            )
        self._store.set_versioning(bucket.id, state)

    def versioning(self, caller: Principal, bucket_name: str) -> str | None:
        """The bucket's versioning state: None if it was never configured."""
        return self.bucket(caller, bucket_name).versioning

    # encryption -------------------------------------------------------------------------
    def write_key(
        self, caller: Principal, bucket_name: str, requested: Requested
    ) -> ObjectKey | None:
        """What a new object (or upload) of the bucket is sealed with: what the write asked
        for (SSE-C, SSE-KMS, SSE-S3), else the bucket's default encryption. KMS keys are the
        bucket owner's: KMS.NotFoundException, KMS.DisabledException or AccessDenied."""
        if requested.customer is not None:
            bucket = self.bucket(caller, bucket_name)
            if self._default_encryption(bucket).customer_keys_blocked:
                raise CustomerKeysBlocked()
            return requested.customer
        if requested.algorithm not in (None, KMS):
            return None  # SSE-S3, asked for by name
        bucket = self.bucket(caller, bucket_name)
        default: BucketEncryption | None = None
        if requested.algorithm is None or requested.bucket_key is None:
            default = self._default_encryption(bucket)
        if requested.algorithm == KMS:
            bucket_key = requested.bucket_key
            if bucket_key is None:  # S3 compat: the bucket's setting, if it uses SSE-KMS
                bucket_key = bool(
                    default and default.algorithm == KMS and default.bucket_key_enabled
                )
            return self.kms.for_write(bucket.account_id, requested.kms_key_id, bucket_key)
        if default is not None and default.algorithm == KMS:
            return self.kms.for_write(
                bucket.account_id, default.kms_key_id, default.bucket_key_enabled
            )
        return None

    def _default_encryption(self, bucket: Bucket) -> BucketEncryption:
        # Cached with the bucket (a change moves the auth generation): no read per PUT.
        return _parsed_encryption(self.directory.setting(bucket, encryption.SETTING))

    def set_bucket_encryption(
        self, caller: Principal, bucket_name: str, config: BucketEncryption | None
    ) -> None:
        """Set (None: remove) the bucket's default encryption; a KMS key must be one of the
        bucket owner's (its state is checked by each write)."""
        bucket = self.bucket(caller, bucket_name)
        if config is not None and config.algorithm == KMS:
            self.kms.find(bucket.account_id, config.kms_key_id)
        current = BucketEncryption.from_json(
            self._store.bucket_setting(bucket.id, encryption.SETTING)
        )
        # A removal returns to SSE-S3 and, like a change that does not name it, keeps the
        # bucket's SSE-C block: neither ever allows SSE-C again unasked.
        config = (config or BucketEncryption()).keeping_block_of(current)
        text = None if config == BucketEncryption.from_json(None) else config.to_json()
        self._store.set_bucket_setting(bucket.id, encryption.SETTING, text)

    def bucket_encryption(self, caller: Principal, bucket_name: str) -> BucketEncryption:
        """The bucket's default encryption (SSE-S3 when it was never set)."""
        bucket = self.bucket(caller, bucket_name)
        return BucketEncryption.from_json(self._store.bucket_setting(bucket.id, encryption.SETTING))
