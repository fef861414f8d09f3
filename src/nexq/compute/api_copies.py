"""REST routes of snapshots and backups: /v1/compute/snapshots, /v1/compute/backups, and
the instance-side ways to take one, to schedule backups and to launch from either."""

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from nexq.compute.api_instances import InstanceOut
from nexq.compute.copies import Copies
from nexq.compute.disk_copy import MAX_KEEP, CopyKind, DiskCopy
from nexq.compute.instances import Instances
from nexq.core.identity import Principal
from nexq.web.rest.formats import iso
from nexq.web.rest.security import Authorizer


class CopyIn(BaseModel):
    name: str | None = Field(
        None,
        max_length=63,
        description="Lowercase letters, digits, '.', '-' and '_'; default: the instance's "
        "name and the time (web-1-20261205-101500).",
        examples=["before-upgrade"],
    )


class LaunchFromIn(BaseModel):
    name: str = Field(min_length=1, max_length=63, examples=["web-2"])
    size: str = Field(
        description="A size id; its disk must be at least the copied disk's.", examples=["nano"]
    )
    ssh_key: str | None = Field(None, description="Default: the account's default key.")


class ScheduleIn(BaseModel):
    keep: int = Field(
        description=f"Daily backups kept, newest first, 0 to {MAX_KEEP}; 0 turns daily "
        "backups off.",
        examples=[7],
    )


class ScheduleOut(BaseModel):
    instance: str
    keep: int = Field(description="Daily backups kept; 0: no daily backups.")


class CopyOut(BaseModel):
    id: str
    name: str
    instance: str = Field(description="The instance's name when the copy was taken.")
    instance_id: str
    image: str
    disk_gib: int = Field(description="The copied disk's size; a new instance needs as much.")
    status: str = Field(description="Creating, Available, Reverting, Deleting or Error.")
    reason: str = Field(description="Why it is in Error; otherwise empty.")
    size_bytes: int = Field(description="The compressed copy's size, once Available.")
    scheduled: bool = Field(description="A daily backup (the instance's schedule).")
    expires_at: str | None = Field(description="When a daily backup is deleted.")
    created_at: str

    @staticmethod
    def of(copy: DiskCopy) -> "CopyOut":
        return CopyOut(
            id=copy.id,
            name=copy.name,
            instance=copy.instance_name,
            instance_id=copy.instance_id,
            image=copy.image,
            disk_gib=copy.disk_gib,
            status=str(copy.status),
            reason=copy.reason,
            size_bytes=copy.size_bytes,
            scheduled=copy.scheduled,
            expires_at=iso(copy.expires_at) if copy.expires_at is not None else None,
            created_at=iso(copy.created_at),
        )


def router(copies: Copies, instances: Instances, auth: Authorizer) -> APIRouter:
    """The routes of snapshots and backups."""
    api = APIRouter(prefix="/v1/compute", tags=["compute"])
    Read = Annotated[Principal, Depends(auth.require("compute:read"))]  # noqa: N806 - a type alias
    Write = Annotated[Principal, Depends(auth.require("compute:write"))]  # noqa: N806 - a type alias

    def kind_routes(kind: CopyKind) -> None:
        """The same five routes for snapshots and for backups."""
        plural = f"{kind}s"

        @api.get(f"/{plural}", summary=f"The account's {plural}")
        def listed(caller: Read) -> list[CopyOut]:
            """Oldest first."""
            return [CopyOut.of(c) for c in copies.listed(caller, kind)]

        @api.post(f"/instances/{{instance}}/{plural}", status_code=202, summary=f"Take a {kind}")
        def take(instance: str, body: CopyIn, caller: Write) -> CopyOut:
            """Creating, then Available: the disk as it was at this moment (the guest paused
            for a few milliseconds). 409 unless the instance is Running or Stopped; 403
            quota-exceeded past the account's limit."""
            return CopyOut.of(copies.take(caller, kind, instance, body.name))

        @api.get(f"/{plural}/{{name}}", summary=f"A {kind}")
        def show(name: str, caller: Read) -> CopyOut:
            """By name or id."""
            return CopyOut.of(copies.get(caller, kind, name))

        @api.delete(f"/{plural}/{{name}}", status_code=202, summary=f"Delete a {kind}")
        def delete(name: str, caller: Write) -> CopyOut:
            """Deleting, then gone. 409 while it is being taken or reverted to."""
            return CopyOut.of(copies.delete(caller, kind, name))

        @api.post(
            f"/{plural}/{{name}}/launch",
            status_code=201,
            summary=f"Launch a new instance from a {kind}",
        )
        def launch(name: str, body: LaunchFromIn, caller: Write) -> InstanceOut:
            """A new instance with a copy of this disk and its image."""
            launched = copies.launch_from(caller, kind, name, body.name, body.size, body.ssh_key)
            return InstanceOut.of(launched, instances)

    for kind in CopyKind:
        kind_routes(kind)

    @api.post(
        "/snapshots/{name}/revert", status_code=202, summary="Revert an instance to a snapshot"
    )
    def revert(name: str, caller: Write) -> CopyOut:
        """The instance (Stopped) is Reverting, then Stopped with the snapshot's disk; what
        it wrote since is lost. 409 unless the instance is Stopped and the snapshot
        Available."""
        return CopyOut.of(copies.revert(caller, name))

    @api.put("/instances/{name}/backup-schedule", summary="Set an instance's daily backups")
    def schedule(name: str, body: ScheduleIn, caller: Write) -> ScheduleOut:
        """A backup each day, the newest ``keep`` kept; a daily backup outlives its
        instance for ``keep`` days."""
        instance = copies.schedule(caller, name, body.keep)
        return ScheduleOut(instance=instance.name, keep=instance.backup_keep)

    @api.get("/instances/{name}/backup-schedule", summary="An instance's daily backups")
    def show_schedule(name: str, caller: Read) -> ScheduleOut:
        instance = instances.get(caller, name)
        return ScheduleOut(instance=instance.name, keep=instance.backup_keep)

    return api
