"""Empty a bucket: every version and delete marker removed, every unfinished upload aborted,
in the background, so that a full bucket can then be deleted.

Starting it writes the bucket's ``emptying`` setting (a JSON document); the background job
(``Emptier.tick``, in the one process that holds its lease) walks the buckets that have one
and empties each. The document is the job's state and its progress: another process takes
up where a dead one stopped, since what is left to delete is simply what is still listed.
When a pass over the bucket removes nothing more, the result moves to the ``emptied``
setting, which the console and the API show until the bucket goes (or is emptied again).

Each removal is the store's ``delete_objects`` by version id, the very call an S3
DeleteObjects with versionIds makes: stored bytes and object counts (hence billing and
quotas) move exactly as they would for the same deletes over S3, and Object Lock refuses
in the same place. Versions under a retention or a legal hold are kept (no GOVERNANCE
bypass) and counted by reason. Objects written while the job runs go as well, until a pass
finds nothing more to remove.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.storage.errors import AccessDenied, NoSuchBucket
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.object_lock import ObjectLocked
from nexq.storage.service import ObjectStorage
from nexq.storage.versions import Deletion, ListedVersion, Removal

log = logging.getLogger("nexq.storage.emptying")

RUNNING = "emptying"  # the setting of a bucket being emptied: the job's state
DONE = "emptied"  # the setting that keeps the last run's result
PAGE = 500  # versions per delete_objects call (S3's DeleteObjects takes up to 1,000)
# Progress is written at most this often: each setting written moves every node's cached
# view of the bucket, which must not happen for every page of a large bucket.
PROGRESS_SECONDS = 1.0
# A bucket written to faster than it is emptied would keep the job busy for ever; after this
# many passes the job stops and says what is left.
MAX_PASSES = 20


@dataclass(frozen=True, slots=True)
class Emptying:
    """One run of "Empty bucket": what it has done so far, or did."""

    started_at: float
    finished_at: float | None = None
    deleted: int = 0  # versions and delete markers removed for good
    uploads_aborted: int = 0
    kept_retention: int = 0  # versions under a retention period, kept
    kept_legal_hold: int = 0  # versions under a legal hold, kept
    kept_other: int = 0  # versions another refusal kept (logged)
    passes: int = 0

    @property
    def running(self) -> bool:
        return self.finished_at is None

    @property
    def kept(self) -> int:
        return self.kept_retention + self.kept_legal_hold + self.kept_other

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def parse(cls, text: str | None) -> Emptying | None:
        if not text:
            return None
        fields = json.loads(text)
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})


class BucketEmptying:
    """The use cases: start emptying a bucket, and see how far it is."""

    def __init__(
        self,
        storage: ObjectStorage,
        store: MetadataStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._store = store
        self._clock = clock

    def _owned(self, caller: Principal, name: str) -> str:
        """The id of the bucket ``name`` if the caller's account owns it: a bucket policy
        may open a bucket to others, never its emptying."""
        bucket = self._storage.bucket(caller, name)
        if bucket.account_id != caller.account.id or caller.reaches is not None:
            raise AccessDenied("Only the bucket's account can empty it.")
        return bucket.id

    def start(self, caller: Principal, name: str) -> Emptying:
        """Start emptying ``name`` (the background job does it); a run already going on is
        left as it is and returned."""
        bucket_id = self._owned(caller, name)
        going = Emptying.parse(self._store.bucket_setting(bucket_id, RUNNING))
        if going is not None:
            return going
        started = Emptying(started_at=self._clock())
        self._store.set_bucket_setting(bucket_id, RUNNING, started.to_json())
        return started

    def status(self, caller: Principal, name: str) -> Emptying | None:
        """The run going on, else the last one finished, else None."""
        bucket_id = self._owned(caller, name)
        going = Emptying.parse(self._store.bucket_setting(bucket_id, RUNNING))
        return going or Emptying.parse(self._store.bucket_setting(bucket_id, DONE))


class Emptier:
    """The background job: empties every bucket whose emptying was started."""

    def __init__(
        self,
        store: MetadataStore,
        clock: Callable[[], float] = time.time,
        page: int = PAGE,
        progress_seconds: float = PROGRESS_SECONDS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._page = page
        self._progress_seconds = progress_seconds

    def tick(self) -> int:
        """Empty each bucket waiting for it; how many were finished."""
        finished, after = 0, ""
        while page := self._store.buckets_with_setting(RUNNING, after, 100):
            for bucket_id in page:
                try:
                    finished += self.empty(bucket_id)
                except NoSuchBucket:
                    pass  # deleted meanwhile: nothing left to empty
                except Exception:  # one bucket's failure must not hold up the others
                    log.exception("emptying bucket %s failed; the next tick tries again", bucket_id)
            after = page[-1]
        return finished

    def empty(self, bucket_id: str) -> bool:
        """Empty one bucket from where its document says; whether it finished."""
        state = Emptying.parse(self._store.bucket_setting(bucket_id, RUNNING))
        if state is None:
            return False
        saved_at = self._clock()
        while True:
            # Kept versions are counted anew by each pass: the last pass's count is the one.
            state = replace(state, kept_retention=0, kept_legal_hold=0, kept_other=0)
            state, removed = self._pass(bucket_id, state, saved_at)
            state = replace(state, passes=state.passes + 1)
            if not removed or state.passes >= MAX_PASSES:
                break
            self._save(bucket_id, state)
            saved_at = self._clock()
        done = replace(state, finished_at=self._clock())
        self._store.set_bucket_setting(bucket_id, DONE, done.to_json())
        self._store.set_bucket_setting(bucket_id, RUNNING, None)
        log.info(
            "bucket %s emptied: %d deleted, %d uploads aborted, %d kept",
            bucket_id,
            done.deleted,
            done.uploads_aborted,
            done.kept,
        )
        return True

    def _save(self, bucket_id: str, state: Emptying) -> None:
        self._store.set_bucket_setting(bucket_id, RUNNING, state.to_json())

    def _pass(self, bucket_id: str, state: Emptying, saved_at: float) -> tuple[Emptying, int]:
        """One walk over the bucket's versions, then its uploads; what was removed."""
        removed = 0
        start, below = "", None
        while True:
            page = self._store.list_versions(bucket_id, "", start, below, self._page)
            if not page:
                break
            deletions = [Deletion(v.key, v.version_id, by_version=True) for v, _ in page]
            outcomes = self._store.delete_objects(bucket_id, deletions)
            for (version, _), outcome in zip(page, outcomes, strict=True):
                if isinstance(outcome, Removal):
                    if outcome.removed:
                        removed += 1
                        state = replace(state, deleted=state.deleted + 1)
                else:  # a refusal: the version stays
                    state = self._kept(bucket_id, version, outcome, state)
            if self._clock() - saved_at >= self._progress_seconds:
                self._save(bucket_id, state)
                saved_at = self._clock()
            if len(page) < self._page:
                break
            # Rank-ordered, so that kept versions are not listed again in this pass; a
            # version made current by a removal may be passed over: the next pass sees it.
            start, below = page[-1][0].key, page[-1][1]
        after: tuple[str, str | None] | None = None
        while uploads := self._store.list_uploads(bucket_id, "", after, self._page):
            for upload in uploads:
                if self._store.abort_upload(upload.id):
                    removed += 1
                    state = replace(state, uploads_aborted=state.uploads_aborted + 1)
            if len(uploads) < self._page:
                break
            after = (uploads[-1].key, uploads[-1].id)
        return state, removed

    def _kept(
        self, bucket_id: str, version: ListedVersion, refusal: DomainError, state: Emptying
    ) -> Emptying:
        """Count a version the store refused to remove, by why."""
        if isinstance(refusal, ObjectLocked):
            meta = self._store.get_version(bucket_id, version.key, version.version_id)
            if meta is not None and meta.legal_hold:
                return replace(state, kept_legal_hold=state.kept_legal_hold + 1)
            return replace(state, kept_retention=state.kept_retention + 1)
        log.warning(
            "emptying bucket %s kept %r (version %s): %s",
            bucket_id,
            version.key,
            version.version_id,
            refusal.message,
        )
        return replace(state, kept_other=state.kept_other + 1)
