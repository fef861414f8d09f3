"""The sealed blob format (storage.blobs.seal) and its store (storage.blobs.sealed), on files:
what is on disk, ranges, tampering, blobs from before sealing, master-key rotation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexq.core.crypto import SecretBox, new_key
from nexq.core.data_keys import DataKeys, MemoryDataKeys
from nexq.core.keyring import KeyringFile, rotate
from nexq.storage.blobs import seal
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.seal import (
    CHUNK,
    HEADER,
    MAGIC,
    READ_BYTES,
    TAG,
    SealBroken,
    plain_size,
    sealed_size,
)
from nexq.storage.blobs.sealed import SealedBlobs

CUSTOMER = bytes(range(32))


@pytest.fixture
def files(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path)


@pytest.fixture
def blobs(files: FileBlobStore) -> SealedBlobs:
    return SealedBlobs(files, DataKeys(SecretBox(new_key()), MemoryDataKeys()))


def write(blobs: SealedBlobs, data: bytes, customer: bytes | None = None, step: int = 7000) -> str:
    writer = blobs.writer(customer)
    for start in range(0, len(data), step):  # writes that never line up with a chunk
        writer.write(data[start : start + step])
    assert writer.size == len(data)
    return writer.commit()


def read(blobs: SealedBlobs, path: str, offset: int, length: int, chunk: int = 1 << 20) -> bytes:
    return b"".join(blobs.read(path, offset, length, chunk))


def on_disk(files: FileBlobStore, path: str) -> bytes:
    return (files.root / path).read_bytes()


def put_on_disk(files: FileBlobStore, path: str, data: bytes) -> None:
    (files.root / path).write_bytes(data)


def stored_chunk(index: int) -> slice:
    start = HEADER + index * (CHUNK + TAG)
    return slice(start, start + CHUNK + TAG)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5, 4 * CHUNK])
def test_round_trip_and_sizes(blobs: SealedBlobs, files: FileBlobStore, size: int) -> None:
    data = os.urandom(size)
    path = write(blobs, data)
    assert read(blobs, path, 0, size) == data
    stored = len(on_disk(files, path))
    assert stored == sealed_size(size) > size
    assert plain_size(stored) == size
    assert blobs.inventory()[0][path][0] == size  # what fsck compares with the metadata
    opened = blobs.open(path)
    assert opened.size == size
    opened.close()


def test_writes_of_many_sizes_share_one_buffer_and_round_trip(
    blobs: SealedBlobs, files: FileBlobStore
) -> None:
    # The writer seals each write's chunks into one reused buffer: larger, then smaller,
    # then larger batches must each write exactly their own sealed bytes.
    sizes = [5 * CHUNK + 3, 10, 2 * CHUNK, 8 * CHUNK + 1, CHUNK - 7, 1, 3 * CHUNK]
    data = os.urandom(sum(sizes))
    writer = blobs.writer(None)
    at = 0
    for size in sizes:
        writer.write(memoryview(data)[at : at + size])
        at += size
    path = writer.commit()
    assert len(on_disk(files, path)) == sealed_size(len(data))
    assert read(blobs, path, 0, len(data)) == data


def test_the_bytes_on_disk_are_not_the_plaintext(blobs: SealedBlobs, files: FileBlobStore) -> None:
    data = b"a secret worth keeping, " * 10_000
    path = write(blobs, data)
    raw = on_disk(files, path)
    assert b"a secret worth keeping" not in raw
    # the same bytes sealed again are other bytes (a data key of their own)
    assert on_disk(files, write(blobs, data))[HEADER:] != raw[HEADER:]


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (CHUNK - 1, 2),  # across the first boundary
        (CHUNK, CHUNK),  # exactly the second chunk
        (CHUNK - 10, 2 * CHUNK + 20),  # across three chunks
        (0, 1),
        (4 * CHUNK + 99, 1),  # the last byte
        (2 * CHUNK, 0),  # nothing
        (3 * CHUNK + 1, CHUNK + 99),  # into the short last chunk, to its end
    ],
)
def test_ranges_at_chunk_boundaries(blobs: SealedBlobs, offset: int, length: int) -> None:
    data = os.urandom(4 * CHUNK + 100)
    path = write(blobs, data)
    assert read(blobs, path, offset, length) == data[offset : offset + length]
    pieces = list(blobs.read(path, offset, length, 1000))
    assert b"".join(pieces) == data[offset : offset + length]
    assert all(0 < len(piece) <= 1000 for piece in pieces)


@pytest.mark.parametrize(("offset", "length"), [(0, 5000), (0, 1), (999, 1002), (4999, 1)])
def test_ranges_of_a_blob_read_whole_when_opened(
    blobs: SealedBlobs, offset: int, length: int
) -> None:
    data = os.urandom(5000)  # one chunk, read with its header when opened
    path = write(blobs, data)
    pieces = list(blobs.read(path, offset, length, 1000))
    assert b"".join(pieces) == data[offset : offset + length]
    assert all(0 < len(piece) <= 1000 for piece in pieces)


def test_a_flipped_byte_of_a_small_blob_is_detected(
    blobs: SealedBlobs, files: FileBlobStore
) -> None:
    path = write(blobs, os.urandom(5000))
    raw = bytearray(on_disk(files, path))
    raw[HEADER + 4000] ^= 1
    put_on_disk(files, path, bytes(raw))
    with pytest.raises(SealBroken):
        read(blobs, path, 0, 10)


def test_pieces_a_reader_keeps_are_never_overwritten(blobs: SealedBlobs) -> None:
    # A read decrypts into a few reused buffers; one is reused only when no view of it is
    # left, so pieces kept (as a server keeps a piece it is still sending) stay intact.
    data = os.urandom(6 * READ_BYTES + 100)
    path = write(blobs, data, step=1 << 20)
    opened = blobs.open(path)
    try:
        pieces = list(opened.read(0, len(data), READ_BYTES))
        assert len(pieces) == 7
        assert b"".join(pieces) == data
    finally:
        opened.close()


def test_pieces_let_go_of_are_decrypted_into_again(blobs: SealedBlobs) -> None:
    data = os.urandom(8 * READ_BYTES)
    path = write(blobs, data, step=1 << 20)
    opened = blobs.open(path)
    buffers, received = set(), bytearray()
    try:
        for piece in opened.read(0, len(data), READ_BYTES):
            assert isinstance(piece, memoryview)  # no copy on the way out
            buffers.add(id(piece.obj))
            received += piece
            piece.release()
    finally:
        opened.close()
    assert received == data
    assert len(buffers) < 8


def test_the_next_chunks_are_read_before_a_piece_is_handed_over(
    blobs: SealedBlobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once a piece is handed over, the event loop copies it into the socket holding the GIL:
    # the reader's next step must then be its decryption, which runs beside that copy, not
    # a read of the stored bytes, which would wait for the copy to end to get the GIL back.
    # And the store is asked for the whole range at once: one that reads over the network
    # (RADOS) keeps requests in flight across it.
    data = os.urandom(3 * CHUNK)
    path = write(blobs, data, step=1 << 20)
    opened = blobs.open(path)
    asked: list[tuple[int, int]] = []
    pulled: list[int] = []  # the offset of each piece the seal took from the store
    raw = opened.raw
    original = raw.read

    def read_raw(offset: int, length: int, chunk: int) -> Iterator[bytes]:
        asked.append((offset, length))
        at = offset
        for piece in original(offset, length, chunk):
            pulled.append(at)
            at += len(piece)
            yield piece

    monkeypatch.setattr(raw, "read", read_raw)
    try:
        pieces = opened.read(0, len(data), CHUNK)
        assert bytes(next(pieces)) == data[:CHUNK]
        assert pulled == [HEADER, HEADER + CHUNK + TAG]
        assert b"".join(pieces) == data[CHUNK:]
        assert pulled == [HEADER + i * (CHUNK + TAG) for i in range(3)]
        assert asked == [(HEADER, 3 * (CHUNK + TAG))]
    finally:
        opened.close()


@pytest.mark.parametrize("piece", [1, 333_333, CHUNK, CHUNK + TAG + 1, 4 * CHUNK])
@pytest.mark.parametrize(("offset", "length"), [(0, 3 * CHUNK + 5), (CHUNK - 3, CHUNK + 7)])
def test_a_store_that_reads_in_pieces_of_any_size(
    blobs: SealedBlobs, monkeypatch: pytest.MonkeyPatch, piece: int, offset: int, length: int
) -> None:
    # RADOS hands out its own request sizes (1 MiB, cut at its 4 MiB stripes), which never
    # line up with the sealed chunks (1 MiB and a tag).
    data = os.urandom(3 * CHUNK + 5)
    path = write(blobs, data, step=1 << 20)
    opened = blobs.open(path)
    original = opened.raw.read

    def in_pieces(offset: int, length: int, chunk: int) -> Iterator[bytes]:
        stored = b"".join(original(offset, length, length))
        for start in range(0, len(stored), piece):
            yield stored[start : start + piece]

    monkeypatch.setattr(opened.raw, "read", in_pieces)
    try:
        assert b"".join(opened.read(offset, length, CHUNK)) == data[offset : offset + length]
    finally:
        opened.close()


def test_a_store_that_ends_short_is_an_error(
    blobs: SealedBlobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(2 * CHUNK + 5)
    path = write(blobs, data, step=1 << 20)
    opened = blobs.open(path)
    original = opened.raw.read

    def short(offset: int, length: int, chunk: int) -> Iterator[bytes]:
        yield b"".join(original(offset, length - 1, length))

    monkeypatch.setattr(opened.raw, "read", short)
    try:
        with pytest.raises(OSError, match="1 bytes short"):
            b"".join(opened.read(0, len(data), CHUNK))
    finally:
        opened.close()


def test_new_blobs_are_sealed_in_1_mib_chunks(blobs: SealedBlobs, files: FileBlobStore) -> None:
    path = write(blobs, os.urandom(3 * 65536))
    stored = on_disk(files, path)
    assert stored[len(MAGIC) + 2] == 20 and CHUNK == 1 << 20
    assert len(stored) == sealed_size(3 * 65536) == HEADER + 3 * 65536 + TAG  # one chunk


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, 5 * 65536 + 9), (65535, 2), (3 * 65536 + 1, 65536 + 8), (5 * 65536 + 8, 1)],
)
def test_blobs_sealed_in_64_kib_chunks_still_read(
    blobs: SealedBlobs,
    files: FileBlobStore,
    monkeypatch: pytest.MonkeyPatch,
    offset: int,
    length: int,
) -> None:
    old = 1 << 16
    data = os.urandom(5 * old + 9)
    with monkeypatch.context() as before:  # as Nexq sealed blobs before 2026-12-06
        before.setattr(seal, "CHUNK_SHIFT", 16)
        before.setattr(seal, "CHUNK", old)
        path = write(blobs, data)
    stored = on_disk(files, path)
    assert stored[len(MAGIC) + 2] == 16
    assert len(stored) == sealed_size(len(data), old) == HEADER + len(data) + 6 * TAG
    assert plain_size(len(stored), old) == len(data)
    assert read(blobs, path, offset, length) == data[offset : offset + length]
    assert blobs.inventory()[0][path][0] == len(data)  # what fsck compares with the metadata
    opened = blobs.open(path)
    assert opened.size == len(data)
    opened.close()


def test_a_read_past_the_end_is_an_error(blobs: SealedBlobs) -> None:
    path = write(blobs, b"abc")
    with pytest.raises(OSError):
        read(blobs, path, 0, 4)


def test_a_flipped_byte_is_detected(blobs: SealedBlobs, files: FileBlobStore) -> None:
    data = os.urandom(3 * CHUNK)
    path = write(blobs, data)
    raw = bytearray(on_disk(files, path))
    raw[stored_chunk(1).start + 100] ^= 1
    put_on_disk(files, path, bytes(raw))
    assert read(blobs, path, 0, CHUNK) == data[:CHUNK]  # the chunks around it still open
    with pytest.raises(SealBroken):
        read(blobs, path, CHUNK + 5, 10)


def test_a_changed_header_is_detected(blobs: SealedBlobs, files: FileBlobStore) -> None:
    path = write(blobs, os.urandom(1000))
    raw = bytearray(on_disk(files, path))
    raw[20] ^= 1  # the nonce prefix, bound to the wrapped key
    put_on_disk(files, path, bytes(raw))
    with pytest.raises(SealBroken):
        blobs.open(path)


def test_swapped_chunks_are_detected(blobs: SealedBlobs, files: FileBlobStore) -> None:
    path = write(blobs, os.urandom(3 * CHUNK))
    raw = bytearray(on_disk(files, path))
    first, second = raw[stored_chunk(0)], raw[stored_chunk(1)]
    raw[stored_chunk(0)], raw[stored_chunk(1)] = second, first
    put_on_disk(files, path, bytes(raw))
    with pytest.raises(SealBroken):
        read(blobs, path, 0, 10)
    with pytest.raises(SealBroken):
        read(blobs, path, CHUNK, 10)


def test_a_truncated_blob_is_detected(blobs: SealedBlobs, files: FileBlobStore) -> None:
    data = os.urandom(3 * CHUNK + 10)
    path = write(blobs, data)
    raw = on_disk(files, path)
    # Cut at a chunk boundary: the blob looks whole, 3 full chunks, but its last is not final.
    put_on_disk(files, path, raw[: stored_chunk(3).start])
    assert read(blobs, path, 0, 10) == data[:10]
    with pytest.raises(SealBroken):
        read(blobs, path, 2 * CHUNK, CHUNK)
    with pytest.raises(OSError):
        read(blobs, path, 0, len(data))  # what the metadata says it holds
    # Cut within a chunk: no sealed blob has that size.
    put_on_disk(files, path, raw[: stored_chunk(1).start + 5])
    with pytest.raises(SealBroken):
        blobs.open(path)


def test_a_chunk_from_another_blob_is_detected(blobs: SealedBlobs, files: FileBlobStore) -> None:
    mine, other = write(blobs, os.urandom(2 * CHUNK)), write(blobs, os.urandom(2 * CHUNK))
    raw = bytearray(on_disk(files, mine))
    raw[stored_chunk(0)] = on_disk(files, other)[stored_chunk(0)]
    put_on_disk(files, mine, bytes(raw))
    with pytest.raises(SealBroken):
        read(blobs, mine, 0, 10)
    # Another blob's header on this blob's chunks: another data key.
    raw = bytearray(on_disk(files, mine))
    raw[:HEADER] = on_disk(files, other)[:HEADER]
    put_on_disk(files, mine, bytes(raw))
    with pytest.raises(SealBroken):
        read(blobs, mine, CHUNK, 10)


def test_a_blob_of_another_installation_does_not_open(
    blobs: SealedBlobs, files: FileBlobStore
) -> None:
    path = write(blobs, b"sealed under this installation's keys")
    elsewhere = SealedBlobs(files, DataKeys(SecretBox(new_key()), MemoryDataKeys()))
    with pytest.raises(SealBroken):
        elsewhere.open(path)


def test_blobs_from_before_sealing_read_as_they_are(
    blobs: SealedBlobs, files: FileBlobStore
) -> None:
    plain = {size: os.urandom(size) for size in (0, 5, HEADER + TAG, 3 * CHUNK)}
    paths = {}
    for size, data in plain.items():
        writer = files.writer()
        writer.write(data)
        paths[size] = writer.commit()
    for size, data in plain.items():
        assert read(blobs, paths[size], 0, size) == data
        assert (
            read(blobs, paths[size], size // 3, size // 2)
            == data[size // 3 : size // 3 + size // 2]
        )
        assert blobs.inventory()[0][paths[size]][0] == size


def test_customer_keys(blobs: SealedBlobs, files: FileBlobStore) -> None:
    data = os.urandom(CHUNK + 3)
    path = write(blobs, data, CUSTOMER)
    assert read(blobs.keyed(CUSTOMER), path, 0, len(data)) == data
    assert data[:100] not in on_disk(files, path)
    for wrong in (None, bytes(32)):  # no key, another key
        with pytest.raises(SealBroken):
            (blobs.keyed(wrong) if wrong else blobs).open(path)
    ordinary = write(blobs, b"sealed with the installation's keys")
    with pytest.raises(SealBroken):
        blobs.keyed(CUSTOMER).open(ordinary)


def test_a_whole_copy_keeps_the_sealed_bytes(blobs: SealedBlobs, files: FileBlobStore) -> None:
    data = os.urandom(2 * CHUNK + 1)
    for customer in (None, CUSTOMER):
        source = write(blobs, data, customer)
        view = blobs.keyed(customer) if customer else blobs
        opened = view.open(source)
        writer = view.writer()
        view.copy_into(writer, opened, 0, len(data))
        opened.close()
        copied = writer.commit()
        assert on_disk(files, copied) == on_disk(files, source)  # the kernel's copy, as it is
        assert read(view, copied, 0, len(data)) == data
    # Another key: the bytes are opened and sealed again.
    source = write(blobs, data)
    opened = blobs.open(source)
    writer = blobs.writer(CUSTOMER)
    blobs.copy_into(writer, opened, 0, len(data))
    opened.close()
    copied = writer.commit()
    assert on_disk(files, copied)[HEADER:] != on_disk(files, source)[HEADER:]
    assert read(blobs.keyed(CUSTOMER), copied, 0, len(data)) == data


def test_blobs_stay_readable_across_master_key_rotations(
    files: FileBlobStore, tmp_path: Path
) -> None:
    keyring = KeyringFile(tmp_path / "master.key")
    box = SecretBox(keyring.load_or_create(), keyring)
    store = MemoryDataKeys()  # the data_keys table, shared by every process
    blobs = SealedBlobs(files, DataKeys(box, store))
    data = os.urandom(CHUNK + 7)
    path = write(blobs, data)
    for _ in range(2):
        rotate(box, [DataKeys(box, store)], grace_seconds=0, say=lambda _: None)
    # A process started after the rotations holds only the new master key.
    later = KeyringFile(tmp_path / "master.key")
    ring = later.load()
    assert not ring.previous
    fresh = SealedBlobs(files, DataKeys(SecretBox(ring, later), store))
    assert read(fresh, path, 0, len(data)) == data
    assert read(fresh, write(fresh, b"new"), 0, 3) == b"new"
