"""Reading a blob from the pool (:class:`RadosOpenBlob`).

Readers. :meth:`~RadosBlobStore.open` reads the head's header and the blob's first 64 KiB in
one operation: a small blob is then read whole from memory. A larger one is read stripe by
stripe, only the stripes and bytes the range needs, several requests in flight (and kept
readable once deleted by a lease: :mod:`nexq.storage.blobs.rados.housekeeping`).
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from nexq.storage.blobs.rados.layout import HEADER, Header, stripe_name
from nexq.storage.blobs.rados.pool import Pending

if TYPE_CHECKING:
    from nexq.storage.blobs.rados.store import RadosBlobStore

READ_WINDOW = 4  # requests in flight per reader


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

    def read(self, offset: int, length: int, chunk: int) -> Iterator[bytes]:
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

        for _ in range(READ_WINDOW):
            send()
        while pending:
            reply, count = pending.popleft()
            try:
                reply.wait()
            except FileNotFoundError:
                raise OSError(f"blob {self.id} lost a stripe (removed while open?)") from None
            if len(reply.data) != count:
                raise OSError(f"blob {self.id} is shorter than its header says")
            send()
            yield from _pieces(memoryview(reply.data), chunk)

    def _requests(self, offset: int, length: int) -> Iterator[tuple[str, int, int]]:
        """(object, offset in it, byte count) for each stripe the range crosses."""
        while length > 0:
            index, within = divmod(offset, self._stripe)
            count = min(length, self._stripe - within)
            yield stripe_name(self.id, index), within + (HEADER.size if index == 0 else 0), count
            offset += count
            length -= count

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._first = b""
        if self.kept:
            self._store._housekeeper().closed(self)

    @property
    def closed(self) -> bool:
        return self._closed


def _pieces(data: memoryview, chunk: int) -> Iterator[bytes]:
    for start in range(0, len(data), chunk):
        yield bytes(data[start : start + chunk])
