"""The auth generation kept in memory: what the ``generations`` table is to SQLite stores.

Every change to keys, buckets or accounts moves it, so that caches of credentials know to
read again. In-memory stores of one installation share one, as SQLite stores share the row.
"""

from __future__ import annotations

import threading


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
