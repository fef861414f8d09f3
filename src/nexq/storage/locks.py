"""Object Lock's use cases: a bucket's lock configuration, a version's retention and legal
hold (the rules are nexq.storage.object_lock's)."""

from __future__ import annotations

import time
from dataclasses import replace

from nexq.core.identity import Principal
from nexq.storage.conditions import Conditions
from nexq.storage.model import ObjectMeta
from nexq.storage.object_lock import (
    SETTING,
    InvalidBucketState,
    LockConfiguration,
    NoObjectLockConfiguration,
    NoSuchObjectLockConfiguration,
    ObjectLockConfigurationNotFound,
    change_retention,
    check_retention,
)
from nexq.storage.service import ObjectStorage
from nexq.storage.versions import ENABLED


class ObjectLocks:
    """Object Lock, as seen by one caller."""

    def __init__(self, objects: ObjectStorage) -> None:
        self._objects = objects

    def configure(self, caller: Principal, bucket_name: str, config: LockConfiguration) -> None:
        """Turn Object Lock on (for good) or change its default retention; the bucket must
        be versioned (as AWS: Object Lock can be enabled on an existing versioned bucket)."""
        bucket = self._objects.bucket(caller, bucket_name)
        if bucket.versioning != ENABLED:
            raise InvalidBucketState(
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
            )
        self._objects.set_bucket_document(caller, bucket_name, SETTING, config.to_json())

    def lock(self, caller: Principal, bucket_name: str) -> LockConfiguration | None:
        """The bucket's Object Lock; None when the bucket has none (no error: REST, the
        console and dcp show that as a state, as they show versioning never enabled)."""
        return self._objects.lock_configuration(self._objects.bucket(caller, bucket_name))

    def set_default_retention(
        self, caller: Principal, bucket_name: str, config: LockConfiguration
    ) -> LockConfiguration:
        """Change the default retention of a bucket made with Object Lock. REST, the console
        and dcp turn Object Lock on only when a bucket is created, so a bucket without it is
        refused here rather than locked for good by a settings change."""
        if self.lock(caller, bucket_name) is None:
            raise InvalidBucketState(
                f"The bucket {bucket_name!r} has no object lock: it can only be turned on "
                "when a bucket is created."
            )
        self.configure(caller, bucket_name, config)
        return config

    def configuration(self, caller: Principal, bucket_name: str) -> LockConfiguration:
        config = self._objects.lock_configuration(self._objects.bucket(caller, bucket_name))
        if config is None:
            raise ObjectLockConfigurationNotFound()
        return config

    def _require(self, caller: Principal, bucket_name: str) -> None:
        if self._objects.lock_configuration(self._objects.bucket(caller, bucket_name)) is None:
            raise NoObjectLockConfiguration("Bucket is missing Object Lock Configuration")

    def set_retention(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        version: str | None,
        retention: tuple[str | None, float | None],
        bypass_governance: bool,
    ) -> ObjectMeta:
        """Extend, set, or (GOVERNANCE, with the bypass) shorten or remove a retention."""
        self._require(caller, bucket_name)
        mode, until = retention
        now = time.time()
        check_retention(mode, until, now)
        owner = self._objects.bucket(caller, bucket_name).account_id == caller.account.id
        bypass = bypass_governance and owner

        def amend(meta: ObjectMeta) -> ObjectMeta:
            return change_retention(meta, mode, until, bypass, now)

        return self._objects.amend_version(caller, bucket_name, key, version, amend)

    def retention(
        self, caller: Principal, bucket_name: str, key: str, version: str | None
    ) -> ObjectMeta:
        meta = self._read(caller, bucket_name, key, version)
        if meta.lock_mode is None:
            raise NoSuchObjectLockConfiguration()
        return meta

    def set_legal_hold(
        self, caller: Principal, bucket_name: str, key: str, version: str | None, on: bool
    ) -> ObjectMeta:
        self._require(caller, bucket_name)
        return self._objects.amend_version(
            caller, bucket_name, key, version, lambda meta: replace(meta, legal_hold=on)
        )

    def legal_hold(
        self, caller: Principal, bucket_name: str, key: str, version: str | None
    ) -> ObjectMeta:
        """The version, whose legal hold was set (ON or OFF); NoSuchObjectLockConfiguration
        for one whose hold was never set, as S3 answers."""
        meta = self._read(caller, bucket_name, key, version)
        if meta.legal_hold is None:
            raise NoSuchObjectLockConfiguration()
        return meta

    def _read(
        self, caller: Principal, bucket_name: str, key: str, version: str | None
    ) -> ObjectMeta:
        self._require(caller, bucket_name)
        return self._objects.head_object(caller, bucket_name, key, Conditions(), version)
