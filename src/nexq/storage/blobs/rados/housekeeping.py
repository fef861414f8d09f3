"""Housekeeping: leases of open blobs, removal of deleted ones (one thread per store, while
there is work).

The port promises that an open blob reads whole until it is closed, even once deleted, on
whichever node deletes it. Within the grace a deleted blob's objects are all still there; a
reader still open ``lease_after`` seconds (5) after opening writes a lease into the head's
omap (``lease.<cookie>`` = expiry, renewed every 40 s for 120 s) from a housekeeping thread,
and a head is removed only by a version-checked operation after reading no live lease in it.
So a blob stays readable until closed as long as the reader's process lives (a dead one's
lease expires) and the nodes' clocks agree within ``delete_grace - lease_after`` seconds.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nexq.storage.blobs.rados.pool import Pool
from nexq.storage.blobs.rados.reader import RadosOpenBlob

if TYPE_CHECKING:
    from nexq.storage.blobs.rados.store import RadosBlobStore

log = logging.getLogger("nexq.storage.blobs")


@dataclass(frozen=True)
class Timing:
    """The housekeeping's periods, in seconds (tests shorten them)."""

    lease_after: float = 5.0  # a reader open this long takes a lease
    lease: float = 120.0  # a lease's length …
    renew: float = 40.0  # … renewed this often
    tick: float = 1.0  # the housekeeping thread's period


class Housekeeper:
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
        pool: Pool | None = None
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
