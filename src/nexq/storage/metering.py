"""Usage meters: exact request and byte counts, kept in memory and flushed in batches.

Counting must not put a database write on every request, so each process adds to in-memory
counters (one short lock per request) and a background thread flushes them every
:data:`FLUSH_SECONDS` as one additive write; a clean shutdown flushes the rest. A kill -9
loses at most the last flush interval of counts; nothing is ever counted twice, because a
batch is only forgotten after its write committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum

from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import Counters, UsageRow

FLUSH_SECONDS = 1.0


class BillingClass(Enum):
    """How an operation is billed (SPEC.md "Usage")."""

    A = "A"  # writes and listings
    B = "B"  # reads and metadata
    OTHER = "other"  # counted, not billed (deletes, aborts, refused foreign requests)


_Key = tuple[str, int, str, str]  # account id, hour, bucket id, bucket name


class Meter:
    """One process's counters."""

    def __init__(self, store: MetadataStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: dict[_Key, list[int]] = {}

    def record(
        self,
        account_id: str,
        bucket_id: str,
        bucket_name: str,
        billing: BillingClass,
        data_in: int = 0,
        data_out: int = 0,
    ) -> None:
        """Count one request (and its bytes) for the bucket, in the current hour."""
        key = (account_id, int(self._clock()) // 3600, bucket_id, bucket_name)
        slot = 2 if billing is BillingClass.A else 3 if billing is BillingClass.B else 4
        with self._lock:
            counts = self._pending.get(key)
            if counts is None:
                counts = self._pending[key] = [0, 0, 0, 0, 0]
            counts[0] += data_in
            counts[1] += data_out
            counts[slot] += 1

    def flush(self) -> int:
        """Write what was counted since the last flush; returns the number of rows."""
        with self._flush_lock:  # one flush at a time keeps a failed batch's retry in order
            with self._lock:
                batch, self._pending = self._pending, {}
            if not batch:
                return 0
            rows = [UsageRow(k[0], k[1], k[2], k[3], Counters(*v)) for k, v in batch.items()]
            try:
                self._store.add_usage(rows)
            except BaseException:
                # Not written: give the counts back so that the next flush carries them.
                with self._lock:
                    for key, counts in batch.items():
                        kept = self._pending.setdefault(key, [0, 0, 0, 0, 0])
                        for i, n in enumerate(counts):
                            kept[i] += n
                raise
            return len(rows)
