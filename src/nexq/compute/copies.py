"""Use cases of an account's snapshots and backups: take one (checked against the tier's
limits), list, delete, revert an instance to a snapshot, set an instance's daily backups,
and launch a new instance from either.

As with instances, the use cases write what the owner asked for (Creating, Reverting,
Deleting); the copier on the host does the work (see copier.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from nexq.compute.copier import COPYABLE
from nexq.compute.disk_copy import (
    CopyKind,
    CopyStatus,
    DiskCopy,
    check_copy_name,
    check_keep,
)
from nexq.compute.errors import CopyBusy, NoSuchCopy, WrongState
from nexq.compute.instance import Instance, Status
from nexq.compute.instances import Instances
from nexq.compute.sql_disk_copies import SqlDiskCopies
from nexq.compute.sql_instances import SqlInstances
from nexq.core.errors import Invalid
from nexq.core.identity import Principal
from nexq.core.quotas import NoQuotas, Quotas

GIB = 1024**3


class Copies:
    """The snapshots and backups of each account."""

    def __init__(
        self,
        store: SqlDiskCopies,
        instance_store: SqlInstances,
        instances: Instances,
        quotas: Quotas | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._instance_store = instance_store
        self._instances = instances
        self._quotas: Quotas = quotas or NoQuotas()
        self._clock = clock

    def take(
        self, caller: Principal, kind: CopyKind, instance_name: str, name: str | None = None
    ) -> DiskCopy:
        """A new snapshot or backup of the instance's disk, Creating until it is kept."""
        instance = self._instances.get(caller, instance_name)
        now = self._clock()
        if name is None:
            name = f"{instance.name}-{datetime.fromtimestamp(now, UTC):%Y%m%d-%H%M%S}"
        check_copy_name(kind, name)
        if instance.status not in COPYABLE:
            raise WrongState(
                f"Instance {instance.name!r} is {instance.status}; a {kind} can be taken only "
                "when it is Running or Stopped."
            )
        copy = DiskCopy.new(instance, kind, name, now)
        self._store.add(copy, self._quotas.limit(instance.account_id, kind.limit))
        return copy

    def listed(self, caller: Principal, kind: CopyKind) -> list[DiskCopy]:
        return self._store.of_account(caller.account.id, kind)

    def of_instance(self, caller: Principal, instance: Instance) -> list[DiskCopy]:
        """The snapshots and backups of one of the caller's instances, oldest first."""
        return [
            c for c in self._store.of_instance(instance.id) if c.account_id == caller.account.id
        ]

    def get(self, caller: Principal, kind: CopyKind, name: str) -> DiskCopy:
        """By name or id."""
        found = self._store.named(caller.account.id, kind, name)
        if found is None:
            raise NoSuchCopy(f"The account has no {kind} named {name!r}.")
        return found

    def delete(self, caller: Principal, kind: CopyKind, name: str) -> DiskCopy:
        copy = self.get(caller, kind, name)
        allowed = (CopyStatus.AVAILABLE, CopyStatus.ERROR)
        if not self._store.set_status(copy.id, CopyStatus.DELETING, "", allowed):
            raise CopyBusy(
                f"The {kind} {copy.name!r} is {self.get(caller, kind, name).status}; it can be "
                "deleted once it is Available (or in Error)."
            )
        return self.get(caller, kind, copy.id)

    def revert(self, caller: Principal, name: str) -> DiskCopy:
        """Put the snapshot's instance's disk back to the snapshot (the instance Stopped)."""
        copy = self.get(caller, CopyKind.SNAPSHOT, name)
        instance = self._instance_store.get(copy.instance_id)
        if instance is None:
            raise WrongState(
                f"Instance {copy.instance_name!r} of snapshot {copy.name!r} was deleted; "
                "launch a new instance from the snapshot instead."
            )
        if copy.status != CopyStatus.AVAILABLE:
            raise CopyBusy(f"The snapshot {copy.name!r} is {copy.status}, not Available.")
        if not self._instance_store.set_status(
            instance.id, Status.REVERTING, f"Reverting to snapshot {copy.name}.", (Status.STOPPED,)
        ):
            raise WrongState(
                f"Instance {instance.name!r} is {self._status(instance)}; stop it before "
                "reverting it to a snapshot."
            )
        if not self._store.set_status(
            copy.id, CopyStatus.REVERTING, "", (CopyStatus.AVAILABLE,)
        ):  # deleted meanwhile: the instance is left as it was
            self._instance_store.set_status(instance.id, Status.STOPPED, "", (Status.REVERTING,))
            raise CopyBusy(f"The snapshot {copy.name!r} is no longer Available.")
        return self.get(caller, CopyKind.SNAPSHOT, copy.id)

    def schedule(self, caller: Principal, instance_name: str, keep: int) -> Instance:
        """Daily backups of the instance, the newest ``keep`` kept (0: none)."""
        instance = self._instances.get(caller, instance_name)
        self._instance_store.set_backup_keep(instance.id, check_keep(keep))
        return self._instances.get(caller, instance_name)

    def launch_from(
        self,
        caller: Principal,
        kind: CopyKind,
        copy_name: str,
        name: str,
        size: str,
        ssh_key: str | None = None,
    ) -> Instance:
        """A new instance whose disk is the snapshot's or backup's (its image, a size with
        at least the copied disk's room)."""
        copy = self.get(caller, kind, copy_name)
        if copy.status != CopyStatus.AVAILABLE:
            raise CopyBusy(f"The {kind} {copy.name!r} is {copy.status}, not Available.")
        chosen = self._instances.sizes.get(size)
        if chosen.disk_gib < copy.disk_gib:
            raise Invalid(
                f"size: {chosen.id} has a {chosen.disk_gib} GiB disk; the {kind} {copy.name!r} "
                f"is of a {copy.disk_gib} GiB disk. Choose a size with at least "
                f"{copy.disk_gib} GiB."
            )
        return self._instances.launch(caller, name, copy.image, size, ssh_key, source=copy.id)

    def count(self, kind: CopyKind) -> Callable[[str], int]:
        """The account's copies of ``kind`` (for its limit)."""
        return lambda account_id: len(self._store.of_account(account_id, kind))

    def _status(self, instance: Instance) -> str:
        now = self._instance_store.get(instance.id)
        return str(now.status) if now is not None else "deleted"
