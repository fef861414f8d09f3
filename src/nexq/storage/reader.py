"""An object version being read, with its blob files held open.

The janitor deletes the blob files of an overwritten or deleted object about a second after
the write that superseded it. A reader that opened every file it needs when it looked the
object up keeps reading the version it started with (an unlinked file stays readable through
its descriptor): a download is one complete version, however long it takes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

from nexq.storage.blobs.port import BlobStore, Bytes, OpenBlob
from nexq.storage.encryption import ObjectKey
from nexq.storage.model import ObjectMeta

READ_CHUNK = 1024 * 1024

# A lookup races the janitor only if the version it found is superseded and collected between
# the metadata read and the opening of its files (microseconds apart); a new lookup then
# finds the newer version. Running out of attempts means the files are really missing.
OPEN_ATTEMPTS = 3

Span = Callable[[ObjectMeta], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class OpenRun:
    """The open blob of one segment, and where its bytes sit in the object."""

    blob: OpenBlob
    offset: int
    size: int


class OpenObject:
    """The bytes ``[start, start + length)`` of one object version, ready to be read."""

    def __init__(
        self,
        meta: ObjectMeta,
        start: int,
        length: int,
        runs: list[OpenRun],
        sealing: ObjectKey | None = None,
    ) -> None:
        self.meta = meta
        self.start = start
        self.length = length
        self.runs = runs
        self.sealing = sealing  # the SSE-C or KMS key it was opened with (None: SSE-S3)

    def chunks(self, chunk: int = READ_CHUNK) -> Generator[Bytes, None, None]:
        """The bytes in pieces of at most ``chunk``; the files are closed at the end."""
        try:
            start, left = self.start, self.length
            for run in self.runs:
                if left <= 0:
                    return
                inner = max(start - run.offset, 0)
                take = min(run.size - inner, left)
                yield from run.blob.read(inner, take, chunk)
                left -= take
                start += take
        finally:
            self.close()

    def close(self) -> None:
        for run in self.runs:
            run.blob.close()


def open_version(
    blobs: BlobStore,
    meta: ObjectMeta,
    start: int,
    length: int,
    sealing: ObjectKey | None = None,
) -> OpenObject:
    """Open the segments of ``meta`` that hold ``[start, start + length)``.

    FileNotFoundError if one of them is gone (the version was collected); nothing stays open.
    """
    runs: list[OpenRun] = []
    offset = 0
    try:
        for segment in meta.segments:
            end = offset + segment.size
            if offset >= start + length:
                break
            if end > start:
                runs.append(OpenRun(blobs.open(segment.path), offset, segment.size))
            offset = end
    except BaseException:
        for run in runs:
            run.blob.close()
        raise
    return OpenObject(meta, start, length, runs, sealing)
