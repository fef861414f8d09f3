"""Key-encryption keys: random AES-256 keys that wrap the data keys of sealed blobs.

Every blob gets a data key of its own (``storage.blobs.sealed``), wrapped by one of these and
naming it by id in its header. These keys are kept in the ``data_keys`` table, sealed with
the master key (``core.crypto.SecretBox``), and a master-key rotation re-wraps them
(:class:`DataKeys` is a ``core.keyring.SealedStore``): a handful of rows, where re-wrapping
the blobs themselves would rewrite every blob's header, immutable and possibly still being
uploaded when the old master key is retired. So a blob sealed under any of them stays
readable across any number of rotations; none is ever deleted.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nexq.core import sql
from nexq.core.crypto import SecretBox

KEY_BYTES = 32
ID_BYTES = 8


class UnknownDataKey(LookupError):
    """A blob names a key-encryption key this installation does not hold."""


class DataKeyStore(Protocol):
    """Where the sealed key-encryption keys live (every node of an installation shares it)."""

    def data_keys(self) -> list[tuple[str, bytes]]:
        """Every (id, sealed key), oldest first."""
        ...

    def add_data_key(self, key_id: str, sealed: bytes, created_at: float) -> None: ...

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        """(id, sealed) with id > ``after``, in id order (for a rotation)."""
        ...

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Store each (id, old, new) where the value still is ``old``; how many."""
        ...


class SqlDataKeys:
    """:class:`DataKeyStore` in the metadata database (SQLite or PostgreSQL)."""

    def __init__(self, db: sql.Database) -> None:
        self._db = db

    def data_keys(self) -> list[tuple[str, bytes]]:
        rows = self._db.reader().execute("SELECT id, sealed FROM data_keys ORDER BY created_at, id")
        return [(str(r[0]), bytes(r[1])) for r in rows]

    def add_data_key(self, key_id: str, sealed: bytes, created_at: float) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO data_keys (id, sealed, created_at) VALUES (?, ?, ?)",
                (key_id, sealed, created_at),
            )
        )

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        rows = self._db.reader().execute(
            "SELECT id, sealed FROM data_keys WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
        return [(str(r[0]), bytes(r[1])) for r in rows]

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        def write(conn: sql.Connection) -> int:
            return sum(
                conn.execute(
                    "UPDATE data_keys SET sealed = ? WHERE id = ? AND sealed = ?", (new, kid, old)
                ).rowcount
                for kid, old, new in changes
            )

        return self._db.write(write)


class MemoryDataKeys:
    """:class:`DataKeyStore` in memory (use cases run without a database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[bytes, float]] = {}

    def data_keys(self) -> list[tuple[str, bytes]]:
        with self._lock:
            ordered = sorted(self._rows.items(), key=lambda item: (item[1][1], item[0]))
            return [(kid, sealed) for kid, (sealed, _) in ordered]

    def add_data_key(self, key_id: str, sealed: bytes, created_at: float) -> None:
        with self._lock:
            self._rows[key_id] = (sealed, created_at)

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        with self._lock:
            return [(k, self._rows[k][0]) for k in sorted(self._rows) if k > after][:limit]

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        done = 0
        with self._lock:
            for kid, old, new in changes:
                found = self._rows.get(kid)
                if found is not None and found[0] == old:
                    self._rows[kid] = (new, found[1])
                    done += 1
        return done


class DataKeys:
    """The installation's key-encryption keys, opened once per process and kept in memory."""

    sealed_label = "blob key-encryption keys"  # as `nexq admin master-key status` lists them

    def __init__(self, box: SecretBox, store: DataKeyStore) -> None:
        self._box = box
        self._store = store
        self._lock = threading.Lock()
        self._ciphers: dict[bytes, AESGCM] = {}
        self._current: bytes | None = None

    def current(self) -> tuple[bytes, AESGCM]:
        """The key new blobs are sealed under (made on first use): its id and cipher."""
        if self._current is None:
            with self._lock:
                if self._current is None:
                    self._load()
                    if not self._ciphers:
                        self._create()
                    # The oldest: processes that raced to make the first key agree on one.
                    self._current = next(iter(self._ciphers))
        return self._current, self._ciphers[self._current]

    def cipher(self, key_id: bytes) -> AESGCM:
        """The key ``key_id`` (read again if another process made it since)."""
        found = self._ciphers.get(key_id)
        if found is None:
            with self._lock:
                self._load()
            found = self._ciphers.get(key_id)
            if found is None:
                raise UnknownDataKey(f"no key-encryption key {key_id.hex()} in this installation")
        return found

    def _load(self) -> None:
        ciphers: dict[bytes, AESGCM] = {}
        for kid, sealed in self._store.data_keys():
            key = base64.b64decode(self._box.open(sealed, _context(kid)))
            ciphers[bytes.fromhex(kid)] = AESGCM(key)
        self._ciphers = ciphers

    def _create(self) -> None:
        kid = os.urandom(ID_BYTES).hex()
        text = base64.b64encode(os.urandom(KEY_BYTES)).decode()
        self._store.add_data_key(kid, self._box.seal(text, _context(kid)), time.time())
        self._load()

    # core.keyring.SealedStore: a master-key rotation re-wraps these rows.
    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        return [(_context(kid), s) for kid, s in self._store.sealed_page(_id(after), limit)]

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        return self._store.replace_sealed([(_id(ctx), old, new) for ctx, old, new in changes])


_PREFIX = "data key "


def _context(key_id: str) -> str:
    """What a key is sealed for (bound as associated data: a row cannot pass for another)."""
    return _PREFIX + key_id


def _id(context: str) -> str:
    return context.removeprefix(_PREFIX)
