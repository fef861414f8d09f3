"""Blobs as files under the data directory: written to tmp/, renamed into the blob tree and
made durable by their writer before any row names them."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from nexq.core.durability import WRITEBACK_BYTES, Durability, FileSync, start_writeback
from nexq.core.errors import full_disk_named
from nexq.storage.blobs.hold import clear_leftover, remove_blobs
from nexq.storage.blobs.port import BlobWriter, Bytes, OpenBlob, copy_by_reading, read_blob
from nexq.storage.blobs.space import FreeSpace

_COPY_CHUNK = 8 * 1024 * 1024


class FileBlobWriter:
    """Writes one blob to a temporary file, then renames it into the blob tree."""

    def __init__(self, root: Path, tmp: Path, space: FreeSpace, durability: Durability) -> None:
        self._root = root
        self._space = space
        self._durability = durability
        self._name = uuid.uuid4().hex
        self._tmp_path = tmp / self._name
        space.take(0)
        with full_disk_named():
            self._fd = os.open(self._tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._size = 0
        self._written_back = 0  # how much of the file's writeback was started

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        self._space.take(len(view))
        with full_disk_named():
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
                self._size += written
        if self._size - self._written_back >= WRITEBACK_BYTES:
            start_writeback(self._fd, self._written_back, self._size - self._written_back)
            self._written_back = self._size

    def make_room(self, count: int) -> None:
        """Claim room for ``count`` bytes about to be copied in by the kernel."""
        self._space.take(count)

    def add_size(self, count: int) -> None:
        self._size += count

    def commit(self) -> str:
        relative = f"{self._name[:2]}/{self._name}"
        target = self._root / relative
        try:
            with full_disk_named():
                os.rename(self._tmp_path, target)
                # Renamed first, then flushed: on a journalling file system the file's flush
                # commits the rename in the same journal transaction, and the directory's
                # flush finds nothing left to do. Until the row naming it commits, a file
                # here that a power cut cut short is an orphan for garbage collection.
                self._durability.sync_file(self._fd)
                self._durability.sync_dir(target.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)
            raise
        finally:
            os.close(self._fd)
            self._fd = -1
        return relative

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_path)


class OpenFile:
    """A blob file held open: an unlinked file stays readable through its descriptor, so a
    download outlives the garbage collection of the version it is reading."""

    def __init__(self, path: Path) -> None:
        # A file object, not a bare descriptor: if a response is dropped before its body is
        # sent, the descriptor is closed when the object goes, not leaked.
        self.file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()

    @property
    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size

    def read(self, offset: int, length: int, chunk: int) -> Iterator[bytes]:
        fd = self.file.fileno()
        while length > 0:
            data = os.pread(fd, min(chunk, length), offset)
            if not data:
                raise OSError(f"blob {self.file.name} is shorter than its metadata says")
            offset += len(data)
            length -= len(data)
            yield data

    def close(self) -> None:
        self.file.close()


class FileBlobStore:
    """:class:`BlobStore` on a local (or shared, mounted) file system."""

    def __init__(self, root: Path, durability: Durability | None = None) -> None:
        self.base = root  # also where a backup's hold is (storage.blobs.hold)
        self.root = root / "blobs"
        self._durability = durability or FileSync()
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.space = FreeSpace(root)
        # 256 fan-out directories made once, so no write pays for a mkdir; ext4's hashed
        # directories keep lookups fast with many thousands of files in each.
        for fan in range(256):
            (self.root / f"{fan:02x}").mkdir(parents=True, exist_ok=True)

    def writer(self) -> FileBlobWriter:
        return FileBlobWriter(self.root, self.tmp, self.space, self._durability)

    def open(self, path: str) -> OpenFile:
        return OpenFile(self.root / path)

    def read(self, path: str, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        return read_blob(self, path, offset, length, chunk)

    def copy_into(self, writer: BlobWriter, source: OpenBlob, offset: int, length: int) -> None:
        if not isinstance(writer, FileBlobWriter) or not isinstance(source, OpenFile):
            copy_by_reading(writer, source, offset, length, _COPY_CHUNK)
            return
        src = source.file.fileno()
        while length > 0:
            writer.make_room(min(length, _COPY_CHUNK))
            # The kernel moves the bytes (and may share extents); Python never sees them.
            with full_disk_named():
                copied = os.copy_file_range(src, writer.fd, min(length, _COPY_CHUNK), offset)
            if copied == 0:
                raise OSError(f"blob {source.file.name} is shorter than its metadata says")
            offset += copied
            length -= copied
            writer.add_size(copied)

    def delete(self, paths: Iterable[str]) -> None:
        # Moved aside instead while a backup copies the installation (storage.blobs.hold).
        remove_blobs(self.base, self.root, paths)

    def inventory(self) -> tuple[dict[str, tuple[int, float]], int]:
        blobs: dict[str, tuple[int, float]] = {}
        for fan in os.scandir(self.root):
            for blob in os.scandir(fan.path):
                info = blob.stat()
                blobs[f"{fan.name}/{blob.name}"] = (info.st_size, info.st_mtime)
        return blobs, sum(1 for _ in os.scandir(self.tmp))

    def recover(self, referenced: set[str]) -> int:
        removed = clear_leftover(self.base)
        for entry in os.scandir(self.tmp):
            os.unlink(entry.path)
            removed += 1
        orphans = [
            f"{fan.name}/{blob.name}"
            for fan in os.scandir(self.root)
            for blob in os.scandir(fan.path)
            if f"{fan.name}/{blob.name}" not in referenced
        ]
        # A backup started before this server may still need them: its snapshot was taken
        # before whatever left them unreferenced.
        remove_blobs(self.base, self.root, orphans)
        return removed + len(orphans)
