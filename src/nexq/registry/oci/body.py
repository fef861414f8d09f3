"""Request bodies, received on the event loop and consumed by a worker thread.

The loop gathers bytes into pieces of about a megabyte and hands them over through a small
bounded queue, so a large layer never blocks other requests and never sits whole in memory.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterator

PIECE = 1024 * 1024
_DEPTH = 4  # pieces in flight between the loop and the thread
_END = object()


class BodyPipe:
    """Bytes from an async stream, as a blocking iterator for the thread that stores them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._slots = asyncio.Semaphore(_DEPTH)
        self.received = 0

    async def pump(self, stream: AsyncIterator[bytes]) -> None:
        """Read the stream to its end (or failure), handing pieces to the thread."""
        buffer = bytearray()
        try:
            async for data in stream:
                buffer += data
                self.received += len(data)
                if len(buffer) >= PIECE:
                    await self._put(bytes(buffer))
                    buffer.clear()
            if buffer:
                await self._put(bytes(buffer))
            self._queue.put(_END)
        except BaseException as exc:  # the client left, or the request was cancelled
            self._queue.put(exc)
            raise

    async def _put(self, piece: bytes) -> None:
        await self._slots.acquire()
        self._queue.put(piece)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise ConnectionError("the client stopped sending the body") from item
            self._loop.call_soon_threadsafe(self._slots.release)
            assert isinstance(item, bytes)
            yield item
