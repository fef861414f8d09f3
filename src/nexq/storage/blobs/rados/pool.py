"""librados, typed: the calls the RADOS blob store makes, behind types (errors become
OSError, FileNotFoundError for a missing object), and one process's client of the pool."""

from __future__ import annotations

import errno
import importlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_CMPEXT_MISMATCH = 4095  # librados' MAX_ERRNO: a failed compare is -(4095 + offset)

_RELEASING = threading.Lock()


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


class Pending:
    """One asynchronous operation: :meth:`wait` returns its result or raises OSError."""

    def __init__(
        self,
        completion: Any,
        what: str,
        cleanup: Callable[[], None] | None = None,
        received: list[bytes] | None = None,
    ):
        self._completion = completion
        self._what = what
        self._cleanup = cleanup
        self._received = received

    @property
    def data(self) -> bytes:
        """What a read returned (once waited for)."""
        return self._received[0] if self._received else b""

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


class Pool:
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

    def aio_read(self, name: str, length: int, offset: int) -> Pending:
        # The binding's completion keeps its callback, and the Pending keeps the completion:
        # a callback holding the Pending (a bound method) made a cycle, so every read's
        # buffer waited for the cyclic GC, hundreds of MiB of them during a large GET.
        received: list[bytes] = []
        try:
            completion = self._io.aio_read(
                name, length, offset, lambda _completion, data: received.append(data or b"")
            )
        except self._rados.Error as exc:
            raise _os_error(exc, f"read {name}") from None
        return Pending(completion, f"read {name}", received=received)

    def aio_write(self, name: str, data: bytes, offset: int) -> Pending:
        try:
            return Pending(self._io.aio_write(name, data, offset), f"write {name}")
        except self._rados.Error as exc:
            raise _os_error(exc, f"write {name}") from None

    def aio_write_full(self, name: str, data: bytes) -> Pending:
        try:
            return Pending(self._io.aio_write_full(name, data), f"write {name}")
        except self._rados.Error as exc:
            raise _os_error(exc, f"write {name}") from None

    def aio_remove(self, name: str) -> Pending:
        try:
            return Pending(self._io.aio_remove(name), f"remove {name}")
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
    ) -> Pending | None:
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
                return Pending(completion, f"update {name}", lambda: self._io.release_write_op(op))
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
class Settings:
    pool: str
    conf: str | None
    client_id: str | None
    namespace: str
    keyring: str | None
    timeout: float


class Connection:
    """One store's I/O context on the pool, over this process's librados client for the
    store's cluster and user (shared by every store of the process that names the same: a
    client is a messenger, a monitor session and their threads, so each store's own cost a
    worker about ten megabytes and a hundred threads more)."""

    def __init__(self, settings: Settings) -> None:
        self.pid = os.getpid()
        self.settings = settings
        self.rados: Any = importlib.import_module("rados")
        self._client = _Client.take(self.rados, settings)
        self.cluster: Any = self._client.cluster
        try:
            self.pool = self.new_pool()
        except self.rados.Error as exc:
            self._client.release()
            where = settings.conf or "the default ceph.conf"
            raise _os_error(exc, f"RADOS pool {settings.pool} (from {where})") from None
        except BaseException:
            self._client.release()
            raise

    def new_pool(self) -> Pool:
        """An I/O context of its own (for a thread that needs object versions)."""
        ioctx = self.cluster.open_ioctx(self.settings.pool)
        ioctx.set_namespace(self.settings.namespace)
        return Pool(self.rados, ioctx)

    def close(self) -> None:
        self.pool.close()
        self._client.release()


class _Client:
    """A librados client of this process, shut down when its last store closes."""

    _lock = threading.Lock()
    _made: dict[tuple[int, str | None, str | None, str | None, float], _Client] = {}

    def __init__(self, rados: Any, settings: Settings, key: tuple[Any, ...]) -> None:
        self._key = key
        self.users = 1
        # Connected from a thread of its own: a client made on a forked worker's main thread
        # got the same messenger address as its parent's, so two workers' connections to the
        # OSD kept replacing each other (retried operations, 4x the OSD's CPU; bench notes).
        failed: list[BaseException] = []

        def connect() -> None:
            try:
                self.cluster = _connect(rados, settings)
            except BaseException as exc:
                failed.append(exc)

        thread = threading.Thread(target=connect, name="nexq-rados-connect")
        thread.start()
        thread.join()
        if failed:
            raise failed[0]

    @classmethod
    def take(cls, rados: Any, settings: Settings) -> _Client:
        key = (os.getpid(), settings.conf, settings.client_id, settings.keyring, settings.timeout)
        with cls._lock:
            found = cls._made.get(key)
            if found is not None:
                found.users += 1
                return found
            made = cls(rados, settings, key)
            cls._made[key] = made
            return made

    def release(self) -> None:
        with self._lock:
            self.users -= 1
            if self.users > 0:
                return
            del self._made[self._key]
        self.cluster.shutdown()


def _connect(rados: Any, settings: Settings) -> Any:
    timeout = math.ceil(settings.timeout)  # whole seconds: librados refuses "60.0"
    try:
        # conffile None: librados' own search ($CEPH_CONF, /etc/ceph/ceph.conf …).
        cluster = rados.Rados(conffile=settings.conf, rados_id=settings.client_id)
        if settings.keyring:
            cluster.conf_set("keyring", settings.keyring)
        if timeout:
            cluster.conf_set("rados_osd_op_timeout", str(timeout))
            cluster.conf_set("rados_mon_op_timeout", str(timeout))
        cluster.connect(timeout=timeout)
        return cluster
    except rados.Error as exc:
        where = settings.conf or "the default ceph.conf"
        raise _os_error(exc, f"RADOS pool {settings.pool} (from {where})") from None


def mismatch(exc: OSError) -> bool:
    """A compare step failed (the object is missing or its first bytes differ)."""
    return exc.errno is not None and exc.errno >= _CMPEXT_MISMATCH
