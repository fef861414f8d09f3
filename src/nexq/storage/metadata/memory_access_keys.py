"""Access keys in the in-memory metadata store: their sealed secrets and bucket grants."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from nexq.core.errors import QuotaExceeded
from nexq.storage.errors import NoSuchBucket
from nexq.storage.metadata.memory_base import HeldKey, MemoryBase, take
from nexq.storage.model import AccessKey
from nexq.storage.quotas import access_key_quota_message


class MemoryAccessKeys(MemoryBase):
    """Access keys, and the bucket names their grants show."""

    # access keys ------------------------------------------------------------------------
    def add_access_key(
        self,
        key: AccessKey,
        sealed_secret: bytes,
        *,
        internal: bool = False,
        max_keys: int | None = None,
    ) -> None:
        with self._lock:
            if max_keys is not None and not internal:
                count = sum(
                    1
                    for k in self._keys.values()
                    if k.key.account_id == key.account_id and not k.internal
                )
                if count >= max_keys:
                    raise QuotaExceeded("access_keys", access_key_quota_message(count))
            for bucket_id in key.bucket_ids or ():
                held = self._buckets.get(bucket_id)
                if held is None or held.bucket.account_id != key.account_id:
                    raise NoSuchBucket("A bucket granted to the key does not exist in its account.")
            if key.id in self._keys:
                raise ValueError(f"access key id {key.id} is taken")  # a primary key, in SQL
            self._keys[key.id] = HeldKey(key, bytes(sealed_secret), internal)
            self._generation.bump()

    def internal_access_key(self, account_id: str) -> tuple[AccessKey, bytes] | None:
        with self._lock:
            for entry in self._keys.values():
                if entry.internal and entry.key.account_id == account_id:
                    return entry.key, entry.sealed
            return None

    def remove_internal_access_keys(self, account_id: str) -> int:
        with self._lock:
            gone = [
                key_id
                for key_id, entry in self._keys.items()
                if entry.internal and entry.key.account_id == account_id
            ]
            for key_id in gone:
                del self._keys[key_id]
            self._generation.bump()
            return len(gone)

    def get_access_key(self, key_id: str) -> tuple[AccessKey, bytes] | None:
        with self._lock:
            entry = self._keys.get(key_id)
            return (entry.key, entry.sealed) if entry is not None else None

    def list_access_keys(self, account_id: str) -> list[AccessKey]:
        with self._lock:
            keys = [
                e.key
                for e in self._keys.values()
                if e.key.account_id == account_id and not e.internal
            ]
        return sorted(keys, key=lambda k: (k.created_at, k.id.encode()))

    def _own_key(self, account_id: str, key_id: str) -> HeldKey | None:
        """The account's key ``key_id``, if it is one it may change (not the internal one)."""
        entry = self._keys.get(key_id)
        if entry is None or entry.internal or entry.key.account_id != account_id:
            return None
        return entry

    def set_access_key_status(self, account_id: str, key_id: str, status: str) -> bool:
        with self._lock:
            entry = self._own_key(account_id, key_id)
            if entry is not None:
                entry.key = replace(entry.key, status=status)
            self._generation.bump()
            return entry is not None

    def remove_access_key(self, account_id: str, key_id: str) -> bool:
        with self._lock:
            entry = self._own_key(account_id, key_id)
            if entry is not None:
                del self._keys[key_id]
            self._generation.bump()
            return entry is not None

    def sealed_secrets(self, after: str, limit: int) -> list[tuple[str, bytes]]:
        with self._lock:
            found = [(k.encode(), k, e.sealed) for k, e in self._keys.items()]
        found = sorted(item for item in found if item[0] > after.encode())
        return [(key_id, sealed) for _, key_id, sealed in take(found, limit)]

    def replace_sealed_secrets(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        replaced = 0
        with self._lock:
            for key_id, old, new in changes:
                # Compared with the old value: a key deleted or re-made meanwhile is left alone.
                entry = self._keys.get(key_id)
                if entry is not None and entry.sealed == old:
                    entry.sealed = bytes(new)
                    replaced += 1
        return replaced

    def bucket_names(self, bucket_ids: Iterable[str]) -> dict[str, str]:
        with self._lock:
            return {
                bucket_id: self._buckets[bucket_id].bucket.name
                for bucket_id in bucket_ids
                if bucket_id in self._buckets
            }
