"""Small blobs in their row (storage.blobs.inline), over files as an installation has them."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexq.core.crypto import SecretBox, new_key
from nexq.core.data_keys import DataKeys, MemoryDataKeys
from nexq.core.errors import StorageFull
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.inline import INLINE_MAX, InlineBlobs, is_inline
from nexq.storage.blobs.sealed import SealedBlobs
from nexq.storage.blobs.space import FreeSpace


@pytest.fixture
def files(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path)


def written(store: InlineBlobs | SealedBlobs, *pieces: bytes | memoryview) -> str:
    writer = store.writer()
    for piece in pieces:
        writer.write(piece)
    assert writer.size == sum(len(p) for p in pieces)
    return writer.commit()


@pytest.mark.parametrize("size", [0, 1, 4096, INLINE_MAX])
def test_a_blob_up_to_the_limit_is_its_path_and_makes_no_file(
    files: FileBlobStore, size: int
) -> None:
    store = InlineBlobs(files)
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = written(store, data[: size // 3], memoryview(data)[size // 3 :])
    assert is_inline(path)
    assert files.inventory() == ({}, 0)  # not even a temporary
    assert b"".join(store.read(path, 0, size, 1000)) == data
    assert b"".join(store.read(path, 7, 100, 9)) == data[7:107]
    assert all(len(c) <= 9 for c in store.read(path, 0, size, 9))
    opened = store.open(path)
    assert opened.size == size
    opened.close()


def test_past_the_limit_the_blob_is_a_file_with_every_byte(files: FileBlobStore) -> None:
    store = InlineBlobs(files)
    data = bytes(range(256)) * 40  # 10 KiB: the first write fits, the second does not
    path = written(store, data[:5000], data[5000:])
    assert not is_inline(path)
    assert files.inventory()[0][path][0] == len(data)
    assert b"".join(store.read(path, 0, len(data), 4096)) == data


def test_an_aborted_writer_leaves_nothing(files: FileBlobStore) -> None:
    store = InlineBlobs(files)
    for size in (10, INLINE_MAX + 10):
        writer = store.writer()
        writer.write(b"x" * size)
        writer.abort()
    assert files.inventory() == ({}, 0)


def test_delete_and_recover_leave_inline_paths_alone(files: FileBlobStore) -> None:
    store = InlineBlobs(files)
    small = written(store, b"small")
    big = written(store, b"b" * (INLINE_MAX + 1))
    store.delete([small, big])
    assert files.inventory() == ({}, 0)
    assert b"".join(store.read(small, 0, 5, 5)) == b"small"  # the path still holds it
    assert store.recover({small}) == 0


@pytest.mark.parametrize(
    ("source_size", "already"),
    [(100, 0), (100, INLINE_MAX - 50), (INLINE_MAX * 3, 0), (INLINE_MAX * 3, 10)],
)
def test_copy_into_from_either_kind_into_either_kind(
    files: FileBlobStore, source_size: int, already: int
) -> None:
    store = InlineBlobs(files)
    source_data = bytes(range(256)) * (source_size // 256 + 1)
    source_data = source_data[:source_size]
    source = store.open(written(store, source_data))
    writer = store.writer()
    writer.write(b"p" * already)
    store.copy_into(writer, source, 0, source_size)
    source.close()
    path = writer.commit()
    assert is_inline(path) == (already + source_size <= INLINE_MAX)
    whole = already + source_size
    assert b"".join(store.read(path, 0, whole, 65536)) == b"p" * already + source_data


def test_sealed_over_inline_keeps_the_plaintext_out_of_the_row(files: FileBlobStore) -> None:
    sealed = SealedBlobs(InlineBlobs(files), DataKeys(SecretBox(new_key()), MemoryDataKeys()))
    path = written(sealed, b"the customer's words")
    assert is_inline(path) and "customer" not in path
    assert b"".join(sealed.read(path, 0, 20, 20)) == b"the customer's words"
    # A whole sealed copy is the same stored bytes: inline stays inline.
    copy = sealed.writer()
    opened = sealed.open(path)
    sealed.copy_into(copy, opened, 0, opened.size)
    opened.close()
    assert b"".join(sealed.read(copy.commit(), 0, 20, 20)) == b"the customer's words"
    assert files.inventory() == ({}, 0)


def test_a_small_blob_keeps_the_disks_reserve_as_a_file_does(tmp_path: Path) -> None:
    class Full(FreeSpace):
        def room(self) -> int:
            return 0  # down to the reserve that deletes and aborts need

    store = InlineBlobs(FileBlobStore(tmp_path), space=Full(tmp_path))
    with pytest.raises(StorageFull):
        store.writer()
