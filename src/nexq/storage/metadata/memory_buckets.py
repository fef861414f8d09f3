"""Accounts and buckets in the in-memory metadata store: names, settings, versioning state
and the counters read back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from nexq.core.errors import QuotaExceeded
from nexq.core.identity import Account
from nexq.storage.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
)
from nexq.storage.metadata.memory_base import HeldBucket, MemoryBase, take
from nexq.storage.model import Bucket
from nexq.storage.quotas import bucket_quota_message


class MemoryBuckets(MemoryBase):
    """Accounts (lent by the account store) and buckets."""

    # accounts ---------------------------------------------------------------------------
    def get_account(self, account_id: str) -> Account | None:
        return self._accounts(account_id)

    def find_account(self, email: str) -> Account | None:
        return self._by_email(email)

    # buckets ----------------------------------------------------------------------------
    def add_bucket(
        self,
        bucket: Bucket,
        max_buckets: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        with self._lock:
            taken = self._names.get(bucket.name)
            if taken is not None:
                if self._buckets[taken].bucket.account_id == bucket.account_id:
                    raise BucketAlreadyOwnedByYou()
                raise BucketAlreadyExists()
            if max_buckets is not None:
                count = len(self._buckets_of(bucket.account_id))
                if count >= max_buckets:
                    raise QuotaExceeded("buckets", bucket_quota_message(count))
            if bucket.id in self._buckets:
                raise ValueError(f"bucket id {bucket.id} is taken")  # a primary key, in SQL
            held = self._buckets[bucket.id] = HeldBucket(bucket)
            held.settings.update(settings or {})
            self._names[bucket.name] = bucket.id
            self._generation.bump()

    def bucket_setting(self, bucket_id: str, name: str) -> str | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            return held.settings.get(name) if held is not None else None

    def set_bucket_setting(self, bucket_id: str, name: str, document: str | None) -> None:
        with self._lock:
            held = self._held(bucket_id)
            if document is None:
                held.settings.pop(name, None)
            else:
                held.settings[name] = document
            self._generation.bump()

    def buckets_with_setting(self, name: str, after: str, limit: int) -> list[str]:
        with self._lock:
            found = [
                bucket_id
                for bucket_id, held in self._buckets.items()
                if name in held.settings and bucket_id.encode() > after.encode()
            ]
        return take(sorted(found, key=str.encode), limit)

    def set_versioning(self, bucket_id: str, state: str) -> None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                raise NoSuchBucket()
            held.bucket = replace(held.bucket, versioning=state)
            self._generation.bump()

    def _buckets_of(self, account_id: str) -> list[HeldBucket]:
        return [b for b in self._buckets.values() if b.bucket.account_id == account_id]

    def get_bucket(self, name: str) -> Bucket | None:
        with self._lock:
            found = self._names.get(name)
            return self._buckets[found].bucket if found is not None else None

    def list_buckets(self, account_id: str) -> list[Bucket]:
        with self._lock:
            return sorted((b.bucket for b in self._buckets_of(account_id)), key=lambda b: b.name)

    def remove_bucket(self, bucket_id: str) -> None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is not None and (held.objects or held.shelf):
                raise BucketNotEmpty()
            # As S3: unfinished uploads go with the bucket, their parts become garbage.
            for upload_id in [
                u for u, h in self._uploads.items() if h.upload.bucket_id == bucket_id
            ]:
                self._garbage.update(p.path for p in self._uploads.pop(upload_id).parts.values())
            if held is not None:
                del self._buckets[bucket_id]
                del self._names[held.bucket.name]
                # Grants name the bucket's id: they go with it (ON DELETE CASCADE, in SQL).
                for entry in self._keys.values():
                    granted = entry.key.bucket_ids
                    if granted is not None and bucket_id in granted:
                        entry.key = replace(entry.key, bucket_ids=granted - {bucket_id})
            self._generation.bump()

    def bucket_usage(self, bucket_id: str) -> tuple[int, int]:
        with self._lock:
            held = self._buckets.get(bucket_id)
            return (held.object_count, held.stored_bytes) if held is not None else (0, 0)

    def account_usage(self, account_id: str) -> tuple[int, int, int]:
        with self._lock:
            buckets = self._buckets_of(account_id)
            objects = sum(b.object_count for b in buckets)
            return len(buckets), objects, self._stored.get(account_id, 0)

    def installation_usage(self) -> tuple[int, int, int]:
        with self._lock:
            buckets = list(self._buckets.values())
            objects = sum(b.object_count for b in buckets)
            return len(buckets), objects, sum(self._stored.values())

    def stored_bytes(self, account_id: str, max_age: float = 0.0) -> int:
        # Always read now: memory is as cheap as the figure a database store would keep.
        with self._lock:
            return self._stored.get(account_id, 0)
