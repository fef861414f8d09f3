"""Multipart uploads in the in-memory metadata store: uploads, their parts and completions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from nexq.core.errors import QuotaExceeded
from nexq.storage.completions import CompletedUpload, completion
from nexq.storage.errors import ConditionalRequestConflict, NoSuchUpload
from nexq.storage.metadata.memory_base import HeldUpload, take
from nexq.storage.metadata.memory_objects import MemoryObjects
from nexq.storage.model import ObjectMeta, Part, Upload, prefix_end
from nexq.storage.quotas import storage_quota_message


# Stored values are copies, as the objects' (memory_objects).
def _upload(upload: Upload) -> Upload:
    return replace(upload, headers=dict(upload.headers), metadata=dict(upload.metadata))


def _part(part: Part) -> Part:
    return replace(part, checksums=dict(part.checksums))


class MemoryUploads(MemoryObjects):
    """Multipart uploads (a completion writes the object as PutObject does)."""

    # multipart --------------------------------------------------------------------------
    def add_upload(self, upload: Upload) -> None:
        with self._lock:
            if upload.id in self._uploads:
                raise ValueError(f"upload id {upload.id} is taken")  # a primary key, in SQL
            self._uploads[upload.id] = HeldUpload(_upload(upload))

    def get_upload(self, upload_id: str) -> Upload | None:
        with self._lock:
            held = self._uploads.get(upload_id)
            return _upload(held.upload) if held is not None else None

    def list_uploads(
        self, bucket_id: str, prefix: str, after: tuple[str, str | None] | None, limit: int
    ) -> list[Upload]:
        low = prefix.encode()
        end = prefix_end(prefix)
        high = end.encode() if end is not None else None
        with self._lock:
            found = [
                ((u.upload.key.encode(), u.upload.id.encode()), u.upload)
                for u in self._uploads.values()
                if u.upload.bucket_id == bucket_id
            ]
        found = [
            (position, u)
            for position, u in found
            if position[0] >= low and (high is None or position[0] < high)
        ]
        if after is not None:
            key, upload_id = after[0].encode(), after[1]
            if upload_id is None:  # after every upload of that key
                found = [(p, u) for p, u in found if p[0] > key]
            else:
                found = [(p, u) for p, u in found if p > (key, upload_id.encode())]
        found.sort(key=lambda item: item[0])
        return [_upload(u) for _, u in take(found, limit)]

    def used_bytes(self, account_id: str, max_age: float = 0.0) -> int:
        with self._lock:  # always read now, as stored_bytes does here
            return self._used_bytes(account_id)

    def _used_bytes(self, account_id: str) -> int:
        return self._stored.get(account_id, 0) + sum(
            p.size
            for held in self._uploads.values()
            if self._owner_of(held) == account_id
            for p in held.parts.values()
        )

    def _owner_of(self, held: HeldUpload) -> str | None:
        bucket = self._buckets.get(held.upload.bucket_id)
        return bucket.bucket.account_id if bucket is not None else None

    def put_part(self, part: Part, quota: int | None = None) -> None:
        with self._lock:
            held = self._uploads.get(part.upload_id)
            owner = self._owner_of(held) if held is not None else None
            if held is None or owner is None:
                raise NoSuchUpload()
            old = held.parts.get(part.number)
            grown = part.size - (old.size if old is not None else 0)
            if quota is not None and grown > 0 and self._used_bytes(owner) + grown > quota:
                raise QuotaExceeded("storage_bytes", storage_quota_message(quota))
            held.parts[part.number] = _part(part)
            if old is not None:
                self._garbage.add(old.path)

    def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        with self._lock:
            held = self._uploads.get(upload_id)
            parts = sorted(
                (p for n, p in held.parts.items() if n > after) if held is not None else (),
                key=lambda p: p.number,
            )
            return [_part(p) for p in take(parts, limit)]

    def complete_upload(
        self,
        upload: Upload,
        meta: ObjectMeta,
        used_parts: Iterable[int],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        used = set(used_parts)
        with self._lock:
            held = self._uploads.get(upload.id)
            if held is None:
                raise NoSuchUpload()
            old = self._check_conditions(meta, if_match, if_none_match, upload.initiated)
            if if_none_match and held.key_deleted:
                raise ConditionalRequestConflict("If-None-Match")
            unused = [p.path for n, p in held.parts.items() if n not in used]
            version_id = self._write_current(meta, old, quota)
            del self._uploads[upload.id]
            self._garbage.update(unused)
            self._completed.record(completion(upload.id, meta, version_id))
            return version_id

    def completed_upload(self, upload_id: str) -> CompletedUpload | None:
        with self._lock:
            return self._completed.find(upload_id)

    def abort_upload(self, upload_id: str) -> bool:
        with self._lock:
            held = self._uploads.pop(upload_id, None)
            if held is None:
                return False
            self._garbage.update(p.path for p in held.parts.values())
            return True
