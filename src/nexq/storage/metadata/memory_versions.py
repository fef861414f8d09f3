"""The in-memory store's noncurrent versions and delete markers (``object_versions`` in SQL):
per key, oldest first, each with the seq that orders it."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field

from nexq.storage.model import ObjectMeta


@dataclass
class Noncurrent:
    seq: int
    meta: ObjectMeta


@dataclass
class VersionShelf:
    """A bucket's versions other than the current objects, by UTF-8 key."""

    by_key: dict[bytes, list[Noncurrent]] = field(default_factory=dict)
    order: list[bytes] = field(default_factory=list)  # the keys of ``by_key``, sorted

    def __bool__(self) -> bool:
        return bool(self.by_key)

    def push(self, meta: ObjectMeta) -> None:
        """Add ``meta`` as the key's newest noncurrent version (or marker)."""
        key = meta.key.encode()
        stack = self.by_key.get(key)
        if stack is None:
            stack = self.by_key[key] = []
            bisect.insort(self.order, key)
        stack.append(Noncurrent(stack[-1].seq + 1 if stack else 1, meta))

    def of(self, key: bytes) -> list[Noncurrent]:
        return self.by_key.get(key, [])

    def newest(self, key: bytes) -> Noncurrent | None:
        stack = self.by_key.get(key)
        return stack[-1] if stack else None

    def find(self, key: bytes, version_id: str | None) -> Noncurrent | None:
        return next((n for n in self.of(key) if n.meta.version_id == version_id), None)

    def remove(self, key: bytes, version_id: str | None) -> ObjectMeta | None:
        """Take out the version ``version_id`` of ``key``, if there is one."""
        stack = self.by_key.get(key)
        found = self.find(key, version_id)
        if stack is None or found is None:
            return None
        stack.remove(found)
        if not stack:
            del self.by_key[key]
            del self.order[bisect.bisect_left(self.order, key)]
        return found.meta

    def metas(self) -> Iterator[ObjectMeta]:
        for stack in self.by_key.values():
            for entry in stack:
                yield entry.meta
