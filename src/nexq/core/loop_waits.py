"""Synchronous request paths run on the event loop's thread, their waits turned into awaits.

A small PUT does little work of its own (authenticate, seal a few KiB, prepare its row) and
then waits for its group commit. Run in the worker pool, each one cost four thread hand-offs
(to the pool, to the committer, back to the pool, back to the loop) and sixteen of them at a
time made seventeen threads contend for the GIL: a quarter of a PUT's CPU was the kernel
waking threads (``perf``: ``futex_wake`` and task switches, docs/performance.md). Under
:func:`run_here` the same synchronous code runs on the loop's thread in a greenlet; where it
would wait for the committer (:func:`committed`), it hands its write to the loop, which
queues it with the others of the same turn and resumes it when the commit is done.

A read from a database across the network is the other wait (PostgreSQL, for several
nodes): a GET's auth generation and object row, which on the loop's thread blocked every
other request of the worker for both round trips. Under :func:`run_here` such a read hands
the loop a coroutine (:func:`awaited`) and the greenlet resumes with its rows.

Only for work that is bounded apart from those waits (as ``S3Request.now``'s): everything
else it waits for blocks the loop. And a wait is awaited only inside :func:`awaitable`, which
its caller may enter only where it holds no lock: while one greenlet is suspended, the next
runs on the same thread, and a ``threading.Lock`` the first holds would block the loop for
good (the first PUT of a process makes the data key under such a lock, and hung so).
Elsewhere a wait under :func:`run_here` blocks the loop for its duration, which is rare and
safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import greenlet

T = TypeVar("T")
W = TypeVar("W")


class _OnLoop(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet whose waits inside :func:`awaitable` are awaited by the event loop that
    runs it. It runs one call after another (:func:`_calls`): a new greenlet for each cost
    about 20 µs, a switch to an idle one about 3."""

    awaitable = 0  # depth of awaitable() regions entered


@dataclass(frozen=True, slots=True)
class _Returned:
    """What a call returned; its greenlet is idle again."""

    value: Any


def _calls(fn: Callable[[], Any]) -> None:
    """A runner's life: each call it is handed, until one raises (which ends the runner)."""
    while True:
        value = fn()
        fn = greenlet.getcurrent().parent.switch(_Returned(value))


class _Idle(threading.local):
    """The idle runners of this thread (a greenlet runs only on the thread that made it)."""

    def __init__(self) -> None:
        self.runners: list[_OnLoop] = []


_idle = _Idle()


@dataclass(frozen=True, slots=True)
class _Commit:
    """A write a suspended greenlet hands its loop, to be queued with this turn's others."""

    submit: Callable[[Any], Future[Any]]
    write: Any


@dataclass(frozen=True, slots=True)
class _Await:
    """A coroutine a suspended greenlet hands its loop to run (a read across the network)."""

    make: Callable[[], Coroutine[Any, Any, Any]]


@contextlib.contextmanager
def awaitable() -> Iterator[None]:
    """A region whose caller holds no lock: under :func:`run_here`, its commit waits are
    awaited by the loop while other requests run."""
    current = greenlet.getcurrent()
    if not isinstance(current, _OnLoop):
        yield
        return
    current.awaitable += 1
    try:
        yield
    finally:
        current.awaitable -= 1


def committed(submit: Callable[[W], Future[T]], write: W) -> T:
    """What ``write`` returned once ``submit`` queued it and it was committed: the calling
    thread blocked until then or, under :func:`run_here` and inside :func:`awaitable`, this
    greenlet suspended while the loop awaits it."""
    current = greenlet.getcurrent()
    if isinstance(current, _OnLoop) and current.awaitable:
        return cast(T, current.parent.switch(_Commit(submit, write)))
    return submit(write).result()


def suspendable() -> bool:
    """Whether a wait here would be awaited by the loop (:func:`awaited` may be called)."""
    current = greenlet.getcurrent()
    return isinstance(current, _OnLoop) and current.awaitable > 0


def awaited(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """What the coroutine ``make()`` returned, run by the loop while this greenlet is
    suspended; only where :func:`suspendable` (the caller has its blocking way otherwise)."""
    current = greenlet.getcurrent()
    if not (isinstance(current, _OnLoop) and current.awaitable):
        raise RuntimeError("awaited() outside an awaitable region of run_here")
    return cast(T, current.parent.switch(_Await(make)))


async def run_here(fn: Callable[[], T]) -> T:
    """Run ``fn`` on this thread, awaiting (instead of blocking on) the commits and the reads
    it waits for inside :func:`awaitable`.

    A cancellation (the client went away) does not reach ``fn``: a commit it waits for may
    still land, and ``fn`` must see its outcome, as it would in a thread. It is raised once
    ``fn`` has finished.
    """
    idle = _idle.runners
    runner = idle.pop() if idle else _OnLoop(_calls)
    runner.gr_context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    cancelled = False
    step: Any = runner.switch(fn)
    while not isinstance(step, _Returned):
        if isinstance(step, _Await):
            outcome, cancelled_now = await _finished(asyncio.ensure_future(step.make()))
        else:
            outcome, cancelled_now = await _committed(loop, step)
        cancelled = cancelled or cancelled_now
        error = outcome.exception()
        step = runner.throw(error) if error is not None else runner.switch(outcome.result())
    idle.append(runner)  # it returned: it may run the next call
    if cancelled:
        raise asyncio.CancelledError
    return cast(T, step.value)


async def _committed(
    loop: asyncio.AbstractEventLoop, commit: _Commit
) -> tuple[asyncio.Future[Any], bool]:
    """The commit's outcome once queued with this turn's others and done, and whether this
    task was cancelled meanwhile."""
    queued, cancelled = await _finished(_queue_this_turn(loop, commit))
    if queued.exception() is not None:
        return queued, cancelled
    done, cancelled_now = await _finished(asyncio.wrap_future(queued.result()))
    return done, cancelled or cancelled_now


async def _finished(future: asyncio.Future[Any]) -> tuple[asyncio.Future[Any], bool]:
    """``future`` once done, and whether this task was cancelled meanwhile (not passed on:
    the greenlet must see its write's outcome first)."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            cancelled = True
    return future, cancelled


# The commits handed over in this turn of each loop, queued together at its end: one at a time,
# the committer woke for the first and committed batches half as large (twice the fsyncs).
_this_turn: dict[asyncio.AbstractEventLoop, list[tuple[_Commit, asyncio.Future[Any]]]] = {}


def _queue_this_turn(loop: asyncio.AbstractEventLoop, commit: _Commit) -> asyncio.Future[Any]:
    """A future of the commit's own future, once it is queued."""
    queued: asyncio.Future[Any] = loop.create_future()
    turn = _this_turn.get(loop)
    if turn is None:
        turn = _this_turn[loop] = []
        loop.call_soon(_queue_turn, loop)
    turn.append((commit, queued))
    return queued


def _queue_turn(loop: asyncio.AbstractEventLoop) -> None:
    for commit, queued in _this_turn.pop(loop, []):
        try:
            queued.set_result(commit.submit(commit.write))
        except BaseException as exc:  # handed to the write's greenlet
            queued.set_exception(exc)
