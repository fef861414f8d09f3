"""Point-in-time copies of an instance's disk: snapshots (kept on the host) and backups
(kept in Object Storage), and the rules of their names, schedule and retention.

Both are taken the same way (the machine paused for the moment a qcow2 internal snapshot
takes, then exported to a compressed qcow2 while the guest runs on), both outlive their
instance, and either can become the disk of a new instance. They differ in where the copy
lives, what it costs, and that only a snapshot can be reverted to in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from nexq.compute.instance import Instance
from nexq.core.errors import Invalid
from nexq.core.ids import random_string

SNAPSHOTS_LIMIT = "snapshots"
BACKUPS_LIMIT = "backups"
DAY = 86400.0
MAX_KEEP = 90  # daily backups kept at most (three months)
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class CopyKind(StrEnum):
    SNAPSHOT = "snapshot"
    BACKUP = "backup"

    @property
    def prefix(self) -> str:
        return "snap-" if self is CopyKind.SNAPSHOT else "bak-"

    @property
    def limit(self) -> str:
        return SNAPSHOTS_LIMIT if self is CopyKind.SNAPSHOT else BACKUPS_LIMIT


class CopyStatus(StrEnum):
    CREATING = "Creating"
    AVAILABLE = "Available"
    REVERTING = "Reverting"  # its instance's disk is being put back to it
    DELETING = "Deleting"
    ERROR = "Error"  # the reason says what failed


@dataclass(frozen=True, slots=True)
class DiskCopy:
    """A snapshot or a backup of one instance's disk."""

    id: str
    account_id: str
    kind: CopyKind
    name: str
    instance_id: str
    instance_name: str  # as it was: the copy outlives its instance
    image: str
    disk_gib: int
    status: CopyStatus
    reason: str
    size_bytes: int  # the compressed copy's size, once Available
    scheduled: bool  # a daily backup (the instance's schedule), not one asked for
    expires_at: float | None  # a scheduled backup is deleted then
    created_at: float
    updated_at: float

    @staticmethod
    def new(
        instance: Instance, kind: CopyKind, name: str, now: float, expires_at: float | None = None
    ) -> DiskCopy:
        """A copy of ``instance``'s disk to be taken now (Creating); one that expires is a
        scheduled backup."""
        return DiskCopy(
            id=kind.prefix + random_string(12).lower(),
            account_id=instance.account_id,
            kind=kind,
            name=name,
            instance_id=instance.id,
            instance_name=instance.name,
            image=instance.image,
            disk_gib=instance.disk_gib,
            status=CopyStatus.CREATING,
            reason="",
            size_bytes=0,
            scheduled=expires_at is not None,
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )


def check_copy_name(kind: CopyKind, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise Invalid(
            f"name: a {kind} name is 1 to 63 lowercase letters, digits, dots, hyphens and "
            f"underscores, starting with a letter or digit (e.g. before-upgrade); got {name!r}."
        )
    return name


def check_keep(keep: int) -> int:
    if not 0 <= keep <= MAX_KEEP:
        raise Invalid(
            f"keep: the number of daily backups kept, 0 (no daily backups) to {MAX_KEEP}; "
            f"got {keep}."
        )
    return keep


def backup_due(keep: int, scheduled: list[DiskCopy], now: float) -> bool:
    """Whether an instance keeping ``keep`` daily backups needs one now: none of its
    scheduled backups (``scheduled``) was started within the last day. One that failed
    counts: the next try is the next day's, not a new backup every pass."""
    if keep <= 0:
        return False
    newest = max((c.created_at for c in scheduled), default=None)
    return newest is None or now - newest >= DAY


def expired(keep: int | None, scheduled: list[DiskCopy], now: float) -> list[DiskCopy]:
    """The scheduled backups of one instance to delete. While the instance exists
    (``keep`` given): those beyond its newest ``keep`` available ones, and failed ones once
    a newer one is available. Once it is gone (``keep`` None): each when it expires, which
    is ``keep`` days after it was taken."""
    if keep is None:
        return [
            c
            for c in scheduled
            if c.expires_at is not None
            and c.expires_at <= now
            and c.status in (CopyStatus.AVAILABLE, CopyStatus.ERROR)
        ]
    available = sorted(
        (c for c in scheduled if c.status == CopyStatus.AVAILABLE),
        key=lambda c: c.created_at,
        reverse=True,
    )
    newest = available[0].created_at if available else None
    failed = [
        c
        for c in scheduled
        if c.status == CopyStatus.ERROR and newest is not None and c.created_at < newest
    ]
    return available[keep:] + failed
