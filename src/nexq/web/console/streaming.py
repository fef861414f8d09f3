"""Large bodies through the console without holding them in memory or blocking the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

BUFFER_BYTES = 1024 * 1024


async def receive_body(request: Request, write: Callable[[bytes], None]) -> None:
    """Feed the request body to ``write`` in worker threads, about a megabyte at a time.

    One buffer is written while the next is received, so the socket and the disk work at
    the same time; at most two buffers are held whatever the body's size.
    """
    buffer = bytearray()
    writing: asyncio.Task[None] | None = None
    try:
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) >= BUFFER_BYTES:
                data = bytes(buffer)
                buffer.clear()
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(run_in_threadpool(write, data))
        if writing is not None:
            await writing
            writing = None
        if buffer:
            await run_in_threadpool(write, bytes(buffer))
    finally:
        if writing is not None and not writing.done():
            # Never leave a write running into a body that the caller is about to abort.
            await asyncio.wait([writing])
        if writing is not None and writing.done() and not writing.cancelled():
            writing.exception()  # retrieved; the error already raising is the one reported


async def send_chunks(
    chunks: Generator[bytes | memoryview, None, None],
) -> AsyncIterator[bytes | memoryview]:
    """Each chunk read in a worker thread; the file is closed at once if the client leaves."""
    try:
        while True:
            data = await run_in_threadpool(next, chunks, None)
            if data is None:
                return
            yield data
    finally:
        chunks.close()
