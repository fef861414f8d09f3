"""In-memory views of keys, accounts and buckets, dropped whenever the database says they changed.

Every S3 request needs its key, its account and its bucket. Reading them from memory keeps the
hot path in microseconds; checking the database's auth generation (one indexed read) on each
request keeps a revocation immediate, also when another process made it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from nexq.core import loop_waits
from nexq.core.crypto import SecretBox
from nexq.core.generation import GenerationWatch
from nexq.core.identity import Account, Principal
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import AccessKey, Bucket


@dataclass(frozen=True, slots=True)
class Credential:
    """An access key with its secret in clear (memory only), its account, and the caller it
    makes of a request it signed (made once, with the cached key)."""

    key: AccessKey
    secret: str
    account: Account
    principal: Principal


S3_SCOPES = frozenset({"storage:read", "storage:write"})


class Directory:
    """Cached lookups of credentials and buckets, coherent with the database."""

    def __init__(
        self, store: MetadataStore, box: SecretBox, watch: GenerationWatch | None = None
    ) -> None:
        self._store = store
        self._box = box
        # Shared with the other caches of the process (limits), which trust what it last read.
        self.watch = watch if watch is not None else GenerationWatch(store.auth_generation)
        self._lock = threading.Lock()
        self._generation = -1
        self._credentials: dict[str, Credential | None] = {}
        self._buckets: dict[str, Bucket | None] = {}
        self._settings: dict[tuple[str, str], str | None] = {}

    def refresh(self) -> None:
        """Drop the caches if keys, accounts or buckets changed anywhere since the last call."""
        with loop_waits.awaitable():  # no lock is held here
            generation = self.watch.read()
        if generation != self._generation:
            with self._lock:
                self._credentials = {}
                self._buckets = {}
                self._settings = {}
                self._generation = generation

    def credential(self, key_id: str) -> Credential | None:
        """The credential for ``key_id`` (active or not), or None if no such key exists."""
        try:
            return self._credentials[key_id]
        except KeyError:
            pass
        found = self._store.get_access_key(key_id)
        credential = None
        if found is not None:
            key, sealed = found
            account = self._store.get_account(key.account_id)
            if account is not None:
                # An access key is a storage credential: every storage scope, limited to
                # the buckets granted to it (if it is limited).
                caller = Principal(account, S3_SCOPES, reaches=key.bucket_ids)
                credential = Credential(key, self._box.open(sealed, key.id), account, caller)
        self._credentials[key_id] = credential
        return credential

    def fresh_bucket(self, name: str) -> Bucket | None:
        """The bucket named ``name`` read from the store (the cache may predate it)."""
        self._buckets.pop(name, None)
        return self.bucket(name)

    def bucket(self, name: str) -> Bucket | None:
        """The bucket named ``name``, or None."""
        try:
            return self._buckets[name]
        except KeyError:
            pass
        bucket = self._store.get_bucket(name)
        if len(self._buckets) > 100_000:
            self._buckets = {}
        self._buckets[name] = bucket
        return bucket

    def setting(self, bucket: Bucket, name: str) -> str | None:
        """The bucket's configuration document ``name`` (policy, cors, lifecycle...), cached
        like the bucket: a change moves the auth generation, which drops the cache."""
        try:
            return self._settings[(bucket.id, name)]
        except KeyError:
            pass
        found = self._store.bucket_setting(bucket.id, name)
        if len(self._settings) > 100_000:
            self._settings = {}
        self._settings[(bucket.id, name)] = found
        return found
