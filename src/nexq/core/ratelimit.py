"""Token buckets shared by every worker process of one server: request rates per account.

The buckets live in an anonymous shared memory map made before the workers are forked, so
all workers draw from the same bucket whatever their number: a limit of 1 request/s holds on
24 workers, and a client whose one connection lands on one worker still gets the whole rate.
(Splitting the rate between workers, as an earlier version did, refused every request when
a limit was below the worker count, and gave a single connection only 1/N of its rate.)

A POSIX record lock on an unlinked file guards the table across processes: the kernel drops
it when its holder dies, so a worker killed mid-update cannot wedge the others.

Several nodes behind a load balancer each enforce their share of a rate (``share`` = the
number of nodes, ``NEXQ_NODES``): a balancer that spreads requests evenly (round robin, as
nginx and HAProxy do per request) then holds the installation to the whole rate, with no
round trip to a shared counter on the request path. Each node still lets at least one
request through (its bucket holds one request at least), so a low limit never refuses all.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import math
import mmap
import struct
import tempfile
import threading
import time
from collections.abc import Callable

_SLOT = struct.Struct("<Qdd")  # key hash (0 = free), tokens, time of the last update
_PROBES = 8  # slots looked at per key before the least recently used one is taken over
DEFAULT_SLOTS = 1 << 16  # 1.5 MiB: far more accounts than one server throttles at once


@functools.lru_cache(maxsize=65536)
def _key_hash(key: str) -> int:
    # Stable across processes (Python's hash() is not, in general), and never 0 (free).
    # Cached: the same few accounts' keys are hashed on every request.
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1


class RateLimiter:
    """A token bucket per key, refilled at ``rate`` per second up to one second's worth
    (at least one request), shared by the processes forked after it was made."""

    def __init__(
        self,
        slots: int = DEFAULT_SLOTS,
        clock: Callable[[], float] = time.monotonic,
        share: int = 1,
    ) -> None:
        if share < 1:
            raise ValueError("the share is the number of nodes, at least 1")
        self._share = share
        self._slots = slots
        self._clock = clock  # CLOCK_MONOTONIC is one clock for every process of the host
        self._memory = mmap.mmap(-1, slots * _SLOT.size)  # MAP_SHARED: forked children share it
        self._lock_file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the limiter
        # Record locks belong to a process, not a thread: threads of one process queue here.
        self._threads = threading.Lock()

    def take(self, key: str, rate: float | None) -> int:
        """0 if a request may go ahead now, else the seconds to wait (rate None = unlimited)."""
        if rate is None:
            return 0
        if rate <= 0:
            return 1  # a limit of 0 refuses everything
        rate /= self._share  # this node's part of the installation's rate
        wanted = _key_hash(key)
        home = wanted % self._slots
        capacity = max(1.0, float(rate))
        with self._threads:
            fcntl.lockf(self._lock_file, fcntl.LOCK_EX)
            try:
                now = self._clock()
                offset = self._slot_of(wanted, home) * _SLOT.size
                found, tokens, last = _SLOT.unpack_from(self._memory, offset)
                if found != wanted:
                    tokens, last = capacity, now  # a new bucket starts full
                tokens = min(capacity, tokens + max(0.0, now - last) * rate)
                allowed = tokens >= 1.0
                if allowed:
                    tokens -= 1.0
                _SLOT.pack_into(self._memory, offset, wanted, tokens, now)
            finally:
                fcntl.lockf(self._lock_file, fcntl.LOCK_UN)
        return 0 if allowed else max(1, math.ceil((1.0 - tokens) / rate))

    def _slot_of(self, wanted: int, home: int) -> int:
        """The slot holding ``wanted``, else a free one, else the least recently used."""
        oldest, oldest_at = home, math.inf
        for probe in range(_PROBES):
            index = (home + probe) % self._slots
            found, _, last = _SLOT.unpack_from(self._memory, index * _SLOT.size)
            if found in (wanted, 0):
                return index
            if last < oldest_at:
                oldest, oldest_at = index, last
        return oldest
