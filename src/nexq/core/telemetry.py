"""What the installation did, for Prometheus: requests, bytes, commits, syncs, job runs,
refusals; and what it holds, read from the services at each scrape.

A server's worker processes each count into files of their own under one folder (the
``prometheus_client`` library's multiprocess mode), which the control plane's worker merges
when scraped: a request counts the same whichever worker served it, and what a worker that
died counted stays counted until the server restarts (Prometheus reads a restart as a
counter reset). A process that never called :func:`enable` (``nexq admin``, the unit tests)
counts nothing and pays one test per event.

The library is imported by :func:`enable` alone: its multiprocess mode is chosen from the
environment when it is imported, so the folder must be named first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexq.core.errors import QuotaExceeded, RateLimited

# Seconds: S3 answers a small GET in about 1 ms here and a 1 GiB PUT in a few seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
SYNC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True, slots=True)
class Reading:
    """One value a service reports of what it holds, at scrape time: e.g.
    ``Reading("nexq_databases", "Databases by status.", 3, {"status": "Running"})``."""

    name: str
    help: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


Census = Callable[[], Iterable[Reading]]


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.requests = Counter(
            "nexq_requests",
            "Requests answered, by service, operation and status.",
            ["service", "operation", "status"],
        )
        self.latency = Histogram(
            "nexq_request_duration_seconds",
            "From a request's arrival to its answer's last byte.",
            ["service", "operation"],
            buckets=LATENCY_BUCKETS,
        )
        self.bytes = Counter(
            "nexq_bytes", "Body bytes received (in) and sent (out).", ["service", "direction"]
        )
        self.refusals = Counter(
            "nexq_refusals", "Requests refused by a quota or a rate limit.", ["service", "kind"]
        )
        self.batch = Histogram(
            "nexq_group_commit_batch_size",
            "Writes committed together in one metadata transaction.",
            buckets=BATCH_BUCKETS,
        )
        self.commit = Histogram(
            "nexq_group_commit_seconds",
            "How long one group commit of the metadata took: the wait for the write lock, its "
            "writes and COMMIT.",
            buckets=SYNC_BUCKETS,
        )
        self.sync = Histogram(
            "nexq_blob_sync_seconds",
            "How long making one blob file durable took (fdatasync).",
            buckets=SYNC_BUCKETS,
        )
        self.jobs = Counter(
            "nexq_job_runs", "Background job runs, by job and outcome.", ["job", "outcome"]
        )
        self.job_seconds = Histogram(
            "nexq_job_duration_seconds", "How long a background job's run took.", ["job"]
        )


_metrics: _Metrics | None = None
_series: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}


def folder_for(data_dir: Path) -> Path:
    """A new, empty folder where a server's processes will count: in memory (``/dev/shm``)
    where the host has it, else under the data dir. The counts die with the server anyway,
    and the library grows its files by truncating then writing through a memory map, which
    on a full file system kills the process with SIGBUS: a full data disk must not take the
    server down with it. In ``/dev/shm`` (everyone's) the folder is made private with an
    unguessable name, and folders this user's killed servers left are removed. Called once
    per server, by its main process."""
    memory = Path("/dev/shm")  # noqa: S108 - a private folder is made in it (mkdtemp)
    if not (memory.is_dir() and os.access(memory, os.W_OK)):
        folder = data_dir / "run" / "metrics"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
        return folder
    for left in memory.glob("nexq-metrics-*"):
        pid = left.name.split("-")[2]
        info = left.lstat()
        mine = info.st_uid == os.getuid() and not left.is_symlink()
        # A folder named with this process's own pid is a killed server's that had the same
        # pid (pids wrap, at 32,768 on many hosts): this process makes its own just below.
        if mine and pid.isdigit() and (int(pid) == os.getpid() or not _running(int(pid))):
            shutil.rmtree(left, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"nexq-metrics-{os.getpid()}-", dir=memory))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def prepare(folder: Path) -> None:
    """Name ``folder`` (empty, from :func:`folder_for`) to the processes forked after: a
    server's main process calls it once, before its workers start (each then calls
    :func:`enable`)."""
    os.environ[FOLDER_VARIABLE] = str(folder)


def enable() -> None:
    """Count from now on, into the folder :func:`prepare` named (in this process alone when
    none was named)."""
    global _metrics
    if _metrics is None:
        from prometheus_client import disable_created_metrics

        # A *_created series beside every counter and histogram would double the scrape.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        _metrics = _Metrics()


def enabled() -> bool:
    return _metrics is not None


def request(
    service: str, operation: str, status: int, seconds: float, received: int, sent: int
) -> None:
    m = _metrics
    if m is None:
        return
    # The labelled series, looked up once: the library's own lookup locks and hashes a
    # tuple each time, a good part of what counting a small request costs.
    key = (service, operation, status)
    series = _series.get(key)
    if series is None:
        series = _series[key] = (
            m.requests.labels(service, operation, str(status)),
            m.latency.labels(service, operation),
            m.bytes.labels(service, "in"),
            m.bytes.labels(service, "out"),
        )
    count, latency, bytes_in, bytes_out = series
    count.inc()
    latency.observe(seconds)
    if received:
        bytes_in.inc(received)
    if sent:
        bytes_out.inc(sent)


def refusal_of(service: str, error: Exception) -> None:
    """Count ``error`` if it is a refusal by a quota or a rate limit."""
    if _metrics is None:
        return
    if isinstance(error, RateLimited):
        _metrics.refusals.labels(service, "rate").inc()
    elif isinstance(error, QuotaExceeded):
        _metrics.refusals.labels(service, "quota").inc()


def committed(writes: int, seconds: float) -> None:
    if _metrics is not None:
        _metrics.batch.observe(writes)
        _metrics.commit.observe(seconds)


def synced(seconds: float) -> None:
    if _metrics is not None:
        _metrics.sync.observe(seconds)


def job_known(name: str) -> None:
    """Job ``name`` may run in this process: its run counts are exported from now on, at
    zero until it runs, so that a rate of failures is 0 rather than no data before the
    first failure (and a dashboard's query has its series from the server's start)."""
    if _metrics is not None:
        for outcome in ("ok", "failed"):
            _metrics.jobs.labels(name, outcome)


def job_ran(name: str, seconds: float, failed: bool) -> None:
    if _metrics is not None:
        _metrics.jobs.labels(name, "failed" if failed else "ok").inc()
        _metrics.job_seconds.labels(name).observe(seconds)


def exposition(censuses: Sequence[Census]) -> tuple[bytes, str]:
    """The text Prometheus scrapes, and its content type: every process's counts, merged,
    and what the services hold now."""
    from prometheus_client import (
        CONTENT_TYPE_PLAIN_0_0_4,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
    )
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    if os.environ.get(FOLDER_VARIABLE):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:  # one process (tests build the app in theirs): its own counts
        registry.register(REGISTRY)
    registry.register(_CensusCollector(censuses))
    # The text format every Prometheus reads (our names need none of 1.0.0's escaping).
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4


class _CensusCollector:
    def __init__(self, censuses: Sequence[Census]) -> None:
        self._censuses = censuses

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        families: dict[str, GaugeMetricFamily] = {}
        for census in self._censuses:
            for reading in census():
                family = families.get(reading.name)
                if family is None:
                    family = GaugeMetricFamily(
                        reading.name, reading.help, labels=sorted(reading.labels)
                    )
                    families[reading.name] = family
                family.add_metric(
                    [reading.labels[k] for k in sorted(reading.labels)], reading.value
                )
        return families.values()
