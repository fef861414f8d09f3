"""What Object Storage needs from a metadata store. Every implementation passes tests/contract."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from nexq.core.identity import Account
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

    # buckets
    def add_bucket(self, bucket: Bucket, max_buckets: int | None = None) -> None:
        """Insert; raises BucketAlreadyExists / BucketAlreadyOwnedByYou on a taken name and
        QuotaExceeded when the account already has ``max_buckets``."""

    def get_bucket(self, name: str) -> Bucket | None: ...
    def list_buckets(self, account_id: str) -> list[Bucket]: ...
    def remove_bucket(self, bucket_id: str) -> None:
        """Delete; raises BucketNotEmpty when objects or uploads remain. Grants to it go with
        it (a key granted only that bucket then reaches none, even a new one of that name)."""

    def bucket_usage(self, bucket_id: str) -> tuple[int, int]:
        """(object count, stored bytes), kept with every write."""

    def account_usage(self, account_id: str) -> tuple[int, int, int]:
        """(buckets, objects, stored bytes) of the account."""

    def stored_bytes(self, account_id: str, max_age: float = 0.0) -> int:
        """The account's stored bytes (the sum of its buckets', kept with every write), read
        now; or, given ``max_age``, as this process last read them if that was at most
        ``max_age`` seconds ago (for checks that read again before they refuse). A store
        whose reads cost nothing may always read now."""

    # objects
    def get_object(self, bucket_id: str, key: str) -> ObjectMeta | None: ...
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
    ) -> None:
        """Insert or replace, atomically checking the conditions and that the account's
        stored bytes stay within ``quota`` (QuotaExceeded); old blobs become garbage."""

    def delete_object(self, bucket_id: str, key: str) -> bool:
        """Delete if present; returns whether something was deleted."""

    def delete_objects(self, bucket_id: str, keys: Sequence[str]) -> list[bool]:
        """Delete each of ``keys`` that is present, all in one transaction (one durable
        commit, however many keys: DeleteObjects names up to 1,000); whether each was."""

    # multipart
    def add_upload(self, upload: Upload) -> None: ...
    def get_upload(self, upload_id: str) -> Upload | None: ...
    def list_uploads(
        self, bucket_id: str, prefix: str, after: tuple[str, str | None] | None, limit: int
    ) -> list[Upload]:
        """Uploads under ``prefix`` ordered by (key, id), strictly after ``after``: a
        (key, id) position, or (key, None) for after every upload of that key."""

    def put_part(self, part: Part) -> None:
        """Insert or replace a part (NoSuchUpload if the upload ended meanwhile)."""

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
    ) -> None:
        """Make ``meta`` the object and end the upload; unused parts become garbage."""

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
        """The size each object segment and part says its blob has, by path."""

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
        """(account id, bucket id, stored bytes) of every bucket."""
