"""Copying many files with a few threads: the flushes of one overlap the reads of another
(`nexq admin move`, `backup`, `restore`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")


def each(items: Iterable[T], work: Callable[[T], None], in_flight: int, name: str) -> None:
    """``work(item)`` for every item, ``in_flight`` at a time, on threads named ``name``;
    the first error stops the rest (and is raised). At most twice ``in_flight`` items are
    queued: ``items`` may be a generator over millions."""
    with ThreadPoolExecutor(in_flight, thread_name_prefix=name) as pool:
        pending: set[Future[None]] = set()
        try:
            for item in items:
                if len(pending) >= 2 * in_flight:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                pending.add(pool.submit(work, item))
            for future in pending:
                future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
