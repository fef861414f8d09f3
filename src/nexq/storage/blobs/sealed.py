"""The sealing layer every blob store of an installation is used through (the format of a
sealed blob: ``storage.blobs.seal``).

:class:`SealedBlobs` seals what it writes with a data key of each blob's own, wrapped by the
installation's keys (``core.data_keys``), or for SSE-C and SSE-KMS by the customer's key
or the KMS key's material (:meth:`SealedBlobs.keyed`); it reads sealed and plain blobs
alike. Sizes it reports are plaintext sizes, so segments, inventories and fsck see what the
metadata says. A whole blob copied to a writer that seals the same way is copied as it is
(its key travels in its header): ``copy_into`` still lets the kernel move the bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from nexq.core.data_keys import DataKeys
from nexq.storage.blobs.port import (
    BlobStore,
    BlobWriter,
    Bytes,
    OpenBlob,
    copy_by_reading,
    read_blob,
)
from nexq.storage.blobs.seal import (
    HEADER,
    PREAMBLE,
    TAG,
    PlainBlob,
    SealedBlob,
    SealedWriter,
    chunk_of,
    new_sealing,
    open_blob,
    plain_size,
)

_COPY_CHUNK = 8 * 1024 * 1024


class SealedBlobs:
    """:class:`~nexq.storage.blobs.port.BlobStore` that seals what it writes to ``raw``.

    ``keys`` None writes plain blobs (only the benchmark's baseline does that: a store made
    with no keys); a customer's key (SSE-C) always seals.
    """

    def __init__(self, raw: BlobStore, keys: DataKeys | None) -> None:
        self.raw = raw
        self._keys = keys

    @property
    def seals_at_rest(self) -> bool:
        """Whether a blob written without a customer's key is sealed."""
        return self._keys is not None

    def writer(self, customer: bytes | None = None) -> SealedWriter:
        raw = self.raw.writer()
        try:
            return SealedWriter(raw, new_sealing(self._keys, customer))
        except BaseException:
            raw.abort()
            raise

    def open(self, path: str, customer: bytes | None = None) -> PlainBlob | SealedBlob:
        return open_blob(self.raw.open(path), path, self._keys, customer)

    def read(self, path: str, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        return read_blob(self, path, offset, length, chunk)

    def copy_into(self, writer: BlobWriter, source: OpenBlob, offset: int, length: int) -> None:
        if (
            isinstance(writer, SealedWriter)
            and isinstance(source, PlainBlob | SealedBlob)
            and offset == 0
            and length == source.size
            and writer.untouched
            and writer.same_sealing(source)
        ):
            self.raw.copy_into(writer.raw, source.raw, 0, source.stored_size)
            writer.adopt(length)
            return
        copy_by_reading(writer, source, offset, length, _COPY_CHUNK)

    def delete(self, paths: Iterable[str]) -> None:
        self.raw.delete(paths)

    def inventory(self) -> tuple[dict[str, tuple[int, float]], int]:
        """Every committed blob with its plaintext size (see :func:`plain_inventory`)."""
        return plain_inventory(self.raw)

    def recover(self, referenced: set[str]) -> int:
        return self.raw.recover(referenced)

    def keyed(self, customer: bytes) -> KeyedBlobs:
        """The same blobs, written and read with a customer's key (SSE-C)."""
        return KeyedBlobs(self, customer)


class KeyedBlobs:
    """:class:`SealedBlobs` seen with one customer's key: what an SSE-C object is read and
    written through."""

    def __init__(self, blobs: SealedBlobs, customer: bytes) -> None:
        self._blobs = blobs
        self._customer = customer

    def writer(self) -> SealedWriter:
        return self._blobs.writer(self._customer)

    def open(self, path: str) -> PlainBlob | SealedBlob:
        return self._blobs.open(path, self._customer)

    def read(self, path: str, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        return read_blob(self, path, offset, length, chunk)

    def copy_into(self, writer: BlobWriter, source: OpenBlob, offset: int, length: int) -> None:
        self._blobs.copy_into(writer, source, offset, length)

    def delete(self, paths: Iterable[str]) -> None:
        self._blobs.delete(paths)

    def inventory(self) -> tuple[dict[str, tuple[int, float]], int]:
        return self._blobs.inventory()

    def recover(self, referenced: set[str]) -> int:
        return self._blobs.recover(referenced)


def plain_inventory(raw: BlobStore) -> tuple[dict[str, tuple[int, float]], int]:
    """``raw``'s inventory with each blob's plaintext size (:func:`plain_sizes`)."""
    found, temporaries = raw.inventory()
    return plain_sizes(raw, found), temporaries


def plain_sizes(
    raw: BlobStore, found: dict[str, tuple[int, float]]
) -> dict[str, tuple[int, float]]:
    """The blobs of ``raw``'s inventory ``found`` with their plaintext sizes: a sealed
    blob's is computed from its stored size and its chunk size, which takes a look at its
    first bytes (plain blobs are as long as they are). A blob whose size no sealed blob has
    keeps its stored size, so that fsck reports it as of the wrong size."""
    sizes: dict[str, tuple[int, float]] = {}
    for path, (stored, modified) in found.items():
        sizes[path] = (stored, modified)
        if stored < HEADER + TAG:
            continue
        try:
            preamble = b"".join(raw.read(path, 0, PREAMBLE, PREAMBLE))
        except FileNotFoundError:
            continue  # deleted since the listing: the stored size is as good as any
        chunk = chunk_of(preamble)
        if chunk is not None:
            with contextlib.suppress(ValueError):
                sizes[path] = (plain_size(stored, chunk), modified)
    return sizes
