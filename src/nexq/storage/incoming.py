"""An object body being received: written to a blob while its digests are computed once."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from nexq.storage.blobs.port import BlobWriter
from nexq.storage.checksums import Hasher, new_hasher
from nexq.storage.errors import BadDigest, ChecksumMismatch, EntityTooLarge


class IncomingBody:
    """Bytes arriving for a PUT or a part; :meth:`write` is called from a worker thread."""

    def __init__(self, writer: BlobWriter, algorithms: Iterable[str], limit: int) -> None:
        self.writer = writer
        self._md5 = hashlib.md5()  # noqa: S324 - S3's ETag is an MD5 by definition
        self.hashers: dict[str, Hasher] = {a.upper(): new_hasher(a) for a in algorithms}
        self._limit = limit

    @property
    def size(self) -> int:
        return self.writer.size

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``; refuses to grow past the size limit of the operation."""
        if self.writer.size + len(data) > self._limit:
            raise EntityTooLarge(
                f"Your proposed upload exceeds the maximum allowed size of {self._limit} bytes."
            )
        self._md5.update(data)
        for hasher in self.hashers.values():
            hasher.update(data)
        self.writer.write(data)

    def add_checksum(self, algorithm: str) -> None:
        """Start computing ``algorithm`` too (only valid before any byte was written)."""
        if algorithm.upper() not in self.hashers:
            self.hashers[algorithm.upper()] = new_hasher(algorithm)

    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    def verify(self, content_md5: str | None, checksums: dict[str, str]) -> dict[str, str]:
        """Check the client's digests; return the computed checksums (algorithm → base64)."""
        md5 = base64.b64encode(self._md5.digest()).decode()
        if content_md5 is not None and md5 != content_md5.strip():
            raise BadDigest("The Content-MD5 you specified did not match what we received.")
        computed = {alg: h.digest_b64() for alg, h in self.hashers.items()}
        for alg, value in checksums.items():
            if computed.get(alg.upper()) != value.strip():
                raise ChecksumMismatch(alg)
        return computed

    def abort(self) -> None:
        self.writer.abort()
