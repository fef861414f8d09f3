"""Completed multipart uploads, remembered for a day so that a retried
CompleteMultipartUpload is answered as the first one was. Pure, no I/O.

S3 compat: a client whose CompleteMultipartUpload answer was lost (a timeout, a dropped
connection) sends it again, and AWS answers the retry 200 with the ETag of the object that
upload made, where answering NoSuchUpload would make the client report a failed upload that
in fact succeeded. So the store keeps, in the completion's own transaction, what the answer
named (ETag, version id, checksums); a retry whose parts list makes the same ETag gets that
answer again, even if the key was overwritten or deleted since (the retry is about that
completion, not about what the key holds now); another parts list gets NoSuchUpload, whose
text says why ("... may have been aborted or completed").

The records are kept :data:`RETRY_WINDOW` (a client retries within minutes; a day also covers
a paused job resumed later) and purged by the completions themselves: each one removes up to
:data:`PURGE_BATCH` expired records in its transaction, found through an index on their time.
That keeps the table at about a day of completions with no job to schedule across workers and
nodes, costs one indexed statement per completion (which is the write that adds a record),
and a backlog (a burst a day ago) drains because each completion removes more than it adds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from nexq.storage.model import ObjectMeta

RETRY_WINDOW = 24 * 3600.0
PURGE_BATCH = 2


@dataclass(frozen=True, slots=True)
class CompletedUpload:
    """What a successful CompleteMultipartUpload answered, by upload id."""

    upload_id: str
    bucket_id: str
    key: str
    etag: str
    version_id: str | None
    size: int
    completed_at: float
    checksums: dict[str, str] = field(default_factory=dict)
    checksum_type: str | None = None

    def answers(
        self, bucket_id: str, key: str, parts: Sequence[tuple[int, str]], now: float
    ) -> bool:
        """Whether a CompleteMultipartUpload of this upload naming ``parts`` ((number, ETag)
        as sent) is a retry of this completion, made within the window."""
        return (
            (self.bucket_id, self.key) == (bucket_id, key)
            and now - self.completed_at <= RETRY_WINDOW
            and multipart_etag(parts) == self.etag
        )

    def meta(self) -> ObjectMeta:
        """The object as this completion made it, as far as its answer names it."""
        return ObjectMeta(
            bucket_id=self.bucket_id,
            key=self.key,
            size=self.size,
            etag=self.etag,
            last_modified=self.completed_at,
            headers={},
            metadata={},
            checksums=dict(self.checksums),
            checksum_type=self.checksum_type,
            segments=(),
            version_id=self.version_id,
        )


def completion(upload_id: str, meta: ObjectMeta, version_id: str | None) -> CompletedUpload:
    """The record of ``upload_id`` completed as ``meta`` (made at ``meta.last_modified``)."""
    return CompletedUpload(
        upload_id=upload_id,
        bucket_id=meta.bucket_id,
        key=meta.key,
        etag=meta.etag,
        version_id=version_id,
        size=meta.size,
        completed_at=meta.last_modified,
        checksums=dict(meta.checksums),
        checksum_type=meta.checksum_type,
    )


def multipart_etag(parts: Sequence[tuple[int, str]]) -> str | None:
    """S3's ETag of the object made of ``parts`` ((number, part ETag), in the order named):
    the MD5 of the parts' MD5s, then the number of parts. None if the list could not have
    completed an upload (out of order, or an ETag that is no MD5)."""
    numbers = [number for number, _ in parts]
    if not parts or numbers != sorted(set(numbers)):
        return None
    try:
        digests = b"".join(bytes.fromhex(etag.strip().strip('"')) for _, etag in parts)
    except ValueError:
        return None
    if len(digests) != 16 * len(parts):
        return None
    md5 = hashlib.md5(digests)  # noqa: S324 - S3's multipart ETag is defined with MD5
    return f"{md5.hexdigest()}-{len(parts)}"
