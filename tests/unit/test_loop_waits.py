"""Synchronous write paths on the event loop, their commit waits awaited (core.loop_waits)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import greenlet
import pytest

from nexq.core import loop_waits


def _later(pool: ThreadPoolExecutor, value: object, delay: float = 0.05) -> Future[object]:
    def produce() -> object:
        time.sleep(delay)
        if isinstance(value, BaseException):
            raise value
        return value

    return pool.submit(produce)


def test_waits_in_an_awaitable_region_let_other_requests_run_meanwhile() -> None:
    events: list[str] = []

    with ThreadPoolExecutor(4) as pool:

        def write(name: str) -> str:
            events.append(f"{name} starts")
            with loop_waits.awaitable():
                got = loop_waits.committed(lambda v: _later(pool, v), name.upper())
            events.append(f"{name} ends")
            return str(got)

        async def both() -> list[str]:
            return list(
                await asyncio.gather(
                    loop_waits.run_here(lambda: write("a")),
                    loop_waits.run_here(lambda: write("b")),
                )
            )

        assert asyncio.run(both()) == ["A", "B"]
    # Both started before either finished: the first's wait did not hold the thread.
    assert events[:2] == ["a starts", "b starts"]


def test_a_wait_outside_an_awaitable_region_blocks_as_in_a_thread() -> None:
    """A lock held across a suspended wait would hang the loop's next request."""
    lock = threading.Lock()
    events: list[str] = []

    with ThreadPoolExecutor(4) as pool:

        def write(name: str) -> None:
            with lock:
                events.append(f"{name} holds")
                loop_waits.committed(lambda v: _later(pool, v), None)
                events.append(f"{name} releases")

        async def both() -> None:
            await asyncio.wait_for(
                asyncio.gather(
                    loop_waits.run_here(lambda: write("a")),
                    loop_waits.run_here(lambda: write("b")),
                ),
                timeout=10,
            )

        asyncio.run(both())
    assert events == ["a holds", "a releases", "b holds", "b releases"]


def test_the_error_of_a_wait_is_raised_where_it_waited() -> None:
    with ThreadPoolExecutor(1) as pool:

        def write() -> str:
            try:
                with loop_waits.awaitable():
                    loop_waits.committed(lambda v: _later(pool, v), KeyError("gone"))
            except KeyError as exc:
                return f"caught {exc.args[0]}"
            return "not raised"

        assert asyncio.run(loop_waits.run_here(write)) == "caught gone"


def test_a_cancelled_request_finishes_its_write_before_it_is_cancelled() -> None:
    finished = threading.Event()

    with ThreadPoolExecutor(1) as pool:

        def write() -> None:
            with loop_waits.awaitable():
                loop_waits.committed(lambda v: _later(pool, v, delay=0.2), None)
            finished.set()  # what follows a commit (cleanup on failure) always runs

        async def cancel_it() -> None:
            task = asyncio.ensure_future(loop_waits.run_here(write))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert finished.is_set()

        asyncio.run(cancel_it())


def test_the_commits_of_one_turn_are_queued_together() -> None:
    """Queued one at a time, the committer woke for the first and made half-size batches."""
    events: list[str] = []

    with ThreadPoolExecutor(1) as pool:

        def submit(value: int) -> Future[object]:
            events.append(f"queued {value}")
            return _later(pool, value, delay=0)

        def write(value: int) -> object:
            events.append(f"ready {value}")
            with loop_waits.awaitable():
                return loop_waits.committed(submit, value)

        async def many() -> list[object]:
            writes = (loop_waits.run_here(lambda v=v: write(v)) for v in range(16))
            return list(await asyncio.gather(*writes))

        assert asyncio.run(many()) == list(range(16))
    assert events == [f"ready {v}" for v in range(16)] + [f"queued {v}" for v in range(16)]


def test_outside_the_loop_a_wait_is_a_plain_blocking_wait() -> None:
    with ThreadPoolExecutor(1) as pool, loop_waits.awaitable():
        assert loop_waits.committed(lambda v: _later(pool, v), 7) == 7


def test_calls_after_one_another_share_a_runner_but_not_its_context() -> None:
    """Runners are reused (a new greenlet per call cost about 20 µs); each call still runs
    in a copy of its caller's context, and a call that raised ends only its own runner."""
    seen = contextvars.ContextVar("seen", default="unset")
    runners: list[object] = []

    def call(value: str) -> str:
        runners.append(greenlet.getcurrent())
        before = seen.get()
        seen.set(value)
        return before

    def fails() -> None:
        raise KeyError("boom")

    async def calls() -> list[str]:
        first = await loop_waits.run_here(lambda: call("a"))
        second = await loop_waits.run_here(lambda: call("b"))
        with pytest.raises(KeyError):
            await loop_waits.run_here(fails)
        third = await loop_waits.run_here(lambda: call("c"))
        return [first, second, third, seen.get()]

    assert asyncio.run(calls()) == ["unset", "unset", "unset", "unset"]
    assert runners[0] is runners[1]
