"""Reads on PostgreSQL: a statement on a pooled connection, or, where ``core.loop_waits``
lets the event loop await it, on an asynchronous connection of that loop's own."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool, PoolTimeout

from nexq.core import loop_waits
from nexq.core.postgres_sql import configure, reachable, statement
from nexq.core.sql import Cursor

# How long a read waits for a pooled connection before the request is answered 503.
READ_WAIT = 5.0


class Rows:
    """A statement's rows, read in full before the connection went back to the pool."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


def has_rows(cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> bool:
    """Whether the statement returned rows (``cursor.description`` makes a Column object per
    column to say so: 3 % of a GET on PostgreSQL, py-spy)."""
    result = cursor.pgresult
    return result is not None and result.status == pq.ExecStatus.TUPLES_OK


class LoopReaders:
    """Asynchronous connections of one event loop, each lent to one awaited read at a time.

    Their own, not a pool shared with threads: a read that waited on the loop's thread for a
    connection held by a suspended read of the same thread would never get it."""

    def __init__(self, url: str, size: int) -> None:
        self._url = url
        self._size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._open = 0  # idle, lent, or being opened
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def execute(self, sql: str, parameters: Sequence[Any]) -> Rows:
        with reachable():
            try:
                return await self._once(sql, parameters, fresh=False)
            except psycopg.OperationalError:
                # An idle connection lost meanwhile (PostgreSQL restarted, failed over): a
                # read is safe to run again, on a new one.
                return await self._once(sql, parameters, fresh=True)

    async def _once(self, sql: str, parameters: Sequence[Any], fresh: bool) -> Rows:
        conn = await self._borrow(fresh)
        try:
            cursor = await conn.execute(statement(sql), parameters)
            rows = await cursor.fetchall() if has_rows(cursor) else []
            return Rows(rows, cursor.rowcount)
        finally:
            self._give_back(conn)

    async def _borrow(self, fresh: bool) -> psycopg.AsyncConnection[Any]:
        while not self._idle and self._open >= self._size:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await asyncio.wait_for(waiter, READ_WAIT)
            except TimeoutError:
                raise PoolTimeout(f"no connection for a read in {READ_WAIT} s") from None
            finally:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
        if self._idle and not fresh:
            return self._idle.pop()
        if self._idle:  # a new connection in place of an idle one, which may be lost too
            self._idle.pop().pgconn.finish()
            self._open -= 1
        self._open += 1
        try:
            conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        except BaseException:
            self._open -= 1
            self._wake()
            raise
        configure(conn)
        return conn

    def _give_back(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn.closed or conn.broken:
            self._open -= 1
        else:
            self._idle.append(conn)
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Drop the idle connections (from any thread: no await)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.pgconn.finish()


class PooledReader:
    """Runs each statement on a pooled connection and hands back its rows (awaited by the
    event loop where ``core.loop_waits`` lets it)."""

    def __init__(self, pool: ConnectionPool[Any], url: str, loop_size: int) -> None:
        self._pool = pool
        self._url = url
        self._loop_size = loop_size
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopReaders] = (
            weakref.WeakKeyDictionary()
        )

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        if loop_waits.suspendable():
            loop = asyncio.get_running_loop()
            readers = self._loops.get(loop)
            if readers is None:
                readers = self._loops[loop] = LoopReaders(self._url, self._loop_size)
            return loop_waits.awaited(lambda: readers.execute(sql, parameters))
        with reachable(), self._pool.connection(timeout=READ_WAIT) as conn:
            cursor = conn.execute(statement(sql), parameters)
            rows = cursor.fetchall() if has_rows(cursor) else []
            return Rows(rows, cursor.rowcount)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        raise TypeError("readers do not write")

    def close(self) -> None:
        for readers in list(self._loops.values()):
            readers.close()
        self._pool.close()
