"""Blobs in memory: the blob store of use cases run without a data directory (tests, tools).

Paths are opaque to Object Storage, so nothing here imitates a file system beyond what the
port promises: a blob is invisible until committed, a writer that is neither committed nor
aborted is a temporary until :meth:`MemoryBlobStore.recover`, and an opened blob reads
whole after it is deleted (it holds the bytes, as a descriptor holds a deleted file).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator

from nexq.storage.blobs.port import BlobWriter, Bytes, OpenBlob, copy_by_reading, read_blob

_COPY_CHUNK = 8 * 1024 * 1024


class MemoryBlobWriter:
    """Gathers one blob's bytes; :meth:`commit` publishes them under a new path."""

    def __init__(self, store: MemoryBlobStore) -> None:
        self._store = store
        self._name = uuid.uuid4().hex
        self._pieces: list[bytes] = []
        self._size = 0
        store._begin(self._name)

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | memoryview) -> None:
        self._pieces.append(bytes(data))
        self._size += len(data)

    def commit(self) -> str:
        path = f"{self._name[:2]}/{self._name}"
        self._store._publish(self._name, path, b"".join(self._pieces))
        self._pieces = []
        return path

    def abort(self) -> None:
        self._pieces = []
        self._store._end(self._name)


class OpenBytes:
    """A blob's bytes, held for as long as the reader wants them."""

    def __init__(self, path: str, data: bytes) -> None:
        self._path = path
        self._data: bytes | None = data
        self.size = len(data)

    def read(self, offset: int, length: int, chunk: int) -> Iterator[bytes]:
        if self._data is None:
            raise ValueError(f"blob {self._path} is closed")
        data = memoryview(self._data)
        while length > 0:
            piece = bytes(data[offset : offset + min(chunk, length)])
            if not piece:
                raise OSError(f"blob {self._path} is shorter than its metadata says")
            offset += len(piece)
            length -= len(piece)
            yield piece

    def close(self) -> None:
        self._data = None


class MemoryBlobStore:
    """:class:`BlobStore` in memory, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, tuple[bytes, float]] = {}  # path -> (bytes, commit time)
        self._temporaries: set[str] = set()

    def _begin(self, name: str) -> None:
        with self._lock:
            self._temporaries.add(name)

    def _end(self, name: str) -> None:
        with self._lock:
            self._temporaries.discard(name)

    def _publish(self, name: str, path: str, data: bytes) -> None:
        with self._lock:
            if name not in self._temporaries:
                # Removed by recover() (or aborted): as a renamed-away temporary file would.
                raise FileNotFoundError(f"temporary blob {name} is gone")
            self._temporaries.discard(name)
            self._blobs[path] = (data, time.time())

    def writer(self) -> MemoryBlobWriter:
        return MemoryBlobWriter(self)

    def open(self, path: str) -> OpenBytes:
        with self._lock:
            found = self._blobs.get(path)
        if found is None:
            raise FileNotFoundError(f"no blob {path}")
        return OpenBytes(path, found[0])

    def read(self, path: str, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        return read_blob(self, path, offset, length, chunk)

    def copy_into(self, writer: BlobWriter, source: OpenBlob, offset: int, length: int) -> None:
        copy_by_reading(writer, source, offset, length, _COPY_CHUNK)

    def delete(self, paths: Iterable[str]) -> None:
        with self._lock:
            for path in paths:
                self._blobs.pop(path, None)

    def inventory(self) -> tuple[dict[str, tuple[int, float]], int]:
        with self._lock:
            blobs = {path: (len(data), when) for path, (data, when) in self._blobs.items()}
            return blobs, len(self._temporaries)

    def recover(self, referenced: set[str]) -> int:
        with self._lock:
            orphans = [path for path in self._blobs if path not in referenced]
            for path in orphans:
                del self._blobs[path]
            removed = len(self._temporaries) + len(orphans)
            self._temporaries.clear()
            return removed
