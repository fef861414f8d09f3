"""A blob file is durable, bytes and name, when its writer's commit returns; nothing else is
flushed (the power-cut model in tests/reliability checks the same end to end)."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from nexq.core import durability
from nexq.core.durability import WRITEBACK_BYTES, FileSync, start_writeback
from nexq.core.errors import StorageFull
from nexq.storage.blobs.filesystem import FileBlobStore


class Recorded:
    """A durability port that records what each call covers, and may fail."""

    def __init__(self, error: OSError | None = None) -> None:
        self.calls: list[str] = []
        self._error = error

    def sync_file(self, fd: int) -> None:
        info = os.fstat(fd)
        self.calls.append(f"file {info.st_size} bytes, {info.st_nlink} name")
        if self._error is not None:
            raise self._error

    def sync_dir(self, path: Path) -> None:
        self.calls.append(f"dir {path.name}: {sorted(os.listdir(path))}")


def test_commit_flushes_the_file_then_the_directory_that_names_it(tmp_path: Path) -> None:
    port = Recorded()
    store = FileBlobStore(tmp_path, port)
    writer = store.writer()
    writer.write(b"x" * 5000)
    assert port.calls == []  # nothing is flushed while the body arrives
    relative = writer.commit()
    fan, name = relative.split("/")
    assert port.calls == ["file 5000 bytes, 1 name", f"dir {fan}: {[name]}"]
    assert (store.root / relative).read_bytes() == b"x" * 5000
    assert os.listdir(store.tmp) == []


def test_an_aborted_blob_is_never_flushed(tmp_path: Path) -> None:
    port = Recorded()
    store = FileBlobStore(tmp_path, port)
    writer = store.writer()
    writer.write(b"partial")
    writer.abort()
    assert port.calls == [] and os.listdir(store.tmp) == []


def test_a_failed_flush_fails_the_commit_and_leaves_no_blob(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path, Recorded(OSError(errno.ENOSPC, "No space left on device")))
    writer = store.writer()
    writer.write(b"y" * 100)
    with pytest.raises(StorageFull):
        writer.commit()
    writer.abort()  # what every caller does after a failure: harmless here
    assert [p for p in store.root.rglob("*") if p.is_file()] == []
    assert os.listdir(store.tmp) == []
    failing = FileBlobStore(tmp_path, Recorded(OSError(errno.EIO, "I/O error")))
    writer = failing.writer()
    with pytest.raises(OSError) as refused:
        writer.commit()
    assert refused.value.errno == errno.EIO


def test_file_sync_flushes_or_says_why(tmp_path: Path) -> None:
    sync = FileSync()
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"data")
        sync.sync_file(fd)
    finally:
        os.close(fd)
    before = len(os.listdir("/proc/self/fd"))
    sync.sync_dir(tmp_path)
    assert len(os.listdir("/proc/self/fd")) == before  # no descriptor is kept
    with pytest.raises(FileNotFoundError):
        sync.sync_dir(tmp_path / "missing")
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(OSError) as refused:
            sync.sync_file(write_end)  # a pipe cannot be made durable: the kernel says so
        assert refused.value.errno == errno.EINVAL
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_large_blob_starts_its_writeback_but_flushes_only_at_commit(tmp_path: Path) -> None:
    port = Recorded()
    writer = FileBlobStore(tmp_path, port).writer()
    for _ in range(3):
        writer.write(b"y" * WRITEBACK_BYTES)
    assert port.calls == []  # starting writeback is a hint, not a flush
    writer.commit()
    assert port.calls[0] == f"file {3 * WRITEBACK_BYTES} bytes, 1 name"


def test_start_writeback_reaches_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # On Linux the hint is sync_file_range(2): found, and refused for a closed file, so it
    # is not silently a no-op. The first refusal is logged with the kernel's reason.
    monkeypatch.setattr(durability, "_refusal_told", False)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"z" * 65536)
        assert start_writeback(fd, 0, 65536) is True
    finally:
        os.close(fd)
    with caplog.at_level(logging.WARNING, logger="nexq"):
        assert start_writeback(fd, 0, 65536) is False
        assert start_writeback(fd, 0, 65536) is False
    told = [r.getMessage() for r in caplog.records if "writeback" in r.getMessage()]
    assert len(told) == 1 and "EBADF" in told[0]
