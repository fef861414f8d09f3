"""Request bodies: received on the event loop, decoded and verified in a worker thread.

The loop only gathers bytes into buffers of about a megabyte; decoding aws-chunked framing,
checking chunk signatures and the payload hash, and writing happen in the worker pool, so a
large upload never blocks other requests and memory per request stays bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import TypeVar

from nexq.storage.incoming import PARALLEL_HASH_BYTES, IncomingBody
from nexq.storage.s3 import sigv4
from nexq.storage.s3.auth import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    PayloadCheck,
)
from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.http import S3Request, expects_continue
from nexq.storage.s3.streaming import (
    ChunkData,
    ChunkedDecoder,
    ChunkedError,
    ChunkEnd,
    Event,
    Trailers,
)

BUFFER_BYTES = 1024 * 1024
# Bodies up to this size are read whole before anything else, then stored in one worker hop.
SMALL_BODY = 1024 * 1024
# A body this small is stored in its metadata row (storage.blobs.inline), so storing it
# waits for nothing but its commit: it is written on the event loop (S3Request.here).
ON_LOOP_BODY = 8 * 1024
T = TypeVar("T")


def incomplete_body() -> S3Error:
    return S3Error(
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        400,
    )


class BodySink:
    """Decodes and verifies a request body and feeds it to ``target`` (worker-thread side)."""

    def __init__(
        self,
        check: PayloadCheck,
        target: Callable[[bytes | memoryview], None],
        hash_pool: Executor | None = None,
    ) -> None:
        self._check = check
        self._hash_pool = hash_pool
        self._target = target
        self._sha = hashlib.sha256() if check.content_sha256 else None
        self.trailers: dict[str, str] = {}
        self.decoded = 0
        self._decoder: ChunkedDecoder | None = None
        self._previous = check.seed_signature
        if check.streaming:
            signed = check.streaming in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
            self._decoder = ChunkedDecoder(signed=signed)

    def feed(self, raw: bytes | memoryview) -> None:
        """Take the next bytes as they came from the socket."""
        if self._decoder is None:
            self.decoded += len(raw)
            if self._sha is None:
                self._target(raw)
                return
            if self._hash_pool is None or len(raw) < PARALLEL_HASH_BYTES:
                self._sha.update(raw)
                self._target(raw)
                return
            # The payload hash runs beside the write (and its MD5): three cores' worth of work.
            sha = self._hash_pool.submit(self._sha.update, raw)
            try:
                self._target(raw)
            finally:
                sha.result()
            return
        try:
            events = self._decoder.feed(raw)
        except ChunkedError as exc:
            raise S3Error("IncompleteBody", f"Malformed aws-chunked body: {exc}", 400) from None
        self._handle(events)

    def finish(self) -> None:
        """The body ended: check that it was whole and that every signature held."""
        if self._decoder is not None:
            try:
                events = self._decoder.finish()
            except ChunkedError as exc:
                raise S3Error("IncompleteBody", f"Malformed aws-chunked body: {exc}", 400) from None
            self._handle(events)
        elif self._sha is not None and self._sha.hexdigest() != self._check.content_sha256:
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, ChunkData):
                self.decoded += len(event.data)
                self._target(event.data)
            elif isinstance(event, ChunkEnd):
                if event.sha256_hex is not None:
                    self._verify_chunk(event.signature or "", event.sha256_hex)
            elif isinstance(event, Trailers):
                self.trailers = event.headers
                self._verify_trailer(event)

    def _verify_chunk(self, signature: str, chunk_sha256: str) -> None:
        check = self._check
        expected = sigv4.signature(
            check.signing_key,
            sigv4.chunk_string_to_sign(check.amz_date, check.scope, self._previous, chunk_sha256),
        )
        if not sigv4.verify(expected, signature):
            raise S3Error(
                "SignatureDoesNotMatch",
                "The chunk signature we calculated does not match the signature you provided.",
                403,
            )
        self._previous = expected

    def _verify_trailer(self, event: Trailers) -> None:
        if self._check.streaming != STREAMING_SIGNED_TRAILER:
            return
        check = self._check
        digest = hashlib.sha256(event.canonical).hexdigest()
        expected = sigv4.signature(
            check.signing_key,
            sigv4.trailer_string_to_sign(check.amz_date, check.scope, self._previous, digest),
        )
        if not sigv4.verify(expected, event.signature or ""):
            raise S3Error(
                "SignatureDoesNotMatch",
                "The trailer signature we calculated does not match the signature you provided.",
                403,
            )


async def receive_into(req: S3Request, body: IncomingBody, first: bytes = b"") -> BodySink:
    """Stream the request body into ``body``; returns the sink (for trailers) when whole."""
    sink = BodySink(req.payload, body.write, body.hash_pool)
    buffer = bytearray(first)
    more = True
    # One buffer is hashed and written in the pool while the next one is received, so the
    # socket and the disk work at the same time; at most two buffers are held.
    writing: asyncio.Future[None] | None = None
    try:
        while more:
            message = await req.receive()
            if message["type"] == "http.disconnect":
                raise incomplete_body()
            buffer += message.get("body", b"")
            more = message.get("more_body", False)
            if len(buffer) >= BUFFER_BYTES or not more:
                # Handed over as it is, never written again: a new buffer takes what follows
                # (a copy would cost a megabyte more per request, and its memcpy).
                chunk, buffer = memoryview(buffer), bytearray()
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(req.run(partial(sink.feed, chunk)))
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            # Never leave a write running into a body that the caller is about to abort.
            await asyncio.wait([writing])
            if not writing.cancelled():
                writing.exception()  # seen here; the error already raising is the one reported
    await req.run(sink.finish)
    _check_lengths(req, sink)
    return sink


async def read_small(req: S3Request, limit: int) -> bytes | None:
    """The whole body if it is at most ``limit`` bytes long by its Content-Length, else None."""
    length = req.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > limit:
        return None
    parts: list[bytes] = []
    more = True
    while more:
        message = await req.receive()
        if message["type"] == "http.disconnect":
            raise incomplete_body()
        parts.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(parts)


def _check_lengths(req: S3Request, sink: BodySink) -> None:
    declared = req.headers.get("x-amz-decoded-content-length")
    if (
        declared is not None
        and req.payload.streaming
        and declared.isdigit()
        and int(declared) != sink.decoded
    ):
        raise incomplete_body()


def feed_whole(req: S3Request, body: IncomingBody, data: bytes) -> BodySink:
    """Decode and verify a body already in memory (worker-thread side)."""
    sink = BodySink(req.payload, body.write)
    sink.feed(data)
    sink.finish()
    _check_lengths(req, sink)
    return sink


async def receive_and_store(
    req: S3Request,
    open_body: Callable[[], IncomingBody],
    store: Callable[[IncomingBody, dict[str, str]], T],
) -> T:
    """Receive the request body into a new blob and hand it to ``store`` with its trailers.

    A small body is read first and then authenticated, written, verified and committed in one
    worker hop; a large one is authenticated (by ``open_body``'s hop) before its first byte is
    stored, then streamed. A client waiting for ``100 Continue`` must hear a refusal instead:
    ``open_body``'s checks (the caller, the bucket, the quota) run before its body is asked
    for, whatever its size; a small one is then written and committed in a second hop.
    """
    expecting = expects_continue(req.headers)
    small = None if expecting else await read_small(req, SMALL_BODY)
    if small is not None:
        if len(small) <= ON_LOOP_BODY:
            return await req.here(partial(_store_whole, req, open_body, store, small))
        return await req.run(partial(_store_whole, req, open_body, store, small))
    body = await req.run(open_body)
    if expecting:
        try:
            small = await read_small(req, SMALL_BODY)
        except BaseException:
            await req.run(body.abort)
            raise
        if small is not None:
            return await req.run(partial(_store_whole, req, lambda: body, store, small))
    try:
        sink = await receive_into(req, body)
    except BaseException:
        await req.run(body.abort)
        raise
    stored = await req.run(partial(store, body, sink.trailers))
    req.data_in = body.size
    return stored


def _store_whole(
    req: S3Request,
    open_body: Callable[[], IncomingBody],
    store: Callable[[IncomingBody, dict[str, str]], T],
    data: bytes,
) -> T:
    """Decode, verify, write and commit a body already in memory (worker-thread side)."""
    body = open_body()
    try:
        sink = feed_whole(req, body, data)
    except BaseException:
        body.abort()
        raise
    stored = store(body, sink.trailers)
    req.data_in = body.size
    return stored
