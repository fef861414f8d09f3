"""What Object Storage needs from a metadata store. Every implementation passes tests/contract."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from nexq.core.errors import DomainError
from nexq.core.identity import Account
from nexq.storage.completions import CompletedUpload
from nexq.storage.lifecycle import Candidate, Due
from nexq.storage.model import (
    AccessKey,
    Bucket,
    Counters,
    ListedObject,
    ObjectMeta,
    Part,
    Upload,
    UsageRow,
)
from nexq.storage.versions import Deletion, ListedVersion, Removal


class MetadataStore(Protocol):
    """Accounts, buckets, objects, uploads and access keys, with atomic conditional writes.

    Rules every implementation keeps (tests/contract runs them on SQLite and on memory),
    and what it may assume:
    - keys and upload ids are ordered as UTF-8 bytes (S3's order; not UTF-16's);
    - what is read back is a copy: changing it, or what was written, changes nothing stored;
    - callers make ids (buckets, uploads, access keys) unique (random) and name existing
      accounts as owners (they act for one): a store need not check either, and may refuse.
    """

    # accounts
    def get_account(self, account_id: str) -> Account | None:
        """The owner of keys and buckets (accounts are managed by the accounts service)."""

    def find_account(self, email: str) -> Account | None:
        """The account whose email is ``email``, ASCII letters compared regardless of case
        (an ACL grant may name a grantee by email)."""

    # buckets
    def add_bucket(
        self,
        bucket: Bucket,
        max_buckets: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """Insert, with its versioning state and its first configuration documents
        (``settings``: name → document) in the same transaction, so that no crash leaves a
        bucket without the defaults it was made with; raises BucketAlreadyExists /
        BucketAlreadyOwnedByYou on a taken name and QuotaExceeded when the account already
        has ``max_buckets``."""

    def get_bucket(self, name: str) -> Bucket | None: ...
    def bucket_setting(self, bucket_id: str, name: str) -> str | None:
        """The bucket's configuration document ``name`` (e.g. "cors"), if it has one."""

    def set_bucket_setting(self, bucket_id: str, name: str, document: str | None) -> None:
        """Store (None: remove) a configuration document of the bucket; NoSuchBucket. Every
        node's cached view of the bucket sees the change at once (the auth generation)."""

    def buckets_with_setting(self, name: str, after: str, limit: int) -> list[str]:
        """The ids of up to ``limit`` buckets that have the configuration document ``name``,
        in order, after ``after``: what a background job walks."""

    def set_versioning(self, bucket_id: str, state: str) -> None:
        """Set the bucket's versioning to "Enabled" or "Suspended" (NoSuchBucket)."""

    def list_buckets(self, account_id: str) -> list[Bucket]: ...
    def remove_bucket(self, bucket_id: str) -> None:
        """Delete; raises BucketNotEmpty when objects, versions or delete markers remain;
        unfinished uploads go with it (their parts become garbage), as do grants to it (a key
        granted only that bucket then reaches none, even a new one of that name)."""

    def bucket_usage(self, bucket_id: str) -> tuple[int, int]:
        """(object count, stored bytes), kept with every write."""

    def account_usage(self, account_id: str) -> tuple[int, int, int]:
        """(buckets, objects, stored bytes) of the account."""

    def installation_usage(self) -> tuple[int, int, int]:
        """(buckets, objects, stored bytes) of every account together (the operator's
        metrics)."""

    def stored_bytes(self, account_id: str, max_age: float = 0.0) -> int:
        """The account's stored bytes (the sum of its buckets', kept with every write), read
        now; or, given ``max_age``, as this process last read them if that was at most
        ``max_age`` seconds ago (for checks that read again before they refuse). A store
        whose reads cost nothing may always read now."""

    def used_bytes(self, account_id: str, max_age: float = 0.0) -> int:
        """What the account's storage quota counts: its stored bytes plus the parts of its
        unfinished multipart uploads (in every bucket), read now or, given ``max_age``, as
        :meth:`stored_bytes` may remember them."""

    # objects (nexq.storage.versions says how versions are kept)
    def get_object(self, bucket_id: str, key: str) -> ObjectMeta | None:
        """The key's current version, unless that is a delete marker."""

    def list_objects(
        self, bucket_id: str, prefix: str, start: str, inclusive: bool, limit: int
    ) -> list[ListedObject]:
        """Up to ``limit`` objects in key order, under ``prefix``, from ``start`` on."""

    def put_object(
        self,
        meta: ObjectMeta,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        """Make ``meta`` the key's current version, atomically checking the conditions and
        that the account's stored bytes stay within ``quota`` (QuotaExceeded). As the
        bucket's versioning says (read in the same transaction): the null version is
        replaced and its blobs become garbage, or the old current version is kept as a
        noncurrent one. Returns the new version's id: ``meta.version_id`` when versioning is
        enabled, None (the null version) otherwise."""

    def delete_object(self, bucket_id: str, key: str) -> Removal:
        """DeleteObject without a version id: remove the null object of a never-versioned
        bucket, or add a delete marker (versioning enabled: a new version id; suspended: the
        null version is removed for good and the marker is null)."""

    def delete_version(self, bucket_id: str, key: str, version_id: str | None) -> Removal:
        """Remove one version (None: the null one) for good, object or delete marker; the
        next newest version becomes current."""

    def amend_version(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        amend: Callable[[ObjectMeta], ObjectMeta],
        *,
        latest: bool,
    ) -> ObjectMeta | None:
        """Replace the Object Lock fields (retention, legal hold) and the stored headers (an
        object ACL rides there) of the current object (``latest``) or of version
        ``version_id`` by what ``amend`` makes of the version as it stands, in one atomic
        step (``amend`` may refuse by raising); the amended version, None if there is none
        (delete markers have neither)."""

    def tag_version(
        self, bucket_id: str, key: str, version_id: str | None, tags: str, *, latest: bool
    ) -> ObjectMeta | None:
        """Set the tags (JSON list of [key, value]) of the current object (``latest``) or of
        version ``version_id``, in place; the version tagged, None if there is none (a delete
        marker has no tags)."""

    def get_version(self, bucket_id: str, key: str, version_id: str | None) -> ObjectMeta | None:
        """Version ``version_id`` of ``key`` (None: the null one), delete markers included."""

    def latest_marker(self, bucket_id: str, key: str) -> ObjectMeta | None:
        """The delete marker that is the key's latest version, if one is."""

    def version_rank(self, bucket_id: str, key: str, version_id: str | None) -> int | None:
        """Where a version stands in its key's order (a listing resumes below it); None if
        there is no such version."""

    def list_versions(
        self, bucket_id: str, prefix: str, start: str, below: int | None, limit: int
    ) -> list[tuple[ListedVersion, int]]:
        """Up to ``limit`` versions under ``prefix``, ordered by key then newest first, from
        the versions of ``start`` ranked below ``below`` (None: all of them) on; each with its
        rank. ``is_latest`` is exact (the first entry of a key is its latest version, unless
        the page began inside that key's versions)."""

    def apply_lifecycle(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        decide: Callable[[Candidate], Due],
    ) -> tuple[Due, Removal]:
        """In one transaction: describe version ``version_id`` of ``key`` (None: the null
        one) as it stands now, ask ``decide`` what lifecycle action is due on it, and do it
        as DeleteObject does (counters, quota and garbage alike): EXPIRE_CURRENT deletes the
        current object (a delete marker where versioning is on), DELETE_NONCURRENT and
        REMOVE_DELETE_MARKER remove the version for good. The decision and what was done;
        (NONE, Removal()) when the version is gone or nothing is due."""

    def delete_objects(
        self, bucket_id: str, deletions: Sequence[Deletion]
    ) -> list[Removal | DomainError]:
        """Each deletion as :meth:`delete_object` (the key's current version) or
        :meth:`delete_version` does it, all in one transaction (one durable commit, however
        many: DeleteObjects names up to 1,000); what each did, or why it was refused (its
        conditions, Object Lock: nexq.storage.object_lock), the others going on."""

    # multipart
    def add_upload(self, upload: Upload) -> None: ...
    def get_upload(self, upload_id: str) -> Upload | None: ...
    def list_uploads(
        self, bucket_id: str, prefix: str, after: tuple[str, str | None] | None, limit: int
    ) -> list[Upload]:
        """Uploads under ``prefix`` ordered by (key, id), strictly after ``after``: a
        (key, id) position, or (key, None) for after every upload of that key."""

    def put_part(self, part: Part, quota: int | None = None) -> None:
        """Insert or replace a part (NoSuchUpload if the upload ended meanwhile), atomically
        checking that the upload's account's :meth:`used_bytes` stay within ``quota``
        (QuotaExceeded, nothing changed); a replaced part's bytes are freed, so a part that
        does not grow always fits."""

    def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]: ...
    def complete_upload(
        self,
        upload: Upload,
        meta: ObjectMeta,
        used_parts: Iterable[int],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        """Make ``meta`` the object (as :meth:`put_object`) and end the upload; unused parts
        become garbage. Returns the new version's id. The same transaction records the
        completion (nexq.storage.completions: made at ``meta.last_modified``) and purges a
        few records that were past the retry window by then, oldest first."""

    def completed_upload(self, upload_id: str) -> CompletedUpload | None:
        """The record of ``upload_id``'s completion, if it is still kept (it may be older
        than the retry window: the caller judges)."""

    def abort_upload(self, upload_id: str) -> bool: ...

    # access keys
    def add_access_key(
        self,
        key: AccessKey,
        sealed_secret: bytes,
        *,
        internal: bool = False,
        max_keys: int | None = None,
    ) -> None:
        """Insert; an internal key is never listed nor revoked one by one (its account can
        only replace it, revoking every share link), nor counted against ``max_keys``
        (QuotaExceeded when the account has that many). NoSuchBucket unless every granted
        bucket exists in the key's account (one may be deleted after the caller looked)."""

    def internal_access_key(self, account_id: str) -> tuple[AccessKey, bytes] | None:
        """The account's internal key (it signs presigned URLs made by the API), if any."""

    def remove_internal_access_keys(self, account_id: str) -> int:
        """Delete the account's internal key(s): every URL they signed stops working."""

    def get_access_key(self, key_id: str) -> tuple[AccessKey, bytes] | None: ...
    def list_access_keys(self, account_id: str) -> list[AccessKey]:
        """The account's keys (not the internal one) ordered by (created_at, id)."""

    def set_access_key_status(self, account_id: str, key_id: str, status: str) -> bool: ...
    def remove_access_key(self, account_id: str, key_id: str) -> bool: ...
    def sealed_secrets(self, after: str, limit: int) -> list[tuple[str, bytes]]:
        """(key id, sealed secret) of every key, internal ones too, with id > ``after``,
        ordered by id: what a master-key rotation re-wraps."""

    def replace_sealed_secrets(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Store each (key id, old, new) whose secret is still ``old``, in one transaction;
        how many. The secret itself is unchanged, so cached credentials stay valid."""

    def bucket_names(self, bucket_ids: Iterable[str]) -> dict[str, str]: ...

    # metering
    def add_usage(self, rows: Iterable[UsageRow]) -> None:
        """Add (not set) each row's counters to its (account, hour, bucket) totals."""

    def usage_rows(
        self, account_id: str, from_hour: int, to_hour: int
    ) -> list[tuple[str, int, Counters]]:
        """(bucket name, hour, counters) of the account in [from_hour, to_hour)."""

    # house-keeping
    def auth_generation(self) -> int:
        """A number that changes whenever keys, buckets or accounts change."""

    def garbage(self, limit: int) -> list[str]:
        """Up to ``limit`` blob paths that nothing references any more, to delete."""

    def forget_garbage(self, paths: Iterable[str]) -> None:
        """The blobs were deleted (may take effect a little later: a lost forget only makes
        the janitor delete a missing file again)."""

    def referenced_paths(self) -> set[str]:
        """Every blob path that objects, parts or pending garbage name."""

    def blob_sizes(self) -> dict[str, int]:
        """The size each object segment and part says its blob has, by path: the blobs of
        the blob store (an inline one is in its row: ``storage.blobs.inline``)."""

    def counter_drift(self) -> list[str]:
        """Buckets and accounts whose kept counters (objects, stored bytes) differ from what
        their objects add up to, one line each; empty when they all agree."""

    def recount(self) -> list[str]:
        """Set every counter from the objects, atomically; returns the drift it repaired."""


class MeterReadings(Protocol):
    """What Object Storage's meters read for billing (``storage.meters``), from the usage
    rows the meters flush and the buckets' counters. Kept apart from :class:`MetadataStore`:
    only the stores that serve billing implement it."""

    def hourly_usage(
        self, account_id: str, from_hour: int, to_hour: int
    ) -> list[tuple[int, Counters]]:
        """(hour, counters summed over the account's buckets) of each hour in
        [from_hour, to_hour) that has any, in hour order."""

    def accounts_with_usage(self, from_hour: int, to_hour: int) -> list[str]:
        """Every account with a usage row in [from_hour, to_hour), sorted."""

    def bucket_sizes(self) -> list[tuple[str, str, int]]:
        """(account id, bucket id, bytes) of every bucket: its stored bytes (every version)
        plus the parts of its unfinished multipart uploads, which occupy disk until their
        upload is completed (then they are the object's stored bytes) or aborted."""
