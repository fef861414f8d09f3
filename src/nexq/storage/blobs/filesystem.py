"""Blobs as files under the data directory: written to tmp/, fsynced by the group commit."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from nexq.storage.blobs.port import BlobWriter

_COPY_CHUNK = 8 * 1024 * 1024


class FileBlobWriter:
    """Writes one blob to a temporary file, then renames it into the blob tree."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self._root = root
        self._name = uuid.uuid4().hex
        self._tmp_path = tmp / self._name
        self._fd = os.open(self._tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._size = 0

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self._size += written

    def add_size(self, count: int) -> None:
        self._size += count

    def commit(self) -> str:
        # The data and the rename are made durable together with the metadata that points at
        # them: the committer calls syncfs before committing (see core.db.Committer).
        os.close(self._fd)
        self._fd = -1
        relative = f"{self._name[:2]}/{self._name}"
        os.rename(self._tmp_path, self._root / relative)
        return relative

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_path)


class FileBlobStore:
    """:class:`BlobStore` on a local (or shared, mounted) file system."""

    def __init__(self, root: Path) -> None:
        self.root = root / "blobs"
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        # 256 fan-out directories made once, so no write pays for a mkdir; ext4's hashed
        # directories keep lookups fast with many thousands of files in each.
        for fan in range(256):
            (self.root / f"{fan:02x}").mkdir(parents=True, exist_ok=True)

    def writer(self) -> FileBlobWriter:
        return FileBlobWriter(self.root, self.tmp)

    def read(self, path: str, offset: int, length: int, chunk: int) -> Iterator[bytes]:
        with open(self.root / path, "rb", buffering=0) as f:
            f.seek(offset)
            while length > 0:
                data = f.read(min(chunk, length))
                if not data:
                    raise OSError(f"blob {path} is shorter than its metadata says")
                length -= len(data)
                yield data

    def copy_into(self, writer: BlobWriter, path: str, offset: int, length: int) -> None:
        if not isinstance(writer, FileBlobWriter):
            for data in self.read(path, offset, length, _COPY_CHUNK):
                writer.write(data)
            return
        src = os.open(self.root / path, os.O_RDONLY)
        try:
            while length > 0:
                # The kernel moves the bytes (and may share extents); Python never sees them.
                copied = os.copy_file_range(src, writer.fd, min(length, _COPY_CHUNK), offset)
                if copied == 0:
                    raise OSError(f"blob {path} is shorter than its metadata says")
                offset += copied
                length -= copied
                writer.add_size(copied)
        finally:
            os.close(src)

    def delete(self, paths: Iterable[str]) -> None:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.root / path)

    def inventory(self) -> tuple[dict[str, tuple[int, float]], int]:
        blobs: dict[str, tuple[int, float]] = {}
        for fan in os.scandir(self.root):
            for blob in os.scandir(fan.path):
                info = blob.stat()
                blobs[f"{fan.name}/{blob.name}"] = (info.st_size, info.st_mtime)
        return blobs, sum(1 for _ in os.scandir(self.tmp))

    def recover(self, referenced: set[str]) -> int:
        removed = 0
        for entry in os.scandir(self.tmp):
            os.unlink(entry.path)
            removed += 1
        for fan in os.scandir(self.root):
            for blob in os.scandir(fan.path):
                if f"{fan.name}/{blob.name}" not in referenced:
                    os.unlink(blob.path)
                    removed += 1
        return removed
