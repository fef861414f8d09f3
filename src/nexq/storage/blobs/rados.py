"""Blobs in a Ceph cluster, through librados: the blob store of several Nexq nodes.

Layout. A blob is named by a random id (32 hex digits, the path :meth:`commit` returns) and
cut in stripes of ``stripe`` bytes (4 MiB unless told: RBD's and RGW's object size, large
enough that one operation moves data at the cluster's pace, small enough that a writer keeps
several in flight with little memory, far below ``osd_max_object_size``, 128 MiB). Stripe 0
lives in the blob's *head*, the object named by the id, after a 32-byte header (state,
stripe size, blob size, time); stripe ``n`` > 0 in the object ``<id>.<n>``. A blob of up to
one stripe is therefore one object: written by one operation, read by one. A blob copied
from a file store by :meth:`~RadosBlobStore.adopt` keeps that store's path (``ab/abcd…``)
as its head's name instead of a new id.

Writing. A blob of up to one stripe stays in the writer's memory, and its commit writes it
whole, header and bytes, in one operation made with exclusive creation: nothing of it is in
the pool before it is committed, so a node that dies then leaves nothing to collect (until
then it is a temporary of this process: :meth:`~RadosBlobStore.inventory` counts it and
:meth:`~RadosBlobStore.recover` cuts it off, so that its commit fails). A larger blob gets
its head with its first full stripe, in state ``w``; its stripes go out as they fill, several
in flight, and the commit waits until RADOS acknowledged every one (acknowledged = durable
on the OSDs' disks) before it turns ``w`` into ``c`` in one operation that fails if the head
is no longer ``w``, so a writer cut off by a recovery cannot commit. A node that dies
mid-write leaves a ``w`` head and stripes (or stripes only, if the head's creation was lost:
RADOS orders one client's operations on one object, not across objects): both are
temporaries to inventory() and recover().

States, in the header's first byte, changed only by compare-and-write operations (RADOS
applies an operation's steps atomically on one object): ``w`` writing, ``c`` committed,
``d`` deleted: :meth:`~RadosBlobStore.delete` marks the head; the blob can no longer be
opened, but its objects stay for ``delete_grace`` seconds (60) and as long as a reader holds
a lease on it, then are removed ("reaped") by a housekeeping thread, or, if this process
ends first, by a later recover() (on any node).

Readers. :meth:`~RadosBlobStore.open` reads the head's header and the blob's first 64 KiB in
one operation: a small blob is then read whole from memory. A larger one is read stripe by
stripe, only the stripes and bytes the range needs, several requests in flight. The port
promises that an open blob reads whole until it is closed, even once deleted, on whichever
node deletes it. Within the grace a deleted blob's objects are all still there; a reader
still open ``lease_after`` seconds (5) after opening writes a lease into the head's omap
(``lease.<cookie>`` = expiry, renewed every 40 s for 120 s) from a housekeeping thread, and a
head is removed only by a version-checked operation after reading no live lease in it. So a
blob stays readable until closed as long as the reader's process lives (a dead one's lease
expires) and the nodes' clocks agree within ``delete_grace - lease_after`` seconds.

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
import heapq
import importlib
import logging
import math
import os
import re
import struct
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from nexq.core.errors import full_disk_named
from nexq.storage.blobs.port import BlobWriter, OpenBlob

STRIPE = 4 * 1024 * 1024
HEADER = struct.Struct("<c3sIQd8x")  # state, magic, stripe size, blob size, time; 32 bytes
_TIME = 16  # the time's offset in the header
_CMPEXT_MISMATCH = 4095  # librados' MAX_ERRNO: a failed compare is -(4095 + offset)
MAGIC = b"NXQ"
WRITING, COMMITTED, DELETED = b"w", b"c", b"d"
WRITE_WINDOW = 4  # stripes in flight per writer
READ_WINDOW = 4  # requests in flight per reader
PREFETCH = 64 * 1024  # blob bytes read with the header by open()
LIST_WINDOW = 256  # header reads in flight while taking an inventory
# A blob's path is its head's name, and ``<path>.<n>`` its stripe n > 0. A blob written here
# is named by a random id (32 hex digits); one adopted from a file store (:meth:`adopt`, for
# ``nexq admin move``) keeps that store's path, ``<the id's first two digits>/<id>``, so that
# the metadata naming it needs no change. Object names may hold a "/": the mapping from path
# to names is the identity, and either form parses back.
_PATH = r"(?:(?P<fan>[0-9a-f]{2})/(?=(?P=fan)))?[0-9a-f]{32}"
_ID = re.compile(_PATH)
_STRIPE_NAME = re.compile(rf"(?P<blob>{_PATH})\.(?P<index>[1-9][0-9]*)")
_COPY_CHUNK = 8 * 1024 * 1024

log = logging.getLogger("nexq.storage.blobs")

# Connections made by a parent process, kept referenced in its forked children: freeing
# one there would call rados_shutdown on threads that do not exist in the child.
_INHERITED: list[object] = []
_RELEASING = threading.Lock()


# --- librados, typed ----------------------------------------------------------------------


def _os_error(exc: BaseException, what: str) -> OSError:
    code = getattr(exc, "errno", None) or errno.EIO
    if code == errno.ENOENT:
        return FileNotFoundError(code, f"{what}: {exc}")
    return OSError(code, f"{what}: {exc}")


def _errno_error(code: int, what: str) -> OSError:
    if code == errno.ENOENT:
        return FileNotFoundError(code, f"{what}: {os.strerror(code)}")
    reason = "compared bytes differ" if code >= _CMPEXT_MISMATCH else os.strerror(code)
    return OSError(code, f"{what}: {reason}")


class _Pending:
    """One asynchronous operation: :meth:`wait` returns its result or raises OSError."""

    def __init__(self, completion: Any, what: str, cleanup: Callable[[], None] | None = None):
        self._completion = completion
        self._what = what
        self._cleanup = cleanup
        self.data: bytes = b""

    def received(self, _completion: Any, data: bytes | None) -> None:
        self.data = data or b""

    def wait(self) -> int:
        self._completion.wait_for_complete_and_cb()
        result: int = self._completion.get_return_value()
        if self._cleanup is not None:
            with _RELEASING:  # waited for by two threads (a writer's head): released once
                if self._cleanup is not None:
                    self._cleanup()
                    self._cleanup = None
        if result < 0:
            raise _errno_error(-result, self._what)
        return result


class _Pool:
    """The librados calls this module makes, behind types; errors become OSError
    (FileNotFoundError for a missing object)."""

    def __init__(self, rados: Any, ioctx: Any) -> None:
        self._rados = rados
        self._io = ioctx

    def read(self, name: str, length: int, offset: int) -> bytes:
        try:
            data: bytes = self._io.read(name, length, offset)
        except self._rados.Error as exc:
            raise _os_error(exc, f"read {name}") from None
        return data

    def aio_read(self, name: str, length: int, offset: int) -> _Pending:
        pending = _Pending(None, f"read {name}")
        try:
            pending._completion = self._io.aio_read(name, length, offset, pending.received)
        except self._rados.Error as exc:
            raise _os_error(exc, f"read {name}") from None
        return pending

    def aio_write(self, name: str, data: bytes, offset: int) -> _Pending:
        try:
            return _Pending(self._io.aio_write(name, data, offset), f"write {name}")
        except self._rados.Error as exc:
            raise _os_error(exc, f"write {name}") from None

    def aio_write_full(self, name: str, data: bytes) -> _Pending:
        try:
            return _Pending(self._io.aio_write_full(name, data), f"write {name}")
        except self._rados.Error as exc:
            raise _os_error(exc, f"write {name}") from None

    def aio_remove(self, name: str) -> _Pending:
        try:
            return _Pending(self._io.aio_remove(name), f"remove {name}")
        except self._rados.Error as exc:
            raise _os_error(exc, f"remove {name}") from None

    def operate(
        self,
        name: str,
        *,
        create: bool = False,
        expect: bytes | None = None,
        version: int | None = None,
        write_full: bytes | None = None,
        writes: Iterable[tuple[int, bytes]] = (),
        set_omap: dict[str, bytes] | None = None,
        assert_exists: str | None = None,
        remove_omap: Iterable[str] = (),
        remove: bool = False,
        wait: bool = True,
    ) -> _Pending | None:
        """One compound write on one object, applied whole or not at all: ``expect`` compares
        the object's first bytes (a missing object never matches), ``version`` its version,
        ``assert_exists`` removes an omap key first, which fails on a missing object (so the
        operation never creates one). ``writes`` are (offset, bytes)."""
        op = self._io.create_write_op()
        try:
            if create:
                op.new(self._rados.LIBRADOS_CREATE_EXCLUSIVE)
            if expect is not None:
                op.cmpext(expect, 0)
            if version is not None:
                op.assert_version(version)
            if assert_exists is not None:
                self._io.remove_omap_keys(op, (assert_exists,))
            if write_full is not None:
                op.write_full(write_full)
            for offset, data in writes:
                op.write(data, offset)
            if set_omap:
                self._io.set_omap(op, tuple(set_omap), tuple(set_omap.values()))
            if remove_omap:
                self._io.remove_omap_keys(op, tuple(remove_omap))
            if remove:
                op.remove()
            if not wait:
                completion = self._io.operate_aio_write_op(op, name)
                return _Pending(completion, f"update {name}", lambda: self._io.release_write_op(op))
            self._io.operate_write_op(op, name)
        except self._rados.Error as exc:
            self._io.release_write_op(op)
            raise _os_error(exc, f"update {name}") from None
        self._io.release_write_op(op)
        return None

    def leases(self, name: str) -> tuple[dict[str, bytes], int]:
        """The head's omap entries named ``lease.*`` and the version they were read at (this
        pool's connection must not be shared with other threads: versions are per handle)."""
        op = self._io.create_read_op()
        try:
            found, _ = self._io.get_omap_vals(op, "", "lease.", 100_000)
            self._io.operate_read_op(op, name)
            leases = {key: bytes(value) for key, value in found}
            version: int = self._io.get_last_version()
        except self._rados.Error as exc:
            raise _os_error(exc, f"read {name}") from None
        finally:
            self._io.release_read_op(op)
        return leases, version

    def names(self) -> Iterator[str]:
        try:
            for entry in self._io.list_objects():
                yield entry.key
        except self._rados.Error as exc:
            raise _os_error(exc, "list objects") from None

    def mtime(self, name: str) -> float:
        try:
            _, when = self._io.stat(name)
        except self._rados.Error as exc:
            raise _os_error(exc, f"stat {name}") from None
        return time.mktime(when)  # the binding gives local time

    def close(self) -> None:
        self._io.close()


@dataclass(frozen=True)
class _Settings:
    pool: str
    conf: str | None
    client_id: str | None
    namespace: str
    keyring: str | None
    timeout: float


class _Connection:
    """One process's librados client and its I/O context on the pool."""

    def __init__(self, settings: _Settings) -> None:
        self.pid = os.getpid()
        self.settings = settings
        self.rados: Any = importlib.import_module("rados")
        # Connected from a thread of its own: a client made on a forked worker's main thread
        # got the same messenger address as its parent's, so two workers' connections to the
        # OSD kept replacing each other (retried operations, 4x the OSD's CPU; bench notes).
        failed: list[BaseException] = []

        def connect() -> None:
            try:
                self._connect()
            except BaseException as exc:
                failed.append(exc)

        thread = threading.Thread(target=connect, name="nexq-rados-connect")
        thread.start()
        thread.join()
        if failed:
            raise failed[0]

    def _connect(self) -> None:
        settings = self.settings
        timeout = math.ceil(settings.timeout)  # whole seconds: librados refuses "60.0"
        try:
            # conffile None: librados' own search ($CEPH_CONF, /etc/ceph/ceph.conf …).
            self.cluster: Any = self.rados.Rados(
                conffile=settings.conf, rados_id=settings.client_id
            )
            if settings.keyring:
                self.cluster.conf_set("keyring", settings.keyring)
            if timeout:
                self.cluster.conf_set("rados_osd_op_timeout", str(timeout))
                self.cluster.conf_set("rados_mon_op_timeout", str(timeout))
            self.cluster.connect(timeout=timeout)
            self.pool = self.new_pool()
        except self.rados.Error as exc:
            where = settings.conf or "the default ceph.conf"
            raise _os_error(exc, f"RADOS pool {settings.pool} (from {where})") from None

    def new_pool(self) -> _Pool:
        """An I/O context of its own (for a thread that needs object versions)."""
        ioctx = self.cluster.open_ioctx(self.settings.pool)
        ioctx.set_namespace(self.settings.namespace)
        return _Pool(self.rados, ioctx)

    def close(self) -> None:
        self.pool.close()
        self.cluster.shutdown()


@dataclass(frozen=True)
class Timing:
    """The housekeeping's periods, in seconds (tests shorten them)."""

    lease_after: float = 5.0  # a reader open this long takes a lease
    lease: float = 120.0  # a lease's length …
    renew: float = 40.0  # … renewed this often
    tick: float = 1.0  # the housekeeping thread's period


# --- headers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    state: bytes
    stripe: int
    size: int
    time: float

    def pack(self) -> bytes:
        return HEADER.pack(self.state, MAGIC, self.stripe, self.size, self.time)

    @classmethod
    def parse(cls, data: bytes) -> _Header | None:
        if len(data) < HEADER.size:
            return None
        state, magic, stripe, size, when = HEADER.unpack_from(data)
        if magic != MAGIC or state not in (WRITING, COMMITTED, DELETED) or stripe <= 0:
            return None
        return cls(state, stripe, size, when)

    def stripes(self) -> int:
        return max(1, -(-self.size // self.stripe))


def _stripe_name(blob: str, index: int) -> str:
    return blob if index == 0 else f"{blob}.{index}"


# --- writing ------------------------------------------------------------------------------


class RadosBlobWriter:
    """Writes one blob. Up to one stripe, the bytes wait in memory and :meth:`commit` writes
    them with the committed header in a single operation. Beyond, the head is made (``w``)
    with the first full stripe, stripes go out as they fill, several in flight, and
    :meth:`commit` waits for every acknowledgement before it turns ``w`` into ``c``."""

    def __init__(self, store: RadosBlobStore, path: str | None = None) -> None:
        self._store = store
        self._pool = store._connection().pool
        self._stripe = store.stripe
        self.id = path or uuid.uuid4().hex
        # A new id's head is created exclusively; an adopted path's replaces what an
        # interrupted adoption of the same blob left there (:meth:`RadosBlobStore.adopt`).
        self._exclusive = path is None
        self._buffer = bytearray()
        self._index = 0  # the stripe being filled
        self._pending: deque[_Pending] = deque()
        self._created: _Pending | None = None  # the head's creation, once sent
        self._size = 0
        self._open = True
        store._begin(self)

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | memoryview) -> None:
        if not self._open:
            raise ValueError(f"blob {self.id} is no longer being written")
        view = memoryview(data).cast("B")
        self._size += len(view)
        while view:
            room = self._stripe - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == self._stripe:
                self._flush()

    def _flush(self) -> None:
        data = bytes(self._buffer)
        self._buffer = bytearray()
        if self._index == 0:
            # The head first, then stripe 0 into it: RADOS applies one client's operations
            # on one object in order, so neither waits for the other. Stripes > 0 may land
            # before the head: stripes without a head are garbage to recover().
            header = _Header(WRITING, self._stripe, 0, time.time()).pack()
            self._created = self._pool.operate(
                self.id, create=self._exclusive, write_full=header, wait=False
            )
            pending = self._pool.aio_write(self.id, data, HEADER.size)
        else:
            pending = self._pool.aio_write_full(_stripe_name(self.id, self._index), data)
        self._index += 1
        self._pending.append(pending)
        while len(self._pending) > WRITE_WINDOW:
            with full_disk_named():
                self._pending.popleft().wait()

    @property
    def has_head(self) -> bool:
        return self._created is not None

    def created(self) -> None:
        """Wait until the head exists, if it was sent (raises what prevented it)."""
        if self._created is not None:
            with full_disk_named():
                self._created.wait()

    def commit(self) -> str:
        if not self._open:
            raise ValueError(f"blob {self.id} is no longer being written")
        try:
            if not self._store._end(self):
                raise FileNotFoundError(
                    errno.ENOENT, f"temporary blob {self.id} is gone (removed by a recovery)"
                )
            with full_disk_named():
                header = _Header(COMMITTED, self._stripe, self._size, time.time()).pack()
                if self._index == 0:
                    # One stripe at most: made, filled and committed in one operation.
                    self._pool.operate(
                        self.id, create=self._exclusive, write_full=header + self._buffer
                    )
                else:
                    if self._buffer:
                        self._flush()
                    self.created()
                    while self._pending:
                        self._pending.popleft().wait()
                    self._pool.operate(self.id, expect=WRITING, writes=[(0, header)])
        except Exception as exc:
            self.abort()
            if isinstance(exc, OSError) and _mismatch(exc):  # not "w" any more
                raise FileNotFoundError(
                    errno.ENOENT, f"temporary blob {self.id} is gone (removed by a recovery)"
                ) from None
            raise
        self._open = False
        self._buffer = bytearray()
        return self.id

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        self._buffer = bytearray()
        self._store._end(self)
        with contextlib.suppress(Exception):
            self.created()
        while self._pending:
            with contextlib.suppress(OSError):
                self._pending.popleft().wait()
        if self._index:
            names = [_stripe_name(self.id, i) for i in range(self._index, -1, -1)]
            _remove_all(self._pool, names)  # the head last


def _remove_all(pool: _Pool, names: list[str]) -> None:
    """Remove objects, several at a time; missing ones are fine."""
    for start in range(0, len(names), LIST_WINDOW):
        pending = [pool.aio_remove(name) for name in names[start : start + LIST_WINDOW]]
        for one in pending:
            with contextlib.suppress(FileNotFoundError):
                one.wait()


# --- reading ------------------------------------------------------------------------------


class RadosOpenBlob:
    """A blob opened for reading; its first bytes came with its header."""

    def __init__(self, store: RadosBlobStore, blob: str, header: _Header, first: bytes):
        self._store = store
        self._pool = store._connection().pool
        self.id = blob
        self.size = header.size
        self._stripe = header.stripe
        self._first = first  # the blob's bytes [0, len(first))
        self._closed = False
        self.opened = time.monotonic()
        self.cookie = uuid.uuid4().hex
        self.leased = 0.0  # when the lease was last written (monotonic), 0 if never
        self.lease_lost = False
        self.kept = False  # by the housekeeper, for its lease (read past the first bytes)

    def read(self, offset: int, length: int, chunk: int) -> Iterator[bytes]:
        if self._closed:
            raise ValueError(f"blob {self.id} is closed")
        if offset < 0 or length < 0 or offset + length > self.size:
            raise OSError(f"blob {self.id} holds {self.size} bytes, not {offset + length}")
        if offset < len(self._first) and length:
            take = min(length, len(self._first) - offset)
            yield from _pieces(memoryview(self._first)[offset : offset + take], chunk)
            offset += take
            length -= take
        requests = self._requests(offset, length)
        pending: deque[tuple[_Pending, int]] = deque()

        def send() -> None:
            request = next(requests, None)
            if request is not None:
                name, within, count = request
                pending.append((self._pool.aio_read(name, count, within), count))

        for _ in range(READ_WINDOW):
            send()
        while pending:
            reply, count = pending.popleft()
            try:
                reply.wait()
            except FileNotFoundError:
                raise OSError(f"blob {self.id} lost a stripe (removed while open?)") from None
            if len(reply.data) != count:
                raise OSError(f"blob {self.id} is shorter than its header says")
            send()
            yield from _pieces(memoryview(reply.data), chunk)

    def _requests(self, offset: int, length: int) -> Iterator[tuple[str, int, int]]:
        """(object, offset in it, byte count) for each stripe the range crosses."""
        while length > 0:
            index, within = divmod(offset, self._stripe)
            count = min(length, self._stripe - within)
            yield _stripe_name(self.id, index), within + (HEADER.size if index == 0 else 0), count
            offset += count
            length -= count

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._first = b""
        if self.kept:
            self._store._housekeeper().closed(self)

    @property
    def closed(self) -> bool:
        return self._closed


def _pieces(data: memoryview, chunk: int) -> Iterator[bytes]:
    for start in range(0, len(data), chunk):
        yield bytes(data[start : start + chunk])


# --- housekeeping: leases of open blobs, removal of deleted ones ----------------------------


class _Housekeeper:
    """A thread, while there is work: renews the leases of blobs open long enough and
    removes deleted blobs once their grace is over."""

    def __init__(self, store: RadosBlobStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        # Weak: a reader dropped without close() (a response abandoned) stops renewing its
        # lease when it is collected, and the lease then expires.
        self._open: weakref.WeakValueDictionary[int, RadosOpenBlob] = weakref.WeakValueDictionary()
        self._reaps: list[tuple[float, str]] = []  # (due, blob id), a heap
        self._thread: threading.Thread | None = None
        self._stopped = False

    def opened(self, blob: RadosOpenBlob) -> None:
        with self._lock:
            self._open[id(blob)] = blob
            self._start()

    def closed(self, blob: RadosOpenBlob) -> None:
        with self._lock:
            self._open.pop(id(blob), None)
        if blob.leased and not blob.lease_lost:
            # A lease left behind (an error here, a process killed) only delays the removal
            # until it expires. Removing omap keys never creates the object.
            with contextlib.suppress(OSError):
                self._store._connection().pool.operate(
                    blob.id, remove_omap=[f"lease.{blob.cookie}"]
                )

    def reap_later(self, blobs: Iterable[str], due: float) -> None:
        with self._lock:
            for blob in blobs:
                heapq.heappush(self._reaps, (due, blob))
            self._start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._open.clear()
            self._reaps.clear()

    def _start(self) -> None:
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="nexq-rados", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        pool: _Pool | None = None
        try:
            while True:
                time.sleep(self._store.timing.tick)
                with self._lock:
                    if self._stopped or (not self._open and not self._reaps):
                        return
                    blobs = list(self._open.values())
                    due: list[str] = []
                    while self._reaps and self._reaps[0][0] <= time.time():
                        due.append(heapq.heappop(self._reaps)[1])
                for blob in blobs:
                    self._lease(blob)
                if due:
                    pool = pool or self._store._connection().new_pool()
                    for blob_id in due:
                        try:
                            later = self._store._reap(pool, blob_id)
                        except Exception:
                            log.exception(
                                "removing the deleted blob %s (tried again later)", blob_id
                            )
                            later = time.time() + self._store.timing.renew
                        if later is not None:
                            self.reap_later([blob_id], later)
        finally:
            with self._lock:
                self._thread = None
                if not self._stopped and (self._open or self._reaps):
                    self._start()  # ended by an error: the work is still there
            if pool is not None:
                pool.close()

    def _lease(self, blob: RadosOpenBlob) -> None:
        timing = self._store.timing
        now = time.monotonic()
        if blob.closed or blob.lease_lost or now - blob.opened < timing.lease_after:
            return
        if blob.leased and now - blob.leased < timing.renew:
            return
        key = f"lease.{blob.cookie}"
        expiry = str(time.time() + timing.lease).encode()
        try:
            # Never creates the head: removing the key first fails on a missing object.
            self._store._connection().pool.operate(
                blob.id, assert_exists=key, set_omap={key: expiry}
            )
            blob.leased = now
        except FileNotFoundError:
            blob.lease_lost = True  # reaped already: reads past the prefetch will fail
        except OSError:
            log.warning("could not renew the lease on blob %s", blob.id, exc_info=True)


# --- the store ------------------------------------------------------------------------------


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
        self.settings = _Settings(pool, conf, client_id, namespace, keyring, timeout)
        self.stripe = stripe
        self.delete_grace = delete_grace
        self.recover_grace = recover_grace
        self._lock = threading.Lock()
        self._conn: _Connection | None = None
        self._keeper: _Housekeeper | None = None
        # This process's writers neither committed nor aborted: temporaries, whether their
        # bytes are still in memory or have a head in the pool (recover() cuts them off).
        self._writing: dict[str, RadosBlobWriter] = {}
        self._connection()  # fail early on a wrong URL, a missing pool or key

    def _connection(self) -> _Connection:
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
                self._conn = _Connection(self.settings)
            return self._conn

    def _housekeeper(self) -> _Housekeeper:
        conn = self._connection()
        with self._lock:
            if self._keeper is None or conn is not self._conn:
                self._keeper = _Housekeeper(self)
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
        if not _ID.fullmatch(path):
            raise ValueError(f"not a blob path: {path}")
        return RadosBlobWriter(self, path)

    def open(self, path: str) -> RadosOpenBlob:
        if not _ID.fullmatch(path):
            raise FileNotFoundError(errno.ENOENT, f"no blob {path}")
        data = self._connection().pool.read(path, HEADER.size + PREFETCH, 0)
        header = _Header.parse(data)
        if header is None or header.state != COMMITTED:
            raise FileNotFoundError(errno.ENOENT, f"no blob {path}")
        first = data[HEADER.size : HEADER.size + min(header.size, header.stripe)]
        blob = RadosOpenBlob(self, path, header, first)
        if header.size > len(first):
            blob.kept = True
            self._housekeeper().opened(blob)
        return blob

    def read(self, path: str, offset: int, length: int, chunk: int) -> Iterator[bytes]:
        blob = self.open(path)
        try:
            yield from blob.read(offset, length, chunk)
        finally:
            blob.close()

    def copy_into(self, writer: BlobWriter, source: OpenBlob, offset: int, length: int) -> None:
        # RADOS copies only whole objects (copy-from, not in the Python binding either): the
        # bytes pass through here, a stripe's worth at a time, reads and writes in flight.
        for data in source.read(offset, length, _COPY_CHUNK):
            writer.write(data)

    def delete(self, paths: Iterable[str]) -> None:
        pool = self._connection().pool
        now = time.time()
        marked: list[tuple[str, _Pending]] = []
        for path in dict.fromkeys(paths):
            if not _ID.fullmatch(path):
                continue
            # c → d and the deletion time, if still c; size and stripe stay, for the reaper.
            pending = pool.operate(
                path, expect=COMMITTED, writes=[(0, DELETED), (_TIME, struct.pack("<d", now))],
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
                if not _mismatch(exc):  # missing, or deleted already: done
                    raise
        if deleted:
            self._housekeeper().reap_later(deleted, now + self.delete_grace)

    def _reap(self, pool: _Pool, blob: str) -> float | None:
        """Remove a deleted blob whose grace is over and that nobody holds open; returns when
        to try again, or None when done (or when it is not a deleted blob)."""
        try:
            header = _Header.parse(pool.read(blob, HEADER.size, 0))
        except FileNotFoundError:
            return None
        if header is None or header.state != DELETED:
            return None
        return self._remove_unless_leased(pool, blob, header)

    def _remove_unless_leased(self, pool: _Pool, blob: str, header: _Header) -> float | None:
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
        _remove_all(pool, [_stripe_name(blob, i) for i in range(header.stripes() - 1, 0, -1)])
        return None

    # --- inventory and recovery

    def _scan(self, pool: _Pool) -> tuple[dict[str, _Header | None], dict[str, list[int]]]:
        """Every head (its header, None if unreadable) and every stripe > 0, by blob id."""
        heads: list[str] = []
        stripes: dict[str, list[int]] = {}
        for name in pool.names():
            if _ID.fullmatch(name):
                heads.append(name)
            elif found := _STRIPE_NAME.fullmatch(name):
                stripes.setdefault(found["blob"], []).append(int(found["index"]))
        headers: dict[str, _Header | None] = {}
        for start in range(0, len(heads), LIST_WINDOW):
            names = heads[start : start + LIST_WINDOW]
            batch = [(name, pool.aio_read(name, HEADER.size, 0)) for name in names]
            for name, pending in batch:
                try:
                    pending.wait()
                except FileNotFoundError:
                    continue  # removed meanwhile
                headers[name] = _Header.parse(pending.data)
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

    def _recover(self, pool: _Pool, referenced: set[str]) -> int:
        headers, stripes = self._scan(pool)
        now = time.time()
        old = now - self.recover_grace
        removed = 0
        for blob, header in headers.items():
            extra = sorted(stripes.get(blob, ()), reverse=True)
            if header is None:
                if self.recover_grace and pool.mtime(blob) > old:
                    continue
                _remove_all(pool, [_stripe_name(blob, i) for i in extra] + [blob])
                removed += 1
            elif header.state == WRITING:
                if header.time > old:
                    continue
                try:
                    # Only if still being written: a commit that won the race keeps it.
                    pool.operate(blob, expect=WRITING, remove=True)
                except OSError as exc:
                    if not _mismatch(exc):
                        raise
                    continue
                _remove_all(pool, [_stripe_name(blob, i) for i in extra])
                removed += 1
            elif header.state == COMMITTED:
                if blob in referenced or header.time > old:
                    continue
                # Unreferenced: gone at once, unless a reader on some node holds it open.
                if self._remove_unless_leased(pool, blob, header) is None:
                    _remove_all(pool, [_stripe_name(blob, i) for i in extra])
                    removed += 1
            elif (
                # Deleted (already counted by whoever deleted it): finish the removal.
                header.time + self.delete_grace <= now
                and self._remove_unless_leased(pool, blob, header) is None
            ):
                _remove_all(pool, [_stripe_name(blob, i) for i in extra])
        for blob, indexes in stripes.items():
            if blob in headers:
                continue
            # Stripes without a head: a writer cut off, or a removal that stopped midway.
            names = [_stripe_name(blob, i) for i in sorted(indexes, reverse=True)]
            if self.recover_grace and any(pool.mtime(name) > old for name in names):
                continue
            _remove_all(pool, names)
            removed += 1
        return removed


def _mismatch(exc: OSError) -> bool:
    """A compare step failed (the object is missing or its first bytes differ)."""
    return exc.errno is not None and exc.errno >= _CMPEXT_MISMATCH


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
