"""The copier: takes, reverts to and deletes snapshots and backups on this host, takes the
daily backups that instances' schedules ask for and deletes those past their retention.

It runs beside the provisioner in a lane of its own, since exporting a disk takes a while,
and shares the host's lock with it only for the moments that touch a machine or its disk
(the mark, putting a disk back, dropping the mark), so a machine is never started or
deleted under those. Each step can be repeated: a copy left Creating by a crash is taken again from
its mark, if the mark was made.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from nexq.compute.disk_copy import (
    DAY,
    CopyKind,
    CopyStatus,
    DiskCopy,
    backup_due,
    expired,
)
from nexq.compute.host import FETCHED, DiskNotReady, Host, HostError
from nexq.compute.instance import Instance, Status
from nexq.compute.port import BackupVault
from nexq.compute.qemu import disk_copies
from nexq.compute.qemu.machine import MachineError
from nexq.compute.sql_disk_copies import SqlDiskCopies
from nexq.compute.sql_instances import SqlInstances

log = logging.getLogger("nexq.compute")
# The states in which an instance has a disk to copy.
COPYABLE = (Status.RUNNING, Status.STOPPED)


def backup_key(copy: DiskCopy) -> str:
    """Where a backup is kept in the vault."""
    return f"{copy.account_id}/{copy.instance_id}/{copy.id}.qcow2"


class Copier:
    """Snapshots and backups of this host's instances, brought to the state their rows ask."""

    def __init__(
        self,
        copies: SqlDiskCopies,
        instances: SqlInstances,
        host: Host,
        vault: Callable[[], BackupVault],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._copies = copies
        self._instances = instances
        self._host = host
        self._vault = vault
        self._clock = clock
        host.take_disks_from(self.make_disk)

    def run_once(self) -> None:
        """One pass: the schedules, then every copy with work to do, then the disks new
        instances take from backups (the copier's job)."""
        # What a killed pass left half-written: no pass runs beside this one (the job is the
        # installation's only copier), so nothing in the scratch folder is in use.
        self._host.sweep_scratch()
        self._schedule()
        for copy in self._copies.live():
            try:
                if copy.status == CopyStatus.CREATING:
                    self._take(copy)
                elif copy.status == CopyStatus.REVERTING:
                    self._revert(copy)
                elif copy.status == CopyStatus.DELETING:
                    self._delete(copy)
            except Exception as exc:
                if not isinstance(exc, (HostError, MachineError, OSError)):
                    log.exception("%s %s failed", copy.kind, copy.id)
                reason = str(exc)[:500] or type(exc).__name__
                log.warning("%s %s: %s", copy.kind, copy.id, reason)
                self._failed(copy, reason)
        for instance in self._instances.live():
            try:
                self._fetch(instance)
            except Exception as exc:  # the launch says why, once the backup is missing
                log.warning("instance %s: its disk could not be fetched: %s", instance.id, exc)

    # taking ---------------------------------------------------------------------------------

    def _take(self, copy: DiskCopy) -> None:
        instance = self._instances.get(copy.instance_id)
        if instance is None or instance.status not in (*COPYABLE, Status.STOPPING):
            state = "deleted" if instance is None else instance.status
            self._copies.set_status(
                copy.id,
                CopyStatus.ERROR,
                f"The instance was {state} before its disk could be copied.",
                (CopyStatus.CREATING,),
            )
            return
        machine, disk = self._host.machine(instance.id), self._host.disk(instance.id)
        with self._host.exclusive():
            if not disk.exists():
                raise HostError(f"instance {instance.name} has no disk yet")
            if copy.id not in disk_copies.tags(disk):
                quiesced = disk_copies.mark(machine, disk, copy.id)
                log.info(
                    "%s %s of %s marked %s", copy.kind, copy.id, instance.id,
                    "with the guest's filesystems frozen" if quiesced else "crash consistent",
                )  # fmt: skip
        try:
            size = self._keep(copy, disk)
        finally:
            with self._host.exclusive():
                disk_copies.unmark(machine, disk, copy.id)
        self._copies.set_status(copy.id, CopyStatus.AVAILABLE, "", (CopyStatus.CREATING,), size)
        log.info("%s %s of %s taken: %d bytes", copy.kind, copy.id, instance.id, size)

    def _keep(self, copy: DiskCopy, disk: Path) -> int:
        """Export the marked moment where the copy is kept; the kept file's size."""
        if copy.kind is CopyKind.SNAPSHOT:
            return disk_copies.export(disk, copy.id, self._host.snapshot_file(copy.id))
        file = self._host.scratch() / f"{copy.id}.qcow2"
        try:
            disk_copies.export(disk, copy.id, file)
            return self._vault().put_file(backup_key(copy), file)
        finally:
            file.unlink(missing_ok=True)

    # reverting and restoring ----------------------------------------------------------------

    def _revert(self, copy: DiskCopy) -> None:
        with self._host.exclusive():
            instance = self._instances.get(copy.instance_id)
            if instance is None or instance.status != Status.REVERTING:
                self._copies.set_status(copy.id, CopyStatus.AVAILABLE, "", (CopyStatus.REVERTING,))
                return
            if self._host.running(instance.id):
                raise HostError(f"instance {instance.name} runs; it must be stopped to revert")
            disk_copies.put_back(
                self._host.snapshot_file(copy.id), self._host.disk(instance.id), instance.disk_gib
            )
            self._instances.set_status(
                instance.id,
                Status.STOPPED,
                f"Reverted to snapshot {copy.name}.",
                (Status.REVERTING,),
            )
        self._copies.set_status(copy.id, CopyStatus.AVAILABLE, "", (CopyStatus.REVERTING,))
        log.info("instance %s reverted to snapshot %s", instance.id, copy.id)

    def make_disk(self, source: str, disk: Path, disk_gib: int) -> None:
        """A new instance's disk from snapshot or backup ``source`` (the host's launch): a
        snapshot is copied at once; a backup is the file this job fetched (_fetch), or
        DiskNotReady until it has."""
        copy = self._copies.get(source)
        if copy is None or copy.status not in (CopyStatus.AVAILABLE, CopyStatus.REVERTING):
            raise HostError(f"the disk's source {source} was deleted or is not available")
        if copy.kind is CopyKind.SNAPSHOT:
            disk_copies.put_back(self._host.snapshot_file(copy.id), disk, disk_gib)
            return
        fetched = disk.with_name(FETCHED)
        if not fetched.exists():
            raise DiskNotReady(f"Fetching its disk from backup {copy.name}.")
        disk_copies.adopt(fetched, disk, disk_gib)

    def _fetch(self, instance: Instance) -> None:
        """Download the backup a new instance's disk is made from, beside its disk-to-be."""
        if not instance.source or instance.status not in (
            Status.PROVISIONING,
            Status.PENDING,
            Status.STARTING,
        ):
            return
        copy = self._copies.get(instance.source)
        if copy is None or copy.kind is not CopyKind.BACKUP or copy.status != CopyStatus.AVAILABLE:
            return
        disk, fetched = self._host.disk(instance.id), self._host.fetched(instance.id)
        if disk.exists() or fetched.exists():
            return
        partial = self._host.scratch() / f"{instance.id}.qcow2"
        try:
            self._vault().get_file(backup_key(copy), partial)
            with self._host.exclusive():  # the provisioner removes folders under this lock
                now = self._instances.get(instance.id)
                if now is not None and now.status != Status.DELETING:
                    fetched.parent.mkdir(parents=True, exist_ok=True)
                    partial.rename(fetched)
                    log.info("instance %s: backup %s fetched", instance.id, copy.id)
        finally:
            partial.unlink(missing_ok=True)

    def _failed(self, copy: DiskCopy, reason: str) -> None:
        if copy.status == CopyStatus.REVERTING:
            # The disk is put back aside and renamed: a failure leaves it as it was.
            self._instances.set_status(
                copy.instance_id,
                Status.STOPPED,
                f"Reverting to snapshot {copy.name} failed: {reason}",
                (Status.REVERTING,),
            )
            self._copies.set_status(copy.id, CopyStatus.AVAILABLE, "", (CopyStatus.REVERTING,))
        else:
            self._copies.set_status(copy.id, CopyStatus.ERROR, reason, (copy.status,))

    # deleting -------------------------------------------------------------------------------

    def _delete(self, copy: DiskCopy) -> None:
        if copy.kind is CopyKind.SNAPSHOT:
            self._host.snapshot_file(copy.id).unlink(missing_ok=True)
        else:
            self._vault().delete(backup_key(copy))
        self._copies.mark_deleted(copy.id)
        log.info("%s %s deleted", copy.kind, copy.id)

    # schedules ------------------------------------------------------------------------------

    def _schedule(self) -> None:
        now = self._clock()
        scheduled: dict[str, list[DiskCopy]] = defaultdict(list)
        for copy in self._copies.live():
            if copy.scheduled:
                scheduled[copy.instance_id].append(copy)
        instances = {i.id: i for i in self._instances.live()}
        for instance in instances.values():
            if instance.status in COPYABLE and backup_due(
                instance.backup_keep, scheduled[instance.id], now
            ):
                self._copies.add(daily_backup(instance, now), None)
        for instance_id, copies in scheduled.items():
            owner = instances.get(instance_id)
            keep = owner.backup_keep if owner is not None else None
            for copy in expired(keep, copies, now):
                self._copies.set_status(copy.id, CopyStatus.DELETING, "", (copy.status,))


def daily_backup(instance: Instance, now: float) -> DiskCopy:
    """The row of an instance's scheduled backup, kept ``backup_keep`` days at most."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S")
    name = f"{instance.name}-daily-{stamp}"
    return DiskCopy.new(instance, CopyKind.BACKUP, name, now, now + instance.backup_keep * DAY)
