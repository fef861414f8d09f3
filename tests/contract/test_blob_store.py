"""The BlobStore contract: every implementation passes these."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.memory import MemoryBlobStore
from nexq.storage.blobs.port import BlobStore

IMPLEMENTATIONS: dict[str, Callable[[Path], BlobStore]] = {
    "filesystem": FileBlobStore,
    "memory": lambda _: MemoryBlobStore(),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return IMPLEMENTATIONS[request.param](tmp_path)


def write(store: BlobStore, data: bytes) -> str:
    writer = store.writer()
    writer.write(data[: len(data) // 2])
    writer.write(memoryview(data)[len(data) // 2 :])
    assert writer.size == len(data)
    return writer.commit()


def test_write_read_ranges(store: BlobStore) -> None:
    data = bytes(range(256)) * 100
    path = write(store, data)
    assert b"".join(store.read(path, 0, len(data), 1000)) == data
    assert b"".join(store.read(path, 300, 5000, 64)) == data[300:5300]
    assert all(len(c) <= 64 for c in store.read(path, 0, 1000, 64))


def test_paths_are_unique(store: BlobStore) -> None:
    assert write(store, b"a") != write(store, b"a")


def test_abort_leaves_nothing(store: BlobStore) -> None:
    writer = store.writer()
    writer.write(b"partial")
    writer.abort()
    assert store.recover(set()) == 0


def test_copy_into(store: BlobStore) -> None:
    source = write(store, b"0123456789")
    writer = store.writer()
    writer.write(b"<")
    opened = store.open(source)
    store.copy_into(writer, opened, 2, 5)
    opened.close()
    writer.write(b">")
    copied = writer.commit()
    assert b"".join(store.read(copied, 0, 7, 100)) == b"<23456>"


def test_an_open_blob_reads_whole_after_delete(store: BlobStore) -> None:
    data = bytes(range(256)) * 40
    path = write(store, data)
    opened = store.open(path)
    store.delete([path])
    assert b"".join(opened.read(0, len(data), 4096)) == data
    target = store.writer()
    store.copy_into(target, opened, 10, 100)
    copied = target.commit()
    assert b"".join(store.read(copied, 0, 100, 100)) == data[10:110]
    opened.close()
    with pytest.raises(FileNotFoundError):
        store.open(path)


def test_delete_and_recover_orphans(store: BlobStore) -> None:
    kept, orphan = write(store, b"kept"), write(store, b"orphan")
    store.writer().write(b"left in tmp")
    assert store.recover({kept}) == 2
    assert b"".join(store.read(kept, 0, 4, 10)) == b"kept"
    with pytest.raises(OSError):
        b"".join(store.read(orphan, 0, 6, 10))
    store.delete([kept, kept])
    assert store.recover(set()) == 0


def test_inventory_lists_committed_blobs(store: BlobStore) -> None:
    path = write(store, b"12345")
    store.writer().write(b"temporary")
    blobs, temporaries = store.inventory()
    assert blobs[path][0] == 5
    assert temporaries == 1


def test_short_blob_is_an_error_not_a_short_read(store: BlobStore) -> None:
    path = write(store, b"abc")
    with pytest.raises(OSError):
        b"".join(store.read(path, 0, 10, 100))


def test_a_writer_cut_off_by_recovery_cannot_commit(store: BlobStore) -> None:
    writer = store.writer()
    writer.write(b"started before a restart's recovery")
    assert store.recover(set()) == 1
    with pytest.raises(FileNotFoundError):
        writer.commit()
    assert store.inventory() == ({}, 0)


def test_an_aborted_blob_is_not_listed(store: BlobStore) -> None:
    kept = write(store, b"kept")
    writer = store.writer()
    writer.write(b"dropped")
    writer.abort()
    blobs, temporaries = store.inventory()
    assert list(blobs) == [kept] and temporaries == 0
