"""An object body being received: written to a blob while its digests are computed once."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from concurrent.futures import Executor, Future

from nexq.storage.blobs.port import BlobWriter
from nexq.storage.checksums import Hasher, new_hasher
from nexq.storage.encryption import ObjectKey, etag
from nexq.storage.errors import BadDigest, ChecksumMismatch, EntityTooLarge

# Below this, hashing in another thread costs more than it saves.
PARALLEL_HASH_BYTES = 256 * 1024


class IncomingBody:
    """Bytes arriving for a PUT or a part; :meth:`write` is called from a worker thread.

    MD5 is the slowest step of a large upload (about 600 MB/s); for large buffers it runs on
    ``hash_pool`` while this thread computes the other checksums and writes, so the two use
    two cores. It runs a buffer behind: a write waits only for the previous buffer's MD5, so
    MD5 never waits for the next buffer to arrive (1 GiB PUT 290 -> 300 MB/s). ``hash_pool``
    must only ever run hashing, never wait, so it cannot deadlock.
    """

    def __init__(
        self,
        writer: BlobWriter,
        algorithms: Iterable[str],
        limit: int,
        hash_pool: Executor | None = None,
        customer: ObjectKey | None = None,
    ) -> None:
        self.writer = writer
        self.customer = customer  # the SSE-C or KMS key ``writer`` seals with, if any
        self._md5 = hashlib.md5()  # noqa: S324 - S3's ETag is an MD5 by definition
        self.hashers: dict[str, Hasher] = {a.upper(): new_hasher(a) for a in algorithms}
        self._limit = limit
        self._hash_pool = hash_pool
        self._md5_running: Future[None] | None = None

    @property
    def hash_pool(self) -> Executor | None:
        """Where large buffers may be hashed in parallel (for other digests of the same bytes)."""
        return self._hash_pool

    @property
    def size(self) -> int:
        return self.writer.size

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``; refuses to grow past the size limit of the operation.

        ``data`` must not change afterwards: its MD5 may still be running when this returns.
        """
        if self.writer.size + len(data) > self._limit:
            raise EntityTooLarge(
                f"Your proposed upload exceeds the maximum allowed size of {self._limit} bytes."
            )
        self._md5_done()
        if self._hash_pool is not None and len(data) >= PARALLEL_HASH_BYTES:
            self._md5_running = self._hash_pool.submit(self._md5.update, data)
        else:
            self._md5.update(data)
        for hasher in self.hashers.values():
            hasher.update(data)
        self.writer.write(data)

    def _md5_done(self) -> None:
        """Wait for the MD5 of the last buffer, if it is still running."""
        running, self._md5_running = self._md5_running, None
        if running is not None:
            running.result()

    def md5_hex(self) -> str:
        self._md5_done()
        return self._md5.hexdigest()

    def etag(self) -> str:
        """The ETag of the bytes: their MD5, or for SSE-C and SSE-KMS what stands for it."""
        return etag(self.md5_hex(), self.customer)

    def verify(self, content_md5: str | None, checksums: dict[str, str]) -> dict[str, str]:
        """Check the client's digests; return the computed checksums (algorithm → base64)."""
        self._md5_done()
        md5 = base64.b64encode(self._md5.digest()).decode()
        if content_md5 is not None and md5 != content_md5.strip():
            raise BadDigest("The Content-MD5 you specified did not match what we received.")
        computed = {alg: h.digest_b64() for alg, h in self.hashers.items()}
        for alg, value in checksums.items():
            if computed.get(alg.upper()) != value.strip():
                raise ChecksumMismatch(alg)
        return computed

    def abort(self) -> None:
        self._md5_done()
        self.writer.abort()
