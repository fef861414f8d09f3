"""Small blobs kept in the metadata row that names them, not in a file of their own.

A blob of at most :data:`INLINE_MAX` stored bytes gets a path that *is* its bytes
(``inline:`` and their base64). The row that names it is the only copy, made durable by the
same commit that makes the object visible: a small PUT then creates, fsyncs and later
unlinks no file. On a file system that is slow to create inodes (ext4 scans recently freed
ones), that was a third of a small PUT's time.

:class:`InlineBlobs` wraps the store that holds every other blob. A writer buffers up to
the limit and only opens a blob of the inner store once a write goes past it, so a blob
whose size is not known in advance still ends up in one place or the other, whole. Sealing
sits above this layer (``SealedBlobs(InlineBlobs(files))``): what a row holds is sealed as
a file would be.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator

from nexq.storage.blobs.port import (
    BlobStore,
    BlobWriter,
    Bytes,
    OpenBlob,
    copy_by_reading,
    read_blob,
)
from nexq.storage.blobs.space import FreeSpace

PREFIX = "inline:"
# Stored bytes: an 8 KiB object sealed (88 bytes of header, 16 of tag) fits, with room.
INLINE_MAX = 8 * 1024 + 256


def is_inline(path: str) -> bool:
    """Whether the blob named ``path`` lives in the row (no file holds it)."""
    return path.startswith(PREFIX)


class InlineWriter:
    """Buffers a blob while it is small; past :data:`INLINE_MAX`, writes it to the inner
    store's writer."""

    def __init__(self, inner: BlobStore, limit: int, space: FreeSpace | None) -> None:
        self._inner = inner
        self._limit = limit
        self._space = space
        self._buffer = bytearray()
        self.spilled: BlobWriter | None = None
        if space is not None:
            space.take(0)  # refused up front when the disk is down to its reserve, as a file

    @property
    def size(self) -> int:
        return self.spilled.size if self.spilled is not None else len(self._buffer)

    def write(self, data: bytes | memoryview) -> None:
        if self.spilled is None and len(self._buffer) + len(data) <= self._limit:
            if self._space is not None:
                # The row takes room on the same disk: the reserve that lets deletes and
                # aborts write is kept from small objects as from files.
                self._space.take(len(data))
            self._buffer += data
            return
        self.spill().write(data)

    def spill(self) -> BlobWriter:
        """The inner writer, with what was buffered written to it first."""
        if self.spilled is None:
            self.spilled = self._inner.writer()
            try:
                if self._buffer:
                    self.spilled.write(memoryview(self._buffer))
            except BaseException:
                self.spilled.abort()
                raise
            self._buffer = bytearray()
        return self.spilled

    def commit(self) -> str:
        if self.spilled is not None:
            return self.spilled.commit()
        return PREFIX + base64.b64encode(self._buffer).decode("ascii")

    def abort(self) -> None:
        if self.spilled is not None:
            self.spilled.abort()
        self._buffer = bytearray()


class InlineBlob:
    """An inline blob opened for reading."""

    def __init__(self, path: str) -> None:
        self._data = memoryview(base64.b64decode(path[len(PREFIX) :], validate=True))

    @property
    def size(self) -> int:
        return len(self._data)

    def read(self, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        end = min(offset + length, len(self._data))
        while offset < end:
            yield self._data[offset : min(offset + chunk, end)]
            offset += chunk

    def close(self) -> None:
        self._data.release()


class InlineBlobs:
    """:class:`~nexq.storage.blobs.port.BlobStore`: small blobs inline, others in ``inner``."""

    def __init__(
        self, inner: BlobStore, limit: int = INLINE_MAX, space: FreeSpace | None = None
    ) -> None:
        """``space``: the reserve of the disk the metadata is on, when it is this host's."""
        self.inner = inner
        self._limit = limit
        self._space = space

    def writer(self) -> InlineWriter:
        return InlineWriter(self.inner, self._limit, self._space)

    def open(self, path: str) -> OpenBlob:
        if is_inline(path):
            return InlineBlob(path)
        return self.inner.open(path)

    def read(self, path: str, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        return read_blob(self, path, offset, length, chunk)

    def copy_into(self, writer: BlobWriter, source: OpenBlob, offset: int, length: int) -> None:
        if (
            isinstance(writer, InlineWriter)
            and not isinstance(source, InlineBlob)
            and writer.size + length > self._limit
        ):
            # A file into a writer that will be a file: the inner store copies (the kernel
            # moves the bytes, for files).
            self.inner.copy_into(writer.spill(), source, offset, length)
            return
        copy_by_reading(writer, source, offset, length, self._limit)

    def delete(self, paths: Iterable[str]) -> None:
        # An inline blob goes with its row.
        self.inner.delete([p for p in paths if not is_inline(p)])

    def inventory(self) -> tuple[dict[str, tuple[int, float]], int]:
        """The inner store's blobs (inline ones are in the metadata, not listed here)."""
        return self.inner.inventory()

    def recover(self, referenced: set[str]) -> int:
        return self.inner.recover(referenced)
