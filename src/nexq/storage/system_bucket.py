"""A bucket of a system account in Nexq's own Object Storage, where other services keep large
files (Compute's instance backups, GiBs each) through the use cases, in-process.

Files go in and out in chunks: a file becomes one object, uploaded in parts of ``part_size``
fed to each part's body a chunk at a time, so memory stays at about a chunk whatever the
file's size. The calls block on disk I/O: callers run them off the event loop.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from nexq.core.identity import Principal
from nexq.storage.conditions import Conditions
from nexq.storage.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    DeleteMarkerFound,
    NoSuchKey,
    NoSuchUpload,
)
from nexq.storage.incoming import IncomingBody
from nexq.storage.model import MAX_PART_NUMBER, MAX_PUT_BYTES, MIN_PART_BYTES
from nexq.storage.multipart import CompletedPart, Multipart
from nexq.storage.reader import READ_CHUNK
from nexq.storage.service import NewContent, ObjectStorage

PART_SIZE = 64 * 1024**2
CHUNK = READ_CHUNK


class FileChanged(OSError):
    """The file being uploaded grew or shrank meanwhile: what was read is no one version."""


class SystemBucket:
    """Files kept as objects of one bucket, on behalf of the system account that owns it."""

    def __init__(
        self,
        objects: ObjectStorage,
        multipart: Multipart,
        owner: Principal,
        bucket: str,
        part_size: int = PART_SIZE,
        chunk: int = CHUNK,
    ) -> None:
        # S3's rules, which Multipart enforces at completion: refused here, before a GiB
        # has been sent for nothing.
        if not MIN_PART_BYTES <= part_size <= MAX_PUT_BYTES:
            raise ValueError(
                f"part_size must be between {MIN_PART_BYTES} and {MAX_PUT_BYTES} bytes, "
                f"not {part_size}."
            )
        if not 0 < chunk <= part_size:
            raise ValueError(f"chunk must be between 1 and part_size bytes, not {chunk}.")
        self._objects = objects
        self._multipart = multipart
        self.owner = owner
        self.bucket = bucket
        self.part_size = part_size
        self._chunk = chunk

    def put_file(self, key: str, path: Path) -> int:
        """Store the file at ``path`` as the object ``key`` (replacing it); its size.

        All or nothing: on any failure the upload is aborted and ``key`` keeps what it held.
        FileChanged if the file's size changed while it was read."""
        with path.open("rb", buffering=0) as source:
            size = os.fstat(source.fileno()).st_size
            if size <= self.part_size:
                self._put_whole(key, source, size)
            else:
                self._put_in_parts(key, source, size)
        return size

    def _put_whole(self, key: str, source: BinaryIO, size: int) -> None:
        body = self._objects.receive()
        self._feed(body, source, size, last=True)
        self._objects.put_object(self.owner, self.bucket, key, body, NewContent({}, {}))

    def _put_in_parts(self, key: str, source: BinaryIO, size: int) -> None:
        count = -(-size // self.part_size)
        if count > MAX_PART_NUMBER:
            raise ValueError(
                f"A file of {size} bytes needs {count} parts of {self.part_size} bytes; an "
                f"upload has at most {MAX_PART_NUMBER}: use a larger part_size."
            )
        upload = self._multipart.create(self.owner, self.bucket, key, {}, {}, None, None)
        try:
            parts: list[CompletedPart] = []
            for number in range(1, count + 1):
                body = self._multipart.receive_part(upload, (), None)
                wanted = min(self.part_size, size - (number - 1) * self.part_size)
                self._feed(body, source, wanted, last=number == count)
                part = self._multipart.upload_part(
                    self.owner, self.bucket, key, upload.id, number, body, None, {}
                )
                parts.append(CompletedPart(number, part.etag, {}))
            self._multipart.complete(
                self.owner, self.bucket, key, upload.id, parts, NewContent({}, {})
            )
        except BaseException:
            # NoSuchUpload: nothing left to abort. Any other failure of the abort is raised,
            # with the error that brought us here as its context.
            with contextlib.suppress(NoSuchUpload):
                self._multipart.abort(self.owner, self.bucket, key, upload.id)
            raise

    def _feed(self, body: IncomingBody, source: BinaryIO, count: int, last: bool) -> None:
        """Write the next ``count`` bytes of ``source`` into ``body``, a chunk at a time (the
        body is aborted if that fails); at the ``last`` part, the file must end there."""
        try:
            left = count
            while left > 0:
                data = source.read(min(self._chunk, left))
                if not data:
                    raise FileChanged(f"{source.name} shrank while it was being uploaded.")
                body.write(data)
                left -= len(data)
            if last and source.read(1):
                raise FileChanged(f"{source.name} grew while it was being uploaded.")
        except BaseException:
            body.abort()
            raise

    def get_file(self, key: str, path: Path) -> int:
        """Write the object ``key`` to ``path`` (replaced only once it is whole); its size.
        NoSuchKey if there is none."""
        found = self._objects.open_object(self.owner, self.bucket, key, Conditions())
        # Written beside the target and renamed over it: a reader of ``path`` never sees
        # half a file, and a failure leaves what was there.
        partial: str | None = None
        try:
            fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(fd, "wb") as target:
                for data in found.chunks(self._chunk):
                    target.write(data)
                size = target.tell()
            os.replace(partial, path)
        except BaseException:
            found.close()
            if partial is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
            raise
        return size

    def size(self, key: str) -> int | None:
        """The size of the object ``key``; None if there is none."""
        try:
            return self._objects.head_object(self.owner, self.bucket, key, Conditions()).size
        except (NoSuchKey, DeleteMarkerFound):
            return None

    def delete(self, key: str) -> None:
        """Delete the object ``key``; nothing to do if there is none."""
        self._objects.delete_object(self.owner, self.bucket, key)


def provide_bucket(objects: ObjectStorage, owner: Principal, purpose: str) -> str:
    """The name of ``owner``'s bucket for ``purpose`` (e.g. "compute-backups"), made if it
    does not exist yet.

    The name is made of the owner's account id, so every node of an installation finds the
    same bucket without storing its name, two nodes making it at once make one, and nobody
    can take the name first (account ids are random, and no customer sees a system
    account's)."""
    name = f"nexq-{purpose}-{owner.account.id[:16]}".lower()
    try:
        objects.create_bucket(owner, name)
    except BucketAlreadyOwnedByYou:
        pass  # made before (by this node or another)
    except BucketAlreadyExists as exc:
        raise BucketAlreadyExists(
            f"The bucket {name} for {purpose} belongs to another account."
        ) from exc
    return name
