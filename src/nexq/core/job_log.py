"""What a process's background jobs did: runs, failures, durations and the last errors.

Each worker process keeps one :class:`JobLog`, told of every run by its job lanes
(``app._run_lane``) through :meth:`JobLog.ran`, the single place a run is reported. The
worker publishes :meth:`JobLog.snapshot` to a file of the data dir (``core.run_dir``), and
``nexq admin status`` merges the files of every live worker (:func:`merge`).

Only an exception's type and message are kept, never its arguments or the environment: the
messages Nexq's code raises name what failed, not the secrets it held.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from nexq.core import telemetry

# The few most recent failures a process keeps, whichever jobs they were of.
RECENT_ERRORS = 10
ERROR_CHARACTERS = 500  # of an exception's text: enough to say what failed


@dataclass(slots=True)
class JobStats:
    """One job's record in one process."""

    name: str
    every: float = 0.0  # seconds between runs
    once: bool = False  # runs in the process that holds its lease only
    runs: int = 0
    failures: int = 0
    last_started: float | None = None  # epoch seconds
    last_seconds: float | None = None  # how long the last run took
    last_failed: bool = False  # whether the last run raised
    last_error: str | None = None  # the text of the last failure, even if runs succeeded since
    last_error_at: float | None = None


@dataclass(frozen=True, slots=True)
class JobError:
    """One failed run."""

    job: str
    at: float  # epoch seconds when the run started
    error: str


def describe(error: BaseException) -> str:
    """An exception as the log keeps it: its type and message, cut short."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:ERROR_CHARACTERS]


class JobLog:
    """The record of one process's job runs, in memory; lanes report to it from their
    threads and the publisher reads it from its own."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobStats] = {}
        self._errors: deque[JobError] = deque(maxlen=RECENT_ERRORS)
        self._lock = threading.Lock()

    def register(self, name: str, every: float, once: bool) -> None:
        """A job this process may run: listed even before its first run."""
        with self._lock:
            stats = self._jobs.setdefault(name, JobStats(name))
            stats.every, stats.once = every, once
        telemetry.job_known(name)

    def ran(self, name: str, started: float, seconds: float, error: BaseException | None) -> None:
        """Job ``name`` ran from ``started`` (epoch seconds) for ``seconds``; ``error`` is
        what it raised, if it failed."""
        with self._lock:
            stats = self._jobs.setdefault(name, JobStats(name))
            stats.runs += 1
            stats.last_started, stats.last_seconds = started, seconds
            stats.last_failed = error is not None
            if error is not None:
                stats.failures += 1
                stats.last_error, stats.last_error_at = describe(error), started
                self._errors.append(JobError(name, started, stats.last_error))
        telemetry.job_ran(name, seconds, error is not None)

    def snapshot(self) -> dict[str, Any]:
        """Every job's record and the recent failures, as JSON values."""
        with self._lock:
            return {
                "jobs": [asdict(stats) for stats in self._jobs.values()],
                "errors": [asdict(error) for error in self._errors],
            }


@dataclass(frozen=True, slots=True)
class MergedJob:
    """One job over every live process: counts added up, the latest run and error kept.
    ``failing`` when the latest run of the job failed in any process (a job that is not
    ``once`` runs in each worker, and one worker failing it is a fault of that worker)."""

    name: str
    every: float
    once: bool
    runs: int
    failures: int
    last_started: float | None
    last_seconds: float | None
    last_error: str | None
    last_error_at: float | None
    failing: bool


def merge(snapshots: Iterable[Mapping[str, Any]]) -> tuple[list[MergedJob], list[JobError]]:
    """The jobs of several processes' snapshots (:meth:`JobLog.snapshot`) as one table,
    sorted by name, and their failures, most recent first."""
    found: dict[str, list[JobStats]] = {}
    errors: list[JobError] = []
    for snapshot in snapshots:
        for row in snapshot.get("jobs", ()):
            stats = JobStats(**_known(row, JOB_FIELDS))
            found.setdefault(stats.name, []).append(stats)
        errors += [JobError(**_known(row, ERROR_FIELDS)) for row in snapshot.get("errors", ())]
    jobs = [_merged(name, records) for name, records in sorted(found.items())]
    errors.sort(key=lambda error: error.at, reverse=True)
    return jobs, errors


# A file written by another version of Nexq may carry fields this one does not know.
JOB_FIELDS = frozenset(f.name for f in fields(JobStats))
ERROR_FIELDS = frozenset(f.name for f in fields(JobError))


def _known(row: Mapping[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name in names}


def _merged(name: str, records: list[JobStats]) -> MergedJob:
    ran = [r for r in records if r.last_started is not None]
    latest = max(ran, key=lambda r: r.last_started or 0.0, default=None)
    erred = [r for r in records if r.last_error_at is not None]
    last_error = max(erred, key=lambda r: r.last_error_at or 0.0, default=None)
    return MergedJob(
        name=name,
        every=records[0].every,
        once=records[0].once,
        runs=sum(r.runs for r in records),
        failures=sum(r.failures for r in records),
        last_started=latest.last_started if latest else None,
        last_seconds=latest.last_seconds if latest else None,
        last_error=last_error.last_error if last_error else None,
        last_error_at=last_error.last_error_at if last_error else None,
        failing=any(r.last_failed for r in records),
    )
