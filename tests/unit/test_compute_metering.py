"""Instance-hours: only the time an instance was Running, per size and hour, runs of one
hour added up; a stopped instance pays none, and its disk is sampled either way; snapshots
and backups are sampled by their compressed size while they are kept."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from nexq.app import SCHEMAS
from nexq.compute.copier import daily_backup
from nexq.compute.disk_copy import CopyKind, CopyStatus
from nexq.compute.instance import Instance, Status
from nexq.compute.metering import ComputeMeter
from nexq.compute.sql_disk_copies import SqlDiskCopies
from nexq.compute.sql_instances import SqlInstances
from nexq.core.db import Database
from nexq.core.metering import UsageRecord

HOUR = 3600
T0 = 1_000 * HOUR  # the start of an hour


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


def instance(size: str = "nano") -> Instance:
    return Instance(
        "vm-1", "acc-a", "web-1", "tiny", size, 1, 256, 1, "k", "laptop", "ssh-ed25519 A",
        Status.PROVISIONING, "", None, T0, T0,
    )  # fmt: skip


def test_hours_are_the_time_it_ran(tmp_path: Path) -> None:
    clock = Clock()
    store = SqlInstances(Database(tmp_path / "meta.db", SCHEMAS), clock)
    meter = ComputeMeter(store, clock=clock)
    store.add(instance(), None)
    clock.now = T0 + 600  # launched: Running from minute 10
    store.set_status("vm-1", Status.RUNNING)
    store.set_port("vm-1", 12022)
    clock.now = T0 + 1200
    store.set_status("vm-1", Status.REBOOTING)  # still running
    store.set_status("vm-1", Status.RUNNING)
    clock.now = T0 + 1800
    store.set_status("vm-1", Status.STOPPING)  # still running until Stopped
    clock.now = T0 + 1830
    store.set_status("vm-1", Status.STOPPED)
    clock.now = T0 + 3000
    store.set_status("vm-1", Status.STARTING)
    store.set_status("vm-1", Status.RUNNING)  # from minute 50 into the next hour
    clock.now = T0 + HOUR + 900
    store.set_status("vm-1", Status.DELETING)
    clock.now = T0 + 2 * HOUR
    store.mark_deleted("vm-1")
    counted = list(meter.counted("acc-a", T0 // HOUR, T0 // HOUR + 2))
    first, second = T0 // HOUR, T0 // HOUR + 1
    assert counted == [
        UsageRecord("acc-a", "compute", "vm-1", "instance_nano_hours", first, 1230 + 600),
        UsageRecord("acc-a", "compute", "vm-1", "instance_nano_hours", second, 900),
    ]
    assert list(meter.accounts(first, second + 1)) == ["acc-a"]
    assert list(meter.counted("acc-b", first, second + 1)) == []


def test_a_stopped_instance_pays_its_disk_only(tmp_path: Path) -> None:
    clock = Clock()
    store = SqlInstances(Database(tmp_path / "meta.db", SCHEMAS), clock)
    meter = ComputeMeter(store, clock=clock)
    store.add(instance("micro"), None)
    assert list(meter.gauges(T0 // HOUR)) == []  # not placed yet: no disk
    store.set_port("vm-1", 12022)
    store.set_status("vm-1", Status.STOPPED)
    clock.now = T0 + 2 * HOUR
    assert list(meter.counted("acc-a", T0 // HOUR, T0 // HOUR + 2)) == []
    assert list(meter.gauges(T0 // HOUR + 1)) == [
        UsageRecord("acc-a", "compute", "vm-1", "instance_disk_gb_month", T0 // HOUR + 1, 1024**3)
    ]


def test_snapshots_and_backups_pay_their_compressed_bytes_while_kept(tmp_path: Path) -> None:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    clock = Clock()
    copies = SqlDiskCopies(db, clock)
    meter = ComputeMeter(SqlInstances(db, clock), copies, clock)
    hour = T0 // HOUR
    snapshot = replace(
        daily_backup(instance(), T0), id="snap-1", kind=CopyKind.SNAPSHOT, scheduled=False
    )
    copies.add(snapshot, None)
    copies.add(replace(daily_backup(instance(), T0), id="bak-1"), None)
    assert list(meter.gauges(hour)) == []  # being taken: nothing kept yet
    copies.set_status("snap-1", CopyStatus.AVAILABLE, size_bytes=5_000_000)
    copies.set_status("bak-1", CopyStatus.AVAILABLE, size_bytes=3_000_000)
    assert sorted(meter.gauges(hour), key=lambda r: r.resource) == [
        UsageRecord("acc-a", "compute", "bak-1", "backup_gb_month", hour, 3_000_000),
        UsageRecord("acc-a", "compute", "snap-1", "snapshot_gb_month", hour, 5_000_000),
    ]
    copies.set_status("snap-1", CopyStatus.DELETING)
    copies.mark_deleted("bak-1")
    assert list(meter.gauges(hour)) == []  # the instance outlived neither; it is not placed
