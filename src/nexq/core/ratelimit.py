"""Token buckets: request rates limited per key (an account) in one process's memory."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """A token bucket per key, refilled at ``rate`` per second up to one second's worth.

    Each server process limits on its own, so an installation with N processes gives every
    process 1/N of the rate (``share``): with connections spread over the processes by the
    kernel, the sum stays close to the configured rate without any shared state.
    """

    def __init__(self, share: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self._share = max(1, share)
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: int | None) -> int:
        """0 if a request may go ahead now, else the seconds to wait (rate None = unlimited)."""
        if rate is None:
            return 0
        per_second = max(rate / self._share, 0.001)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) > 100_000:
                    self._buckets.clear()
                bucket = self._buckets[key] = [per_second, now]
            tokens = min(per_second, bucket[0] + (now - bucket[1]) * per_second)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return 0
            bucket[0] = tokens
            return max(1, math.ceil((1.0 - tokens) / per_second))
