"""Client methods of Compute's snapshots and backups (``/v1/compute/snapshots``,
``/v1/compute/backups``); ``NexqClient`` has them. ``kind`` is "snapshot" or "backup".

The answers are the REST shapes as they are: dcp prints them unchanged with ``-o json``.
"""

from __future__ import annotations

from typing import TypedDict, cast

from nexq.client.instances import Instance
from nexq.client.paths import Plumbing, segment


class DiskCopy(TypedDict):
    id: str
    name: str
    instance: str
    instance_id: str
    image: str
    disk_gib: int
    status: str  # Creating, Available, Reverting, Deleting, Error
    reason: str
    size_bytes: int
    scheduled: bool
    expires_at: str | None
    created_at: str


class BackupSchedule(TypedDict):
    instance: str
    keep: int


class DiskCopiesClient(Plumbing):
    """What ``NexqClient`` adds for snapshots and backups."""

    def list_copies(self, kind: str) -> list[DiskCopy]:
        return cast(list[DiskCopy], self._request("GET", f"/compute/{kind}s"))

    def take_copy(self, kind: str, instance: str, name: str | None = None) -> DiskCopy:
        path = f"/compute/instances/{segment(instance)}/{kind}s"
        body = {"name": name} if name is not None else {}
        return cast(DiskCopy, self._request("POST", path, body=body))

    def get_copy(self, kind: str, name: str) -> DiskCopy:
        return cast(DiskCopy, self._request("GET", f"/compute/{kind}s/{segment(name)}"))

    def delete_copy(self, kind: str, name: str) -> DiskCopy:
        return cast(DiskCopy, self._request("DELETE", f"/compute/{kind}s/{segment(name)}"))

    def revert_to_snapshot(self, name: str) -> DiskCopy:
        return cast(DiskCopy, self._request("POST", f"/compute/snapshots/{segment(name)}/revert"))

    def launch_from_copy(
        self, kind: str, copy: str, name: str, size: str, ssh_key: str | None = None
    ) -> Instance:
        body: dict[str, str] = {"name": name, "size": size}
        if ssh_key is not None:
            body["ssh_key"] = ssh_key
        path = f"/compute/{kind}s/{segment(copy)}/launch"
        return cast(Instance, self._request("POST", path, body=body))

    def backup_schedule(self, instance: str) -> BackupSchedule:
        path = f"/compute/instances/{segment(instance)}/backup-schedule"
        return cast(BackupSchedule, self._request("GET", path))

    def set_backup_schedule(self, instance: str, keep: int) -> BackupSchedule:
        path = f"/compute/instances/{segment(instance)}/backup-schedule"
        return cast(BackupSchedule, self._request("PUT", path, body={"keep": keep}))
