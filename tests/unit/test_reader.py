"""Reading an object version: only the segments a range needs are opened, and all closed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.model import ObjectMeta, Segment
from nexq.storage.reader import open_version


def version(store: FileBlobStore, pieces: list[bytes]) -> ObjectMeta:
    segments = []
    for piece in pieces:
        writer = store.writer()
        writer.write(piece)
        segments.append(Segment(writer.commit(), len(piece)))
    return ObjectMeta(
        bucket_id="b",
        key="k",
        size=sum(len(p) for p in pieces),
        etag="e-3",
        last_modified=0.0,
        headers={},
        metadata={},
        checksums={},
        checksum_type=None,
        segments=tuple(segments),
        parts_count=len(pieces),
    )


@pytest.mark.parametrize(
    ("start", "length", "opened"),
    [(0, 30, 3), (0, 0, 0), (10, 10, 1), (9, 2, 2), (25, 5, 1), (5, 20, 3), (19, 11, 2)],
)
def test_a_range_opens_the_segments_it_covers(
    tmp_path: Path, start: int, length: int, opened: int
) -> None:
    store = FileBlobStore(tmp_path)
    pieces = [b"a" * 10, b"b" * 10, b"c" * 10]
    meta = version(store, pieces)
    reading = open_version(store, meta, start, length)
    assert len(reading.runs) == opened
    # Collected meanwhile: the open files still read whole.
    store.delete(s.path for s in meta.segments)
    assert b"".join(reading.chunks(chunk=3)) == b"".join(pieces)[start : start + length]
    assert all(run.blob.file.closed for run in reading.runs)  # type: ignore[attr-defined]


def test_a_missing_segment_leaves_nothing_open(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    meta = version(store, [b"x" * 4, b"y" * 4])
    store.delete([meta.segments[1].path])
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        open_version(store, meta, 0, 8)
    assert len(os.listdir("/proc/self/fd")) == before
