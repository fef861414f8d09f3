"""House-keeping of the in-memory metadata store: the auth generation, garbage blobs, the
blobs referenced (fsck) and the counters checked and recounted."""

from __future__ import annotations

from collections.abc import Iterable

from nexq.storage.blobs.inline import is_inline
from nexq.storage.metadata.memory_base import HeldBucket, MemoryBase, take


class MemoryHousekeeping(MemoryBase):
    """The auth generation, garbage, referenced blobs, counter drift."""

    # house-keeping ----------------------------------------------------------------------
    def auth_generation(self) -> int:
        return self._generation.value

    def garbage(self, limit: int) -> list[str]:
        with self._lock:
            # An inline blob went with its row: nothing for the janitor to delete.
            kept = (p for p in self._garbage if not is_inline(p))
            return take(sorted(kept, key=str.encode), limit)

    def forget_garbage(self, paths: Iterable[str]) -> None:
        with self._lock:
            self._garbage.difference_update(paths)

    def referenced_paths(self) -> set[str]:
        paths = set(self.blob_sizes())
        with self._lock:
            paths.update(self._garbage)
        return paths

    def blob_sizes(self) -> dict[str, int]:
        with self._lock:
            sizes = {p.path: p.size for u in self._uploads.values() for p in u.parts.values()}
            for held in self._buckets.values():
                for meta in [*held.objects.values(), *held.shelf.metas()]:
                    sizes.update((s.path, s.size) for s in meta.segments)
            return {p: s for p, s in sizes.items() if not is_inline(p)}

    def counter_drift(self) -> list[str]:
        with self._lock:
            return self._drift()

    def _drift(self) -> list[str]:
        """Counters that differ from what the objects add up to (none, unless a bug)."""
        lines = []
        held_by: dict[str, int] = {}
        for held in self._buckets.values():
            count, stored = len(held.objects), _bytes(held)
            owner = held.bucket.account_id
            held_by[owner] = held_by.get(owner, 0) + stored
            if (held.object_count, held.stored_bytes) != (count, stored):
                lines.append(
                    f"bucket {held.bucket.name}: counted {held.object_count} objects, "
                    f"{held.stored_bytes} bytes; holds {count} objects, {stored} bytes"
                )
        for account_id in sorted(self._stored.keys() | held_by.keys()):
            counted, holds = self._stored.get(account_id, 0), held_by.get(account_id, 0)
            if counted != holds:
                account = self._accounts(account_id)
                name = account.email if account is not None else account_id
                lines.append(f"account {name}: counted {counted} bytes; holds {holds} bytes")
        return lines

    def recount(self) -> list[str]:
        with self._lock:
            drift = self._drift()
            if drift:
                for held in self._buckets.values():
                    held.object_count = len(held.objects)
                    held.stored_bytes = _bytes(held)
                self._stored = {account_id: 0 for account_id in self._stored}
                for held in self._buckets.values():
                    owner = held.bucket.account_id
                    self._stored[owner] = self._stored.get(owner, 0) + held.stored_bytes
            return drift


def _bytes(held: HeldBucket) -> int:
    """What the bucket's objects and noncurrent versions hold."""
    return sum(m.size for m in held.objects.values()) + sum(m.size for m in held.shelf.metas())
