"""Compute as a provider of meters: instance-hours per size (while Running: a stopped
instance pays none), disk GB-month (every instance's disk, each hour, stopped or not), and
snapshot and backup GB-month (each copy's compressed bytes, each hour it is kept).

Instance-hours are read from the instances' runs (compute_instance_runs), which open and
close in the same transaction as the state that starts or ends them: nothing is counted in
memory, and nothing is lost when no Nexq process runs for a while.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator

from nexq.compute.disk_copy import CopyKind, CopyStatus
from nexq.compute.instance import Status
from nexq.compute.sizes import SizeCatalog
from nexq.compute.sql_disk_copies import SqlDiskCopies
from nexq.compute.sql_instances import Run, SqlInstances
from nexq.core.metering import Meter, MeterKind, UsageRecord

SERVICE = "compute"
GB = 10**9
GIB = 1024**3
HOUR = 3600

DISK = Meter(
    "instance_disk_gb_month",
    "Instance disks",
    "GB-month",
    MeterKind.GAUGE,
    GB,
    "bytes of each instance's disk (its size's), each hour, running or stopped",
)


SNAPSHOTS = Meter(
    "snapshot_gb_month",
    "Instance snapshots",
    "GB-month",
    MeterKind.GAUGE,
    GB,
    "bytes of each snapshot (compressed), each hour, until it is deleted",
)
BACKUPS = Meter(
    "backup_gb_month",
    "Instance backups",
    "GB-month",
    MeterKind.GAUGE,
    GB,
    "bytes of each backup (compressed), each hour, until it is deleted or expires",
)
COPY_METERS = {CopyKind.SNAPSHOT: SNAPSHOTS, CopyKind.BACKUP: BACKUPS}


def hours_meter(size_id: str, size_name: str) -> Meter:
    return Meter(
        f"instance_{size_id}_hours",
        f"Instances ({size_name})",
        "instance-hour",
        MeterKind.COUNTER,
        HOUR,
        "seconds an instance of this size was Running",
    )


def meters(sizes: SizeCatalog) -> tuple[Meter, ...]:
    return (*(hours_meter(s.id, s.name) for s in sizes.sizes.values()), DISK, SNAPSHOTS, BACKUPS)


class ComputeMeter:
    """Reads what the instances used from their runs and rows."""

    def __init__(
        self,
        store: SqlInstances,
        copies: SqlDiskCopies | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._copies = copies
        self._clock = clock

    def counted(self, account_id: str, from_hour: int, to_hour: int) -> Iterator[UsageRecord]:
        """One record per instance, size and hour: the runs of an instance stopped and
        started within an hour add up."""
        start, end = from_hour * HOUR, min(to_hour * HOUR, self._clock())
        seconds: dict[tuple[str, str, int], float] = defaultdict(float)
        for run in self._store.runs_between(start, end, account_id):
            for hour, ran in _hours(run, start, end):
                seconds[(run.instance_id, f"instance_{run.size}_hours", hour)] += ran
        for (instance_id, meter, hour), ran in sorted(seconds.items()):
            if round(ran) > 0:
                yield UsageRecord(account_id, SERVICE, instance_id, meter, hour, round(ran))

    def accounts(self, from_hour: int, to_hour: int) -> Iterator[str]:
        runs = self._store.runs_between(from_hour * HOUR, to_hour * HOUR)
        yield from sorted({r.account_id for r in runs})

    def gauges(self, hour: int) -> Iterator[UsageRecord]:
        for instance in self._store.live():
            if instance.status in (Status.PENDING, Status.DELETING) or instance.ssh_port is None:
                continue  # no disk yet, or no more
            yield UsageRecord(
                instance.account_id,
                SERVICE,
                instance.id,
                DISK.name,
                hour,
                instance.disk_gib * GIB,
            )
        for copy in self._copies.live() if self._copies is not None else []:
            if copy.size_bytes > 0 and copy.status != CopyStatus.DELETING:
                meter = COPY_METERS[copy.kind].name
                yield UsageRecord(copy.account_id, SERVICE, copy.id, meter, hour, copy.size_bytes)


def _hours(run: Run, start: float, end: float) -> Iterator[tuple[int, float]]:
    """The run's seconds in each hour of [start, end): (hour, seconds)."""
    ran_from = max(start, run.started_at)
    ran_to = min(end, run.ended_at if run.ended_at is not None else end)
    hour = int(ran_from // HOUR)
    while hour * HOUR < ran_to:
        seconds = min(ran_to, (hour + 1) * HOUR) - max(ran_from, hour * HOUR)
        if seconds > 0:
            yield hour, seconds
        hour += 1
