"""Use cases of buckets and objects. Every call names its caller: a Principal (an S3 access
key's, limited to the buckets it was granted, or the account's own through the API or console)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace

from nexq.core import loop_waits
from nexq.core.crypto import SecretBox, new_key
from nexq.core.errors import QuotaExceeded
from nexq.core.identity import Principal
from nexq.core.ids import new_id
from nexq.core.quotas import NoQuotas, Quotas
from nexq.storage import encryption
from nexq.storage.acl import OWNERSHIP_SETTING, Ownership
from nexq.storage.amendments import VersionAmendments
from nexq.storage.blobs.port import BlobStore
from nexq.storage.blobs.sealed import SealedBlobs
from nexq.storage.bucket_settings import BucketSettings
from nexq.storage.checksums import DEFAULT_ALGORITHM
from nexq.storage.conditions import Conditions, check_read
from nexq.storage.copies import ObjectCopies
from nexq.storage.directory import Directory
from nexq.storage.encryption import (
    NEW_BUCKET,
    CustomerKey,
    ObjectKey,
    Presented,
    kms_arn,
    stamped,
)
from nexq.storage.errors import (
    AccessDenied,
    BucketNotEmpty,
    DeleteMarkerFound,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
)
from nexq.storage.incoming import IncomingBody
from nexq.storage.kms import KmsKeys
from nexq.storage.kms_store import MemoryKmsKeys
from nexq.storage.listings import Listings
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import (
    MAX_PUT_BYTES,
    Bucket,
    ObjectMeta,
    Segment,
    may_use,
    validate_bucket_name,
    validate_key,
    validate_user_metadata,
)
from nexq.storage.object_lock import SETTING as LOCK_SETTING
from nexq.storage.object_lock import (
    DeleteConditions,
    LockConfiguration,
    LockRequest,
    apply_lock,
)
from nexq.storage.public_access import BLOCK_ALL
from nexq.storage.public_access import SETTING as PUBLIC_ACCESS_SETTING
from nexq.storage.quotas import storage_quota_message
from nexq.storage.reader import OPEN_ATTEMPTS, OpenObject, Span, open_version
from nexq.storage.versions import (
    ENABLED,
    Deletion,
    Removal,
    new_version_id,
    parse_version_id,
)


@dataclass(frozen=True, slots=True)
class BucketStats:
    """A bucket with its object count and stored bytes."""

    bucket: Bucket
    objects: int
    bytes: int


@dataclass(frozen=True, slots=True)
class NewContent:
    """What a write says about the object besides its bytes."""

    headers: dict[str, str]
    metadata: dict[str, str]
    content_md5: str | None = None
    checksums: dict[str, str] | None = None
    if_match: str | None = None
    if_none_match: bool = False
    # x-amz-tagging, checked (None: not given)
    tags: tuple[tuple[str, str], ...] | None = None
    # x-amz-object-lock-*: retention and legal hold asked for (nexq.storage.object_lock)
    lock: LockRequest | None = None


# The core is here; a bucket's settings, listings, copies and changes to a version in place
# are use cases of their own modules, mixed in (service_base.py says why mixins).
class ObjectStorage(BucketSettings, Listings, ObjectCopies, VersionAmendments):
    """Buckets and objects, as seen by one access key at a time."""

    def __init__(
        self,
        store: MetadataStore,
        blobs: BlobStore,
        directory: Directory,
        hash_pool: Executor | None = None,
        quotas: Quotas | None = None,
        kms: KmsKeys | None = None,
    ) -> None:
        self._store = store
        # Every blob goes through the sealing layer; a store handed bare (tests, tools)
        # writes plain blobs, and seals only SSE-C objects, with their customers' keys.
        self._blobs = blobs if isinstance(blobs, SealedBlobs) else SealedBlobs(blobs, None)
        self.directory = directory
        self._hash_pool = hash_pool
        self.quotas: Quotas = quotas or NoQuotas()
        # The accounts' KMS keys (SSE-KMS); a store built without them keeps its own in memory.
        self.kms = kms or KmsKeys(MemoryKmsKeys(), SecretBox(new_key()), "us-east-1")

    @property
    def seals_at_rest(self) -> bool:
        """Whether objects are sealed at rest with the installation's keys (SSE-S3)."""
        return self._blobs.seals_at_rest

    # buckets ----------------------------------------------------------------------------
    def bucket(self, caller: Principal, name: str) -> Bucket:
        """The bucket ``name`` if ``caller`` may use it (NoSuchBucket / AccessDenied if not)."""
        bucket = self.directory.bucket(name)
        if bucket is None:
            raise NoSuchBucket()
        if not may_use(caller, bucket):
            raise AccessDenied()
        return bucket

    def create_bucket(self, caller: Principal, name: str, object_lock: bool = False) -> Bucket:
        """Create ``name`` for the caller's account (keys scoped to buckets may not); with
        ``object_lock``, versioned and lockable from the start, for good."""
        if caller.reaches is not None:
            raise AccessDenied("This access key is limited to specific buckets.")
        validate_bucket_name(name)
        # As AWS since April 2023: a new bucket blocks public access (all four switches on)
        # until its owner deletes or changes its Block Public Access configuration, and has
        # its Object Ownership set to BucketOwnerEnforced (ACLs disabled).
        # As AWS since April 2026: SSE-C is blocked until the owner allows it.
        settings = {
            PUBLIC_ACCESS_SETTING: BLOCK_ALL.to_json(),
            OWNERSHIP_SETTING: Ownership.BUCKET_OWNER_ENFORCED.value,
            encryption.SETTING: NEW_BUCKET.to_json(),
        }
        if object_lock:
            settings[LOCK_SETTING] = LockConfiguration().to_json()
        bucket = Bucket(
            id=new_id(),
            name=name,
            account_id=caller.account.id,
            created_at=time.time(),
            versioning=ENABLED if object_lock else None,
        )
        self._store.add_bucket(bucket, self.quotas.limit(caller.account.id, "buckets"), settings)
        return bucket

    def lock_configuration(self, bucket: Bucket) -> LockConfiguration | None:
        """The bucket's Object Lock, None if it has none."""
        return LockConfiguration.parse(self.directory.setting(bucket, LOCK_SETTING))

    def _locked(self, bucket: Bucket, meta: ObjectMeta, asked: LockRequest | None) -> ObjectMeta:
        return apply_lock(meta, self.lock_configuration(bucket), asked, time.time())

    def delete_bucket(self, caller: Principal, name: str) -> None:
        """Delete an empty bucket; grants to it die with it."""
        bucket = self.bucket(caller, name)
        try:
            self._store.remove_bucket(bucket.id)
        except BucketNotEmpty:
            if bucket.versioning is None:
                raise
            # S3 compat: a versioned bucket's refusal says what else must go, as AWS's does.
            raise BucketNotEmpty(
                "The bucket you tried to delete is not empty. You must delete all versions in "
                "the bucket."
            ) from None

    def list_buckets(
        self,
        caller: Principal,
        prefix: str = "",
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Bucket]:
        """The buckets ``caller`` may see, by name: those starting with ``prefix``, after
        ``after``, at most ``limit`` of them (an account holds few enough to filter here).
        Sorted here, by code point, so that ``after`` resumes the very order whatever a
        database's collation does with "-" and "."."""
        found = sorted(
            (
                b
                for b in self._store.list_buckets(caller.account.id)
                if may_use(caller, b)
                and b.name.startswith(prefix)
                and (after is None or b.name > after)
            ),
            key=lambda b: b.name,
        )
        return found if limit is None else found[:limit]

    def bucket_stat(self, caller: Principal, name: str) -> BucketStats:
        """One bucket with its object count and stored bytes (kept with every write)."""
        bucket = self.bucket(caller, name)
        return BucketStats(bucket, *self._store.bucket_usage(bucket.id))

    def bucket_stats(self, caller: Principal) -> list[BucketStats]:
        """The caller's buckets with object counts and stored bytes."""
        return [BucketStats(b, *self._store.bucket_usage(b.id)) for b in self.list_buckets(caller)]

    # writes -----------------------------------------------------------------------------
    def receive(
        self,
        algorithms: Iterable[str] = (),
        limit: int = MAX_PUT_BYTES,
        customer: ObjectKey | None = None,
    ) -> IncomingBody:
        """A sink for the bytes of a new object or part (sealed with ``customer``: an SSE-C
        key or an SSE-KMS key's material)."""
        writer = self._blobs.writer(customer.key if customer else None)
        named = tuple(algorithms) or (DEFAULT_ALGORITHM,)
        return IncomingBody(writer, named, limit, self._hash_pool, customer)

    def put_object(
        self, caller: Principal, bucket_name: str, key: str, body: IncomingBody, new: NewContent
    ) -> ObjectMeta:
        """Store ``body`` as ``key``; nothing is visible unless everything checks out."""
        try:
            bucket = self.bucket(caller, bucket_name)
            validate_key(key)
            validate_user_metadata(new.metadata)
            checksums = body.verify(new.content_md5, new.checksums or {})
        except BaseException:
            body.abort()
            raise
        path = body.writer.commit()
        meta = ObjectMeta(
            bucket_id=bucket.id,
            key=key,
            size=body.size,
            etag=body.etag(),
            last_modified=time.time(),
            headers=stamped(new.headers, body.customer),
            metadata=new.metadata,
            checksums=checksums,
            checksum_type="FULL_OBJECT" if checksums else None,
            segments=(Segment(path, body.size),),
            version_id=new_version_id(),
            tags=new.tags or (),
        )
        try:
            meta = self._locked(bucket, meta, new.lock)
        except BaseException:
            self._blobs.delete([path])
            raise
        return self._commit_object(meta, [path], new, bucket.account_id)

    def check_room(
        self, caller: Principal, bucket_name: str, size: int, key: str | None = None
    ) -> None:
        """Refuse, before any byte is stored, a write of ``size`` bytes that cannot fit the
        account's storage quota (the commit checks again, exactly, for concurrent writes);
        ``key`` is the object it would replace, whose bytes are freed."""
        bucket = self.bucket(caller, bucket_name)

        def replaced() -> int:
            current = self._store.get_object(bucket.id, key) if key is not None else None
            return current.size if current else 0

        self.check_quota(bucket.account_id, size, replaced)

    def check_quota(
        self,
        account_id: str,
        size: int,
        freed: Callable[[], int] = lambda: 0,
        max_age: float = 1.0,
    ) -> None:
        """Refuse (QuotaExceeded) ``size`` more bytes for the account if they cannot fit its
        storage quota, which counts its stored bytes and its unfinished uploads' parts;
        ``freed()`` is what the write frees (the object or part it replaces), asked only
        when it could make the difference. The figure may be up to ``max_age`` seconds old
        when it says "fits"; a refusal reads it again."""
        quota = self.quotas.limit(account_id, "storage_bytes")
        if quota is None or size <= 0:
            return
        # A figure up to a second old says "fits" without a database read per PUT: if it is
        # too low, the exact check in the commit still refuses.
        used = self._store.used_bytes(account_id, max_age=max_age)
        if used + size > quota:
            now = self._store.used_bytes(account_id) if max_age > 0 else used
            used = now - freed()
        if used + size > quota:
            raise QuotaExceeded("storage_bytes", storage_quota_message(quota))

    def check_not_full(self, account_id: str) -> None:
        """Refuse (QuotaExceeded) a new multipart upload for an account already at or over
        its storage quota (read now: uploads start seldom, and every part would be
        refused)."""
        quota = self.quotas.limit(account_id, "storage_bytes")
        if quota is not None and self._store.used_bytes(account_id) >= quota:
            raise QuotaExceeded("storage_bytes", storage_quota_message(quota))

    def _commit_object(
        self, meta: ObjectMeta, paths: list[str], new: NewContent, owner: str
    ) -> ObjectMeta:
        """Store ``meta``; it comes back with the version id the bucket's versioning gave."""
        try:
            quota = self.quotas.limit(owner, "storage_bytes")
            with loop_waits.awaitable():  # no lock is held here
                version_id = self._store.put_object(
                    meta, if_match=new.if_match, if_none_match=new.if_none_match, quota=quota
                )
        except BaseException:
            self._blobs.delete(paths)
            raise
        return replace(meta, version_id=version_id)

    def delete_blobs(self, paths: list[str]) -> None:
        """Remove blob files that no metadata references."""
        self._blobs.delete(paths)

    # reads ------------------------------------------------------------------------------
    def head_object(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        conditions: Conditions,
        version: str | None = None,
        presented: Presented | None = None,
    ) -> ObjectMeta:
        """The object's metadata (its latest version, or S3's ``versionId`` ``version``),
        after checking the SSE-C key ``presented`` (if the read is S3's GET or HEAD, which
        need it) and the conditional headers. A delete marker found raises
        DeleteMarkerFound."""
        bucket = self.bucket(caller, bucket_name)
        if version is not None:
            with loop_waits.awaitable():  # no lock is held here
                meta = self._store.get_version(bucket.id, key, parse_version_id(version))
            if meta is None:
                raise NoSuchVersion()
            if meta.delete_marker:
                raise DeleteMarkerFound(meta.version_id, meta.last_modified, asked=True)
        else:
            with loop_waits.awaitable():  # no lock is held here
                meta = self._store.get_object(bucket.id, key)
            if meta is None:
                marker = (
                    self._store.latest_marker(bucket.id, key)
                    if bucket.versioning is not None
                    else None
                )
                if marker is not None:
                    raise DeleteMarkerFound(marker.version_id, marker.last_modified, asked=False)
                raise NoSuchKey()
        if presented is not None:
            encryption.check_read(meta.headers, presented.key)
        check_read(meta, conditions)
        return meta

    def open_object(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        conditions: Conditions,
        span: Span = lambda meta: (0, meta.size),
        version: str | None = None,
        customer: CustomerKey | None = None,
    ) -> OpenObject:
        """The object, with the files of the bytes ``span`` picks (start, length) held open,
        so that it reads whole even if it is overwritten or deleted meanwhile. ``span`` may
        refuse the version it is shown by raising. An SSE-C object opens only with its
        key, ``customer``; an SSE-KMS object only while its KMS key is enabled."""
        attempt = 1
        while True:
            meta = self.head_object(
                caller, bucket_name, key, conditions, version, Presented(customer)
            )
            sealing = customer if customer is not None else self.kms_key_of(meta.headers)
            blobs: BlobStore = self._blobs if sealing is None else self._blobs.keyed(sealing.key)
            start, length = span(meta)
            try:
                return open_version(blobs, meta, start, length, sealing)
            except FileNotFoundError:
                if attempt == OPEN_ATTEMPTS:
                    raise
                attempt += 1

    def kms_key_of(self, headers: dict[str, str]) -> ObjectKey | None:
        """The KMS key an object (or upload) with ``headers`` is sealed under, if any
        (KMS.DisabledException while it is disabled)."""
        arn = kms_arn(headers)
        return None if arn is None else self.kms.for_read(arn)

    def delete_object(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        version: str | None = None,
        bypass_governance: bool = False,
        conditions: DeleteConditions | None = None,
    ) -> Removal:
        """Delete ``key`` (a delete marker in a versioned bucket), or its version S3 names
        ``version`` for good; what was done (S3 answers the same if nothing was there).
        Object Lock and ``conditions`` may refuse."""
        ((_, done),) = self.delete_objects(
            caller, bucket_name, [(key, version, conditions)], bypass_governance
        )
        if isinstance(done, Exception):
            raise done
        return done

    def delete_objects(
        self,
        caller: Principal,
        bucket_name: str,
        keys: Sequence[tuple[str, str | None] | tuple[str, str | None, DeleteConditions | None]],
        bypass_governance: bool = False,
    ) -> list[tuple[str, Removal | Exception]]:
        """Delete several (key, S3's versionId or None[, conditions]), in one write to the
        store; each gets its own outcome. Only the owner's keys may bypass GOVERNANCE
        retention (a bucket policy opens no bypass to others)."""
        bucket = self.bucket(caller, bucket_name)
        bypass = bypass_governance and bucket.account_id == caller.account.id
        refused: dict[int, Exception] = {}
        deletions: list[Deletion] = []
        for index, item in enumerate(keys):
            key, version = item[0], item[1]
            conditions = item[2] if len(item) > 2 else None
            try:
                validate_key(key)
                if version is None:
                    deletions.append(Deletion(key, conditions=conditions))
                else:
                    vid = parse_version_id(version)
                    deletions.append(Deletion(key, vid, True, bypass, conditions))
            except Exception as exc:
                refused[index] = exc
        done: list[Removal | Exception] = []
        try:
            with loop_waits.awaitable():  # no lock is held here
                done = list(self._store.delete_objects(bucket.id, deletions)) if deletions else []
        except Exception as exc:  # the whole write failed: every key it named says so
            done = [exc] * len(deletions)
        answers = iter(done)
        return [
            (item[0], refused[index] if index in refused else next(answers))
            for index, item in enumerate(keys)
        ]
