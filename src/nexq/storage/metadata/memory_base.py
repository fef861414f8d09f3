"""What every part of the in-memory metadata store shares: its tables (dicts) and the one
lock they are changed under."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from nexq.core.generation import AuthGeneration
from nexq.core.identity import Account
from nexq.storage.errors import NoSuchBucket
from nexq.storage.metadata.memory_completions import CompletionLog
from nexq.storage.metadata.memory_versions import VersionShelf
from nexq.storage.model import AccessKey, Bucket, Counters, ObjectMeta, Part, Upload

T = TypeVar("T")
AccountLookup = Callable[[str], Account | None]


def _no_accounts(account_id: str) -> Account | None:
    return None


def take(items: list[T], limit: int) -> list[T]:
    # As SQL's LIMIT: a negative limit is no limit.
    return items if limit < 0 else items[:limit]


@dataclass
class HeldBucket:
    bucket: Bucket
    objects: dict[bytes, ObjectMeta] = field(default_factory=dict)  # by UTF-8 key
    order: list[bytes] = field(default_factory=list)  # the keys of ``objects``, sorted
    object_count: int = 0
    stored_bytes: int = 0
    shelf: VersionShelf = field(default_factory=VersionShelf)  # noncurrent versions, markers
    settings: dict[str, str] = field(default_factory=dict)  # configuration documents by name


@dataclass
class HeldUpload:
    upload: Upload
    parts: dict[int, Part] = field(default_factory=dict)
    key_deleted: bool = False  # as the SQL stores' uploads.key_deleted


@dataclass
class HeldKey:
    key: AccessKey
    sealed: bytes
    internal: bool


class MemoryBase:
    """The state of :class:`MemoryMetadata`; its parts (buckets, objects, deletions, uploads,
    access keys, usage, house-keeping) are mixins over it."""

    def __init__(
        self,
        accounts: AccountLookup = _no_accounts,
        generation: AuthGeneration | None = None,
        by_email: AccountLookup = _no_accounts,
    ) -> None:
        self._accounts = accounts
        self._by_email = by_email
        self._generation = generation if generation is not None else AuthGeneration()
        # Re-entrant: a lifecycle action decides and deletes under one hold of it.
        self._lock = threading.RLock()
        self._buckets: dict[str, HeldBucket] = {}  # by id
        self._names: dict[str, str] = {}  # bucket name -> id
        self._stored: dict[str, int] = {}  # each account's stored bytes
        self._uploads: dict[str, HeldUpload] = {}
        self._keys: dict[str, HeldKey] = {}
        self._garbage: set[str] = set()
        self._usage: dict[tuple[str, int, str], tuple[str, Counters]] = {}
        self._completed = CompletionLog()

    def _held(self, bucket_id: str) -> HeldBucket:
        held = self._buckets.get(bucket_id)
        if held is None:
            raise NoSuchBucket()  # deleted meanwhile: an object there could never be reached
        return held
