"""The records of completed multipart uploads in the in-memory metadata store, kept and purged
as the SQL store keeps them (nexq.storage.metadata.sql_completions). Not thread-safe: the
store calls it under its lock."""

from __future__ import annotations

import bisect
from dataclasses import replace

from nexq.storage.completions import PURGE_BATCH, RETRY_WINDOW, CompletedUpload


class CompletionLog:
    """Completed uploads by id, with their order by time (the SQL store's index)."""

    def __init__(self) -> None:
        self._by_id: dict[str, CompletedUpload] = {}
        self._by_time: list[tuple[float, str]] = []

    def record(self, done: CompletedUpload) -> None:
        """Keep ``done`` and drop up to PURGE_BATCH records expired by its time, oldest first."""
        if done.upload_id in self._by_id:
            raise ValueError(f"upload {done.upload_id} completed twice")  # a primary key, in SQL
        self._by_id[done.upload_id] = replace(done, checksums=dict(done.checksums))
        bisect.insort(self._by_time, (done.completed_at, done.upload_id))
        expired = done.completed_at - RETRY_WINDOW
        for _ in range(PURGE_BATCH):
            if not self._by_time or self._by_time[0][0] >= expired:
                break
            _, upload_id = self._by_time.pop(0)
            del self._by_id[upload_id]

    def find(self, upload_id: str) -> CompletedUpload | None:
        done = self._by_id.get(upload_id)
        return replace(done, checksums=dict(done.checksums)) if done is not None else None
