"""The RADOS blob store's objects in the pool: names, the head's header, the states.

Layout. A blob is named by a random id (32 hex digits, the path
:meth:`~nexq.storage.blobs.rados.writer.RadosBlobWriter.commit` returns) and
cut in stripes of ``stripe`` bytes (4 MiB unless told: RBD's and RGW's object size, large
enough that one operation moves data at the cluster's pace, small enough that a writer keeps
several in flight with little memory, far below ``osd_max_object_size``, 128 MiB). Stripe 0
lives in the blob's *head*, the object named by the id, after a 32-byte header (state,
stripe size, blob size, time); stripe ``n`` > 0 in the object ``<id>.<n>``. A blob of up to
one stripe is therefore one object: written by one operation, read by one. A blob copied
from a file store by :meth:`~RadosBlobStore.adopt` keeps that store's path (``ab/abcd…``)
as its head's name instead of a new id.

States, in the header's first byte, changed only by compare-and-write operations (RADOS
applies an operation's steps atomically on one object): ``w`` writing, ``c`` committed,
``d`` deleted: :meth:`~RadosBlobStore.delete` marks the head; the blob can no longer be
opened, but its objects stay for ``delete_grace`` seconds (60) and as long as a reader holds
a lease on it, then are removed ("reaped") by a housekeeping thread, or, if this process
ends first, by a later recover() (on any node).
"""

from __future__ import annotations

import contextlib
import re
import struct
from dataclasses import dataclass

from nexq.storage.blobs.rados.pool import Pool

STRIPE = 4 * 1024 * 1024
HEADER = struct.Struct("<c3sIQd8x")  # state, magic, stripe size, blob size, time; 32 bytes
TIME = 16  # the time's offset in the header
MAGIC = b"NXQ"
WRITING, COMMITTED, DELETED = b"w", b"c", b"d"
LIST_WINDOW = 256  # header reads in flight while taking an inventory
# A blob's path is its head's name, and ``<path>.<n>`` its stripe n > 0. A blob written here
# is named by a random id (32 hex digits); one adopted from a file store
# (:meth:`RadosBlobStore.adopt`, for ``nexq admin move``) keeps that store's path,
# ``<the id's first two digits>/<id>``, so that the metadata naming it needs no change.
# Object names may hold a "/": the mapping from path to names is the identity, and either
# form parses back.
_PATH = r"(?:(?P<fan>[0-9a-f]{2})/(?=(?P=fan)))?[0-9a-f]{32}"
ID = re.compile(_PATH)
STRIPE_NAME = re.compile(rf"(?P<blob>{_PATH})\.(?P<index>[1-9][0-9]*)")


@dataclass(frozen=True)
class Header:
    state: bytes
    stripe: int
    size: int
    time: float

    def pack(self) -> bytes:
        return HEADER.pack(self.state, MAGIC, self.stripe, self.size, self.time)

    @classmethod
    def parse(cls, data: bytes) -> Header | None:
        if len(data) < HEADER.size:
            return None
        state, magic, stripe, size, when = HEADER.unpack_from(data)
        if magic != MAGIC or state not in (WRITING, COMMITTED, DELETED) or stripe <= 0:
            return None
        return cls(state, stripe, size, when)

    def stripes(self) -> int:
        return max(1, -(-self.size // self.stripe))


def stripe_name(blob: str, index: int) -> str:
    return blob if index == 0 else f"{blob}.{index}"


def remove_all(pool: Pool, names: list[str]) -> None:
    """Remove objects, several at a time; missing ones are fine."""
    for start in range(0, len(names), LIST_WINDOW):
        pending = [pool.aio_remove(name) for name in names[start : start + LIST_WINDOW]]
        for one in pending:
            with contextlib.suppress(FileNotFoundError):
                one.wait()
