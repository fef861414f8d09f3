"""The lifecycle job: every bucket's enabled lifecycle rules applied as of a given time.

A run walks the buckets that have a lifecycle configuration, a page at a time by bucket id.
In each it walks the versions (ListObjectVersions' order, a page at a time, under the rules'
prefixes only) and then the unfinished multipart uploads, and acts on what the rules make
due (``nexq.storage.lifecycle``): current versions expire (a delete marker where versioning
is on or suspended, a delete where it never was), noncurrent versions and lone delete
markers go for good, uploads are aborted. Nothing of a bucket is held in memory but one page
and the key being walked.

Safe against concurrent writes: the walk only picks candidates. The store describes each
version again in the transaction that removes it, and the rules decide again on that
(``MetadataStore.apply_lifecycle``), so a version overwritten, re-tagged, made current
again or deleted after the walk saw it is removed only if the rules still make it due then.
An upload's key and initiation time never change, so aborting one needs no re-check (if a
completion wins the race, the abort finds nothing).

Idempotent: a second run at the same ``now`` finds nothing more to do. Versions made after
the run began (its own delete markers, the versions they retire, concurrent writes) wait for
the next run: a run acts on the installation as it found it when it began.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nexq.storage.errors import NoSuchBucket
from nexq.storage.lifecycle import NOTHING_DUE, Action, Candidate, Due, Rule, abort_due, due
from nexq.storage.lifecycle_json import rules_from_json
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.versions import ListedVersion

log = logging.getLogger("nexq.lifecycle")

SETTING = "lifecycle"  # the bucket setting PutBucketLifecycleConfiguration keeps
PAGE = 1000


@dataclass
class LifecycleReport:
    """What one run did, counted."""

    now: float  # the time the rules were applied as of
    buckets: int = 0  # buckets with enabled rules, walked
    expired: int = 0  # current versions expired (delete marker added, or deleted)
    noncurrent_deleted: int = 0  # noncurrent versions removed for good
    delete_markers_removed: int = 0  # expired object delete markers removed
    uploads_aborted: int = 0
    # Found due by the walk, but no longer so (or gone) when the store looked again.
    left_alone: int = 0
    failed: list[str] = field(default_factory=list)  # "bucket id: error" of failed buckets

    def count(self, action: Action) -> None:
        if action is Action.EXPIRE_CURRENT:
            self.expired += 1
        elif action is Action.DELETE_NONCURRENT:
            self.noncurrent_deleted += 1
        elif action is Action.REMOVE_DELETE_MARKER:
            self.delete_markers_removed += 1


@dataclass
class _Key:
    """The key being walked: what its next (older) version needs to be judged."""

    name: str
    successor: float  # when the version seen last was written: the next one's replacement
    newer_noncurrent: int = 0  # noncurrent versions seen so far
    marker: ListedVersion | None = None  # its latest version, if a delete marker
    others: int = 0  # versions seen besides the latest one
    removed: int = 0  # ... and removed by this run


def _prefixes(rules: Sequence[Rule]) -> list[str]:
    """The fewest prefixes under which every object the rules filter lies ("" for all)."""
    cover: list[str] = []
    for prefix in sorted({rule.filter.prefix or "" for rule in rules}):
        if not cover or not prefix.startswith(cover[-1]):
            cover.append(prefix)
    return cover


class Lifecycle:
    """Applies lifecycle rules; safe to run from several processes at once (see above)."""

    def __init__(
        self, store: MetadataStore, clock: Callable[[], float] = time.time, page: int = PAGE
    ) -> None:
        self._store = store
        self._clock = clock
        self._page = page

    def run(self, now: float | None = None) -> LifecycleReport:
        """Apply every bucket's enabled rules as of ``now`` (default: the clock's time)."""
        started = self._clock()
        report = LifecycleReport(started if now is None else now)
        after = ""
        while page := self._store.buckets_with_setting(SETTING, after, self._page):
            for bucket_id in page:
                try:
                    self._bucket(bucket_id, report, started)
                except NoSuchBucket:
                    pass  # deleted while the run went on: nothing left to act on
                except Exception as exc:  # one bucket's failure must not stop the others
                    log.exception("lifecycle of bucket %s failed", bucket_id)
                    report.failed.append(f"{bucket_id}: {exc}")
            after = page[-1]
        return report

    def _rules(self, bucket_id: str) -> list[Rule]:
        """The bucket's enabled rules as they are now (read again for each page, so a
        configuration removed or changed mid-walk takes effect at the next page)."""
        text = self._store.bucket_setting(bucket_id, SETTING)
        return [rule for rule in rules_from_json(text) if rule.enabled] if text else []

    def _bucket(self, bucket_id: str, report: LifecycleReport, started: float) -> None:
        rules = self._rules(bucket_id)
        if not rules:
            return
        report.buckets += 1
        on_versions = [r for r in rules if r.expiration or r.noncurrent_expiration]
        for prefix in _prefixes(on_versions) if on_versions else []:
            self._versions(bucket_id, prefix, report, started)
        on_uploads = [r for r in rules if r.abort_after_days is not None]
        for prefix in _prefixes(on_uploads) if on_uploads else []:
            self._uploads(bucket_id, prefix, report, started)

    # versions ------------------------------------------------------------------------------
    def _versions(
        self, bucket_id: str, prefix: str, report: LifecycleReport, started: float
    ) -> None:
        start, below = prefix, None
        walking: _Key | None = None
        rules: list[Rule] = []
        while True:
            rules = self._rules(bucket_id)
            if not rules:
                return
            page = self._store.list_versions(bucket_id, prefix, start, below, self._page)
            for version, _ in page:
                if walking is not None and version.key == walking.name:
                    self._older(bucket_id, walking, version, rules, report, started)
                    continue
                if walking is not None:
                    self._settle(bucket_id, walking, rules, report, started)
                # The first version of a key in S3's order is its latest.
                walking = _Key(version.key, version.last_modified)
                if version.delete_marker:
                    walking.marker = version  # judged once its other versions are counted
                else:
                    judged = Candidate(
                        version.key, version.size, dict(version.tags), version.last_modified
                    )
                    self._act(bucket_id, version.version_id, judged, rules, report, started)
            if len(page) < self._page:
                break
            start, below = page[-1][0].key, page[-1][1]
        if walking is not None:
            self._settle(bucket_id, walking, rules, report, started)

    def _older(
        self,
        bucket_id: str,
        walking: _Key,
        version: ListedVersion,
        rules: list[Rule],
        report: LifecycleReport,
        started: float,
    ) -> None:
        """A noncurrent version (or delete marker) of the key being walked."""
        judged = Candidate(
            version.key,
            version.size,
            dict(version.tags),
            version.last_modified,
            is_latest=False,
            is_delete_marker=version.delete_marker,
            noncurrent_since=walking.successor,
            newer_noncurrent_count=walking.newer_noncurrent,
        )
        walking.others += 1
        if self._act(bucket_id, version.version_id, judged, rules, report, started):
            walking.removed += 1
        walking.newer_noncurrent += 1
        walking.successor = version.last_modified

    def _settle(
        self,
        bucket_id: str,
        walking: _Key,
        rules: list[Rule],
        report: LifecycleReport,
        started: float,
    ) -> None:
        """The key's latest version, if a delete marker: alone once this run removed every
        other version of its key (it then goes in the same run)."""
        marker = walking.marker
        if marker is None:
            return
        judged = Candidate(
            marker.key,
            0,
            {},
            marker.last_modified,
            is_delete_marker=True,
            only_version=walking.others == walking.removed,
        )
        self._act(bucket_id, marker.version_id, judged, rules, report, started)

    def _act(
        self,
        bucket_id: str,
        version_id: str | None,
        judged: Candidate,
        rules: list[Rule],
        report: LifecycleReport,
        started: float,
    ) -> bool:
        """Ask the store to act on a version the walk found due; whether it did."""

        def decide(candidate: Candidate) -> Due:
            return _due(rules, candidate, report.now, started)

        if decide(judged).action is Action.NONE:
            return False
        done, removal = self._store.apply_lifecycle(bucket_id, judged.key, version_id, decide)
        if done.action is Action.NONE or not (removal.removed or removal.marker_added):
            report.left_alone += 1
            return False
        report.count(done.action)
        return True

    # uploads -------------------------------------------------------------------------------
    def _uploads(
        self, bucket_id: str, prefix: str, report: LifecycleReport, started: float
    ) -> None:
        after: tuple[str, str | None] | None = None
        while True:
            rules = self._rules(bucket_id)
            if not rules:
                return
            page = self._store.list_uploads(bucket_id, prefix, after, self._page)
            for upload in page:
                if upload.initiated >= started:
                    continue  # begun after the run did: the next run's
                if abort_due(rules, upload.key, upload.initiated, report.now):
                    if self._store.abort_upload(upload.id):
                        report.uploads_aborted += 1
                    else:
                        report.left_alone += 1  # completed or aborted meanwhile
            if len(page) < self._page:
                return
            after = (page[-1].key, page[-1].id)


def _due(rules: Sequence[Rule], candidate: Candidate, now: float, started: float) -> Due:
    """What is due on ``candidate`` at ``now``; nothing on a version written, or made
    noncurrent, after the run ``started`` (see the module's docstring)."""
    since = candidate.noncurrent_since
    if candidate.last_modified >= started or (since is not None and since >= started):
        return NOTHING_DUE
    return due(rules, candidate, now)


class DailyLifecycle:
    """The background job: a run every ``interval`` seconds, and one soon after the process
    takes the job (so that restarts never put the next run off). Ticked more often than it
    runs (``Job.every`` is the tick), in the one process that holds the job's lease."""

    def __init__(
        self, lifecycle: Lifecycle, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lifecycle = lifecycle
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def tick(self) -> LifecycleReport | None:
        """Run if a run is due; its report, or None."""
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return None
        self._last = now
        report = self._lifecycle.run()
        log.info(
            "lifecycle: %d buckets, %d expired, %d noncurrent deleted, %d delete markers "
            "removed, %d uploads aborted, %d left alone, %d failed",
            report.buckets,
            report.expired,
            report.noncurrent_deleted,
            report.delete_markers_removed,
            report.uploads_aborted,
            report.left_alone,
            len(report.failed),
        )
        return report
