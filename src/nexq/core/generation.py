"""The auth generation kept in memory: what the ``generations`` table is to SQLite stores.

Every change to keys, buckets or accounts moves it, so that caches of credentials know to
read again. In-memory stores of one installation share one, as SQLite stores share the row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class AuthGeneration:
    """A counter that only moves forward, safe to bump from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def value(self) -> int:
        return self._value

    def bump(self) -> None:
        """Keys, buckets or accounts changed: every cache of them must read again."""
        with self._lock:
            self._value += 1


class GenerationWatch:
    """The auth generation as this process last read it from the shared store.

    Every request entry reads it once (S3 through the storage directory, the REST API and
    console through their token checks), so a cache that compares against :attr:`value`
    sees any change made before the request began, on any process, without a read of its
    own on the request's hot path.
    """

    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._value = -1

    @property
    def value(self) -> int:
        """The newest generation any thread of this process has read (-1: none yet)."""
        return self._value

    def read(self) -> int:
        """Read the shared generation now; what was read."""
        found = self._read()
        with self._lock:
            # Readers race: keep the newest (the counter only moves forward).
            self._value = max(self._value, found)
        return found
