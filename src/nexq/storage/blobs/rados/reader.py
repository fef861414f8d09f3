"""Reading a blob from the pool (:class:`RadosOpenBlob`).

Readers. :meth:`~RadosBlobStore.open` reads the head's header and the blob's first 64 KiB in
one operation: a small blob is then read whole from memory. A larger one is read stripe by
stripe, only the stripes and bytes the range needs, several requests in flight (and kept
readable once deleted by a lease: :mod:`nexq.storage.blobs.rados.housekeeping`).

Memory. Each request's bytes land in a fresh buffer that the binding allocates, and the
allocator keeps what it once held (per thread, across requests): a reader's peak, and what
stays after it, follows the bytes it has in flight. So requests are of :data:`READ_PIECE`,
smaller than a stripe, :data:`READ_AHEAD` of them in flight, and each buffer is handed on
as it is (or as views of it), never copied.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from nexq.storage.blobs.port import Bytes
from nexq.storage.blobs.rados import freeing
from nexq.storage.blobs.rados.layout import HEADER, Header, stripe_name
from nexq.storage.blobs.rados.pool import Pending

if TYPE_CHECKING:
    from nexq.storage.blobs.rados.store import RadosBlobStore

READ_PIECE = 1024 * 1024  # bytes per request (a stripe is cut in several)
READ_AHEAD = 4  # requests in flight per reader


class RadosOpenBlob:
    """A blob opened for reading; its first bytes came with its header."""

    def __init__(self, store: RadosBlobStore, blob: str, header: Header, first: bytes):
        self._store = store
        self._pool = store._connection().pool
        self.id = blob
        self.size = header.size
        self._stripe = header.stripe
        self._first = first  # the blob's bytes [0, len(first))
        self._closed = False
        self.opened = time.monotonic()
        self.cookie = uuid.uuid4().hex
        self.leased = 0.0  # when the lease was last written (monotonic), 0 if never
        self.lease_lost = False
        self.kept = False  # by the housekeeper, for its lease (read past the first bytes)
        self._received = 0  # bytes read past the first ones

    def read(self, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        if self._closed:
            raise ValueError(f"blob {self.id} is closed")
        if offset < 0 or length < 0 or offset + length > self.size:
            raise OSError(f"blob {self.id} holds {self.size} bytes, not {offset + length}")
        if offset < len(self._first) and length:
            take = min(length, len(self._first) - offset)
            yield from _pieces(memoryview(self._first)[offset : offset + take], chunk)
            offset += take
            length -= take
        requests = self._requests(offset, length)
        pending: deque[tuple[Pending, int]] = deque()

        def send() -> None:
            request = next(requests, None)
            if request is not None:
                name, within, count = request
                pending.append((self._pool.aio_read(name, count, within), count))

        for _ in range(READ_AHEAD):
            send()
        while pending:
            reply, count = pending.popleft()
            try:
                reply.wait()
            except FileNotFoundError:
                raise OSError(f"blob {self.id} lost a stripe (removed while open?)") from None
            if len(reply.data) != count:
                raise OSError(f"blob {self.id} is shorter than its header says")
            self._received += count
            send()
            yield from _pieces(reply.data, chunk)

    def _requests(self, offset: int, length: int) -> Iterator[tuple[str, int, int]]:
        """(object, offset in it, byte count) for each piece of each stripe the range
        crosses."""
        while length > 0:
            index, within = divmod(offset, self._stripe)
            count = min(length, self._stripe - within, READ_PIECE)
            yield stripe_name(self.id, index), within + (HEADER.size if index == 0 else 0), count
            offset += count
            length -= count

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._first = b""
        freeing.transferred(self._received)
        if self.kept:
            self._store._housekeeper().closed(self)

    @property
    def closed(self) -> bool:
        return self._closed


def _pieces(data: bytes | memoryview, chunk: int) -> Iterator[Bytes]:
    if len(data) <= chunk:
        yield data
        return
    view = memoryview(data)
    for start in range(0, len(view), chunk):
        yield view[start : start + chunk]
