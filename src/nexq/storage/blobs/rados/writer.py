"""Writing a blob into the pool (:class:`RadosBlobWriter`).

Writing. A blob of up to one stripe stays in the writer's memory, and its commit writes it
whole, header and bytes, in one operation made with exclusive creation: nothing of it is in
the pool before it is committed, so a node that dies then leaves nothing to collect (until
then it is a temporary of this process: :meth:`~RadosBlobStore.inventory` counts it and
:meth:`~RadosBlobStore.recover` cuts it off, so that its commit fails). A larger blob gets
its head with its first full stripe, in state ``w``; its stripes go out as they fill, several
in flight, and the commit waits until RADOS acknowledged every one (acknowledged = durable
on the OSDs' disks) before it turns ``w`` into ``c`` in one operation that fails if the head
is no longer ``w``, so a writer cut off by a recovery cannot commit. Past the first stripe,
the bytes go out in pieces of :data:`WRITE_PIECE` (several per stripe object), at most
:data:`WRITE_AHEAD` of them in flight: librados holds a copy of each until the OSD acknowledged
it, and a worker's memory grows with what it has in flight (and keeps it, in the allocator),
so that is bounded to a few MiB. A node that dies
mid-write leaves a ``w`` head and stripes (or stripes only, if the head's creation was lost:
RADOS orders one client's operations on one object, not across objects): both are
temporaries to inventory() and recover().
"""

from __future__ import annotations

import contextlib
import errno
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING

from nexq.core.errors import full_disk_named
from nexq.storage.blobs.rados import freeing
from nexq.storage.blobs.rados.layout import (
    COMMITTED,
    HEADER,
    WRITING,
    Header,
    remove_all,
    stripe_name,
)
from nexq.storage.blobs.rados.pool import Pending, mismatch

if TYPE_CHECKING:
    from nexq.storage.blobs.rados.store import RadosBlobStore

WRITE_PIECE = 1024 * 1024  # bytes per write request past the first stripe
WRITE_AHEAD = 4  # write requests in flight per writer


class RadosBlobWriter:
    """Writes one blob. Up to one stripe, the bytes wait in memory and :meth:`commit` writes
    them with the committed header in a single operation. Beyond, the head is made (``w``)
    with the first full stripe, the rest goes out in pieces as they fill, several in flight,
    and :meth:`commit` waits for every acknowledgement before it turns ``w`` into ``c``."""

    def __init__(self, store: RadosBlobStore, path: str | None = None) -> None:
        self._store = store
        self._pool = store._connection().pool
        self._stripe = store.stripe
        self.id = path or uuid.uuid4().hex
        # A new id's head is created exclusively; an adopted path's replaces what an
        # interrupted adoption of the same blob left there (:meth:`RadosBlobStore.adopt`).
        self._exclusive = path is None
        # The bytes not sent yet, as copies of what write() was given (the caller may reuse
        # its buffer), joined when sent: no buffer reallocated as it grows, and a piece
        # given whole is sent as its one copy.
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._sent = 0  # bytes sent (the blob's first, from offset 0)
        self._pending: deque[Pending] = deque()
        self._created: Pending | None = None  # the head's creation, once sent
        self._size = 0
        self._open = True
        store._begin(self)

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | memoryview) -> None:
        if not self._open:
            raise ValueError(f"blob {self.id} is no longer being written")
        view = memoryview(data).cast("B")
        self._size += len(view)
        while view:
            room = self._piece() - self._buffered
            self._buffer.append(bytes(view[:room]))
            self._buffered += len(self._buffer[-1])
            view = view[room:]
            if self._buffered == self._piece():
                self._send()

    def _piece(self) -> int:
        """How many bytes the next request sends: the whole first stripe (a blob of up to
        one stripe is committed in one operation, so it waits for the stripe to fill), then
        pieces that never cross a stripe's end."""
        if not self._sent:
            return self._stripe
        return min(WRITE_PIECE, self._stripe - self._sent % self._stripe)

    def _send(self) -> None:
        data = b"".join(self._buffer)
        self._buffer = []
        self._buffered = 0
        index, within = divmod(self._sent, self._stripe)
        if not self._sent:
            # The head first, then stripe 0 into it: RADOS applies one client's operations
            # on one object in order, so neither waits for the other. Stripes > 0 may land
            # before the head: stripes without a head are garbage to recover().
            header = Header(WRITING, self._stripe, 0, time.time()).pack()
            self._created = self._pool.operate(
                self.id, create=self._exclusive, write_full=header, wait=False
            )
            pending = self._pool.aio_write(self.id, data, HEADER.size)
        elif within == 0:
            # Whole: replaces what an interrupted adoption of the same path left there.
            pending = self._pool.aio_write_full(stripe_name(self.id, index), data)
        else:
            pending = self._pool.aio_write(stripe_name(self.id, index), data, within)
        self._sent += len(data)
        self._pending.append(pending)
        while len(self._pending) > WRITE_AHEAD:
            with full_disk_named():
                self._pending.popleft().wait()

    @property
    def has_head(self) -> bool:
        return self._created is not None

    def created(self) -> None:
        """Wait until the head exists, if it was sent (raises what prevented it)."""
        if self._created is not None:
            with full_disk_named():
                self._created.wait()

    def commit(self) -> str:
        if not self._open:
            raise ValueError(f"blob {self.id} is no longer being written")
        try:
            if not self._store._end(self):
                raise FileNotFoundError(
                    errno.ENOENT, f"temporary blob {self.id} is gone (removed by a recovery)"
                )
            with full_disk_named():
                header = Header(COMMITTED, self._stripe, self._size, time.time()).pack()
                if not self._sent:
                    # One stripe at most: made, filled and committed in one operation.
                    self._pool.operate(
                        self.id,
                        create=self._exclusive,
                        write_full=b"".join([header, *self._buffer]),
                    )
                else:
                    if self._buffer:
                        self._send()
                    self.created()
                    while self._pending:
                        self._pending.popleft().wait()
                    self._pool.operate(self.id, expect=WRITING, writes=[(0, header)])
        except Exception as exc:
            self.abort()
            if isinstance(exc, OSError) and mismatch(exc):  # not "w" any more
                raise FileNotFoundError(
                    errno.ENOENT, f"temporary blob {self.id} is gone (removed by a recovery)"
                ) from None
            raise
        self._open = False
        self._buffer = []
        freeing.transferred(self._sent)
        return self.id

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        self._buffer = []
        self._store._end(self)
        with contextlib.suppress(Exception):
            self.created()
        while self._pending:
            with contextlib.suppress(OSError):
                self._pending.popleft().wait()
        if self._sent:
            last = (self._sent - 1) // self._stripe
            names = [stripe_name(self.id, i) for i in range(last, -1, -1)]
            remove_all(self._pool, names)  # the head last
        freeing.transferred(self._sent)
