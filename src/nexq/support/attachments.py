"""Attachment files, kept by Object Storage's blob engine in a store of their own.

A separate root (not the buckets' one) so that Object Storage's start-up sweep, which
removes blobs its own tables do not name, never sees them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from nexq.core.errors import Invalid
from nexq.storage.blobs.port import BlobStore, Bytes
from nexq.support.model import MAX_ATTACHMENT_BYTES

CHUNK = 256 * 1024
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\"]')


@dataclass(frozen=True, slots=True)
class Upload:
    """A file as a protocol received it."""

    filename: str
    content_type: str
    chunks: Iterable[bytes]


def chunks_of(file: BinaryIO) -> Iterator[bytes]:
    """A received file's bytes, a piece at a time (never the whole file in memory)."""
    while data := file.read(CHUNK):
        yield data


def clean_filename(name: str) -> str:
    """A name safe to show and to offer as a download (no path, no control characters)."""
    name = _UNSAFE.sub("_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip() or "file"
    return name[:200]


class AttachmentFiles:
    """Write (size-limited) and read attachment files."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def write(self, upload: Upload) -> tuple[str, int]:
        """(blob path, size) of the stored file; Invalid, storing nothing, past the limit."""
        writer = self._blobs.writer()
        try:
            for chunk in upload.chunks:
                if writer.size + len(chunk) > MAX_ATTACHMENT_BYTES:
                    raise Invalid(
                        f"attachments: {clean_filename(upload.filename)} is larger than "
                        f"{MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB."
                    )
                writer.write(chunk)
            size = writer.size
            return writer.commit(), size
        except BaseException:
            writer.abort()
            raise

    def read(self, blob: str, size: int) -> Iterator[Bytes]:
        return self._blobs.read(blob, 0, size, CHUNK)

    def delete(self, blobs: list[str]) -> None:
        self._blobs.delete(blobs)
