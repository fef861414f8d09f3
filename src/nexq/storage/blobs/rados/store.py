"""Blobs in a Ceph cluster, through librados: :class:`RadosBlobStore`, the blob store of
several Nexq nodes, and :func:`from_url`.

What the metadata layer must still guarantee across nodes: nothing more than today. A GET
that finds its blob gone at open() (FileNotFoundError) looks the object up again
(``storage.reader``); the janitor may delete a superseded blob at once, since the store
defers the bytes' removal itself. But :meth:`~RadosBlobStore.recover` removes every
temporary and every unreferenced committed blob: with several nodes, it must run with a
``recover_grace`` longer than any upload (so that another node's blobs in flight, written
but not yet committed or not yet referenced, are left alone), or only while no other node
writes.

Several processes: librados' threads do not survive ``fork``, so each process connects on
its first use (the server's parent recovers, then forks its workers).
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qsl, unquote, urlsplit

from nexq.storage.blobs.port import BlobWriter, Bytes, OpenBlob, copy_by_reading, read_blob
from nexq.storage.blobs.rados.housekeeping import Housekeeper, Timing
from nexq.storage.blobs.rados.layout import (
    COMMITTED,
    DELETED,
    HEADER,
    ID,
    LIST_WINDOW,
    STRIPE,
    STRIPE_NAME,
    TIME,
    WRITING,
    Header,
    remove_all,
    stripe_name,
)
from nexq.storage.blobs.rados.pool import Connection, Pending, Pool, Settings, mismatch
from nexq.storage.blobs.rados.reader import RadosOpenBlob
from nexq.storage.blobs.rados.writer import RadosBlobWriter

PREFETCH = 64 * 1024  # blob bytes read with the header by open()
_COPY_CHUNK = 8 * 1024 * 1024

# Connections made by a parent process, kept referenced in its forked children: freeing
# one there would call rados_shutdown on threads that do not exist in the child.
_INHERITED: list[object] = []


class RadosBlobStore:
    """:class:`BlobStore` in a RADOS pool (one namespace of it)."""

    def __init__(
        self,
        pool: str,
        *,
        conf: str | None = None,
        client_id: str | None = None,
        namespace: str = "",
        keyring: str | None = None,
        timeout: float = 60.0,
        stripe: int = STRIPE,
        delete_grace: float = 60.0,
        recover_grace: float = 0.0,
    ) -> None:
        if stripe <= 0 or stripe > 128 * 1024 * 1024 - HEADER.size:
            raise ValueError("stripe must be between 1 byte and 128 MiB")
        self.timing = Timing()
        if delete_grace < self.timing.lease_after + 1:
            raise ValueError(f"delete_grace must be longer than {self.timing.lease_after + 1} s")
        self.settings = Settings(pool, conf, client_id, namespace, keyring, timeout)
        self.stripe = stripe
        self.delete_grace = delete_grace
        self.recover_grace = recover_grace
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._keeper: Housekeeper | None = None
        # This process's writers neither committed nor aborted: temporaries, whether their
        # bytes are still in memory or have a head in the pool (recover() cuts them off).
        self._writing: dict[str, RadosBlobWriter] = {}
        self._connection()  # fail early on a wrong URL, a missing pool or key

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and conn.pid == os.getpid():
            return conn
        with self._lock:
            if self._conn is not None and self._conn.pid != os.getpid():
                _INHERITED.append(self._conn)
                self._conn = None
                self._keeper = None
                self._writing = {}  # the parent's
            if self._conn is None:
                self._conn = Connection(self.settings)
            return self._conn

    def _housekeeper(self) -> Housekeeper:
        conn = self._connection()
        with self._lock:
            if self._keeper is None or conn is not self._conn:
                self._keeper = Housekeeper(self)
            return self._keeper

    def close(self) -> None:
        """Stop the housekeeping and disconnect (deleted blobs not reaped yet are left to a
        later :meth:`recover`)."""
        with self._lock:
            if self._keeper is not None:
                self._keeper.stop()
            if self._conn is not None and self._conn.pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._keeper = None

    def writer(self) -> RadosBlobWriter:
        return RadosBlobWriter(self)

    def adopt(self, path: str) -> RadosBlobWriter:
        """A writer of the blob ``path``, a path another store (files) gave it: ``nexq admin
        move`` copies an embedded installation's blobs under their own paths, so that the
        metadata naming them moves unchanged. What an interrupted adoption of it left in the
        pool is replaced; so this is only for blobs that no metadata of this store names
        yet, and that nothing else writes."""
        if not ID.fullmatch(path):
            raise ValueError(f"not a blob path: {path}")
        return RadosBlobWriter(self, path)

    def open(self, path: str) -> RadosOpenBlob:
        if not ID.fullmatch(path):
            raise FileNotFoundError(errno.ENOENT, f"no blob {path}")
        data = self._connection().pool.read(path, HEADER.size + PREFETCH, 0)
        header = Header.parse(data)
        if header is None or header.state != COMMITTED:
            raise FileNotFoundError(errno.ENOENT, f"no blob {path}")
        first = data[HEADER.size : HEADER.size + min(header.size, header.stripe)]
        blob = RadosOpenBlob(self, path, header, first)
        if header.size > len(first):
            blob.kept = True
            self._housekeeper().opened(blob)
        return blob

    def read(self, path: str, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        return read_blob(self, path, offset, length, chunk)

    def copy_into(self, writer: BlobWriter, source: OpenBlob, offset: int, length: int) -> None:
        # RADOS copies only whole objects (copy-from, not in the Python binding either): the
        # bytes pass through here, a stripe's worth at a time, reads and writes in flight.
        copy_by_reading(writer, source, offset, length, _COPY_CHUNK)

    def delete(self, paths: Iterable[str]) -> None:
        pool = self._connection().pool
        now = time.time()
        marked: list[tuple[str, Pending]] = []
        for path in dict.fromkeys(paths):
            if not ID.fullmatch(path):
                continue
            # c → d and the deletion time, if still c; size and stripe stay, for the reaper.
            pending = pool.operate(
                path, expect=COMMITTED, writes=[(0, DELETED), (TIME, struct.pack("<d", now))],
                wait=False,
            )  # fmt: skip
            assert pending is not None
            marked.append((path, pending))
        deleted = []
        for path, pending in marked:
            try:
                pending.wait()
                deleted.append(path)
            except OSError as exc:
                if not mismatch(exc):  # missing, or deleted already: done
                    raise
        if deleted:
            self._housekeeper().reap_later(deleted, now + self.delete_grace)

    def _reap(self, pool: Pool, blob: str) -> float | None:
        """Remove a deleted blob whose grace is over and that nobody holds open; returns when
        to try again, or None when done (or when it is not a deleted blob)."""
        try:
            header = Header.parse(pool.read(blob, HEADER.size, 0))
        except FileNotFoundError:
            return None
        if header is None or header.state != DELETED:
            return None
        return self._remove_unless_leased(pool, blob, header)

    def _remove_unless_leased(self, pool: Pool, blob: str, header: Header) -> float | None:
        now = time.time()
        try:
            leases, version = pool.leases(blob)
        except FileNotFoundError:
            return None
        live = [expiry for value in leases.values() if (expiry := _float(value)) > now]
        if live:
            # Readers release their leases on close: look again well before they expire.
            return min(max(live) + 1, now + self.timing.renew)
        try:
            pool.operate(blob, version=version, remove=True)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ERANGE:  # changed since: a lease was just taken
                return now + self.timing.tick
            raise
        remove_all(pool, [stripe_name(blob, i) for i in range(header.stripes() - 1, 0, -1)])
        return None

    # --- inventory and recovery

    def _scan(self, pool: Pool) -> tuple[dict[str, Header | None], dict[str, list[int]]]:
        """Every head (its header, None if unreadable) and every stripe > 0, by blob id."""
        heads: list[str] = []
        stripes: dict[str, list[int]] = {}
        for name in pool.names():
            if ID.fullmatch(name):
                heads.append(name)
            elif found := STRIPE_NAME.fullmatch(name):
                stripes.setdefault(found["blob"], []).append(int(found["index"]))
        headers: dict[str, Header | None] = {}
        for start in range(0, len(heads), LIST_WINDOW):
            names = heads[start : start + LIST_WINDOW]
            batch = [(name, pool.aio_read(name, HEADER.size, 0)) for name in names]
            for name, pending in batch:
                try:
                    pending.wait()
                except FileNotFoundError:
                    continue  # removed meanwhile
                headers[name] = Header.parse(pending.data)
        return headers, stripes

    def _begin(self, writer: RadosBlobWriter) -> None:
        with self._lock:
            self._writing[writer.id] = writer

    def _end(self, writer: RadosBlobWriter) -> bool:
        """The writer is done; False if a recovery cut it off before."""
        with self._lock:
            return self._writing.pop(writer.id, None) is not None

    def _settle(self) -> set[str]:
        """This process's temporaries, once the heads they sent are made (so that a listing
        sees them)."""
        with self._lock:
            writers = list(self._writing.values())
        for writer in writers:
            with contextlib.suppress(Exception):
                writer.created()
        return {writer.id for writer in writers}

    def inventory(self) -> tuple[dict[str, tuple[int, float]], int]:
        local = self._settle()
        headers, stripes = self._scan(self._connection().pool)
        blobs = {
            name: (header.size, header.time)
            for name, header in headers.items()
            if header is not None and header.state == COMMITTED
        }
        temporaries = {
            name for name, header in headers.items() if header is None or header.state == WRITING
        }
        temporaries.update(name for name in stripes if name not in headers)
        return blobs, len(temporaries | local)

    def recover(self, referenced: set[str]) -> int:
        local = self._settle()
        pool = self._connection().new_pool()
        try:
            removed = self._recover(pool, referenced)
        finally:
            pool.close()
        if not self.recover_grace:
            # This process's writers are cut off too, those whose bytes are all still in
            # memory (nothing in the pool to remove, one temporary each) as those with a
            # head (removed above): their commit fails, as a renamed-away temporary would.
            with self._lock:
                for blob in local:
                    writer = self._writing.pop(blob, None)
                    if writer is not None and not writer.has_head:
                        removed += 1
        return removed

    def _recover(self, pool: Pool, referenced: set[str]) -> int:
        headers, stripes = self._scan(pool)
        now = time.time()
        old = now - self.recover_grace
        removed = 0
        for blob, header in headers.items():
            extra = sorted(stripes.get(blob, ()), reverse=True)
            if header is None:
                if self.recover_grace and pool.mtime(blob) > old:
                    continue
                remove_all(pool, [stripe_name(blob, i) for i in extra] + [blob])
                removed += 1
            elif header.state == WRITING:
                if header.time > old:
                    continue
                try:
                    # Only if still being written: a commit that won the race keeps it.
                    pool.operate(blob, expect=WRITING, remove=True)
                except OSError as exc:
                    if not mismatch(exc):
                        raise
                    continue
                remove_all(pool, [stripe_name(blob, i) for i in extra])
                removed += 1
            elif header.state == COMMITTED:
                if blob in referenced or header.time > old:
                    continue
                # Unreferenced: gone at once, unless a reader on some node holds it open.
                if self._remove_unless_leased(pool, blob, header) is None:
                    remove_all(pool, [stripe_name(blob, i) for i in extra])
                    removed += 1
            elif (
                # Deleted (already counted by whoever deleted it): finish the removal.
                header.time + self.delete_grace <= now
                and self._remove_unless_leased(pool, blob, header) is None
            ):
                remove_all(pool, [stripe_name(blob, i) for i in extra])
        for blob, indexes in stripes.items():
            if blob in headers:
                continue
            # Stripes without a head: a writer cut off, or a removal that stopped midway.
            names = [stripe_name(blob, i) for i in sorted(indexes, reverse=True)]
            if self.recover_grace and any(pool.mtime(name) > old for name in names):
                continue
            remove_all(pool, names)
            removed += 1
        return removed


def _float(value: bytes) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


# --- configuration ----------------------------------------------------------------------------

_PARAMETERS = {"conf", "id", "namespace", "keyring", "timeout", "delete_grace", "recover_grace"}


def from_url(url: str, subspace: str = "") -> RadosBlobStore:
    """``rados://POOL?conf=/etc/ceph/ceph.conf&id=nexq`` (the ``--blobs`` flag's form).

    Parameters: ``conf`` (default: librados' search, /etc/ceph/ceph.conf …), ``id`` (the
    cephx user without ``client.``, default ``admin``), ``keyring``, ``namespace`` (a RADOS
    namespace in the pool, so that several stores share one), ``timeout`` (seconds before a
    RADOS operation fails, 60; 0 waits forever), ``delete_grace`` (seconds, 60) and
    ``recover_grace`` (seconds, 3600 here, unlike the constructor's 0: a server's recovery
    must spare the uploads other nodes have in flight; see the module's documentation)."""
    parts = urlsplit(url)
    if parts.scheme != "rados" or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError(f"not a rados://POOL?… URL: {url}")
    params = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False))
    unknown = set(params) - _PARAMETERS
    if unknown:
        raise ValueError(f"unknown parameters in {url}: {', '.join(sorted(unknown))}")
    try:
        return RadosBlobStore(
            unquote(parts.netloc),
            conf=params.get("conf") or None,
            client_id=params.get("id") or None,
            # A service's own blobs (support's attachments) in a namespace beside the URL's.
            namespace="/".join(n for n in (params.get("namespace", ""), subspace) if n),
            keyring=params.get("keyring") or None,
            timeout=float(params.get("timeout", 60)),
            delete_grace=float(params.get("delete_grace", 60)),
            recover_grace=float(params.get("recover_grace", 3600)),
        )
    except ValueError as exc:
        raise ValueError(f"{url}: {exc}") from None
