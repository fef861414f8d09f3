"""REST routes of Compute's instances: /v1/compute/instances, sizes and images."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from nexq.compute.instance import IMAGES, Image, Instance, Size
from nexq.compute.instances import MAX_CONSOLE_LINES, Instances
from nexq.core.identity import Principal
from nexq.web.rest.formats import iso
from nexq.web.rest.security import Authorizer


class InstanceIn(BaseModel):
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=63,
            description="Lowercase letters, digits and hyphens; the guest's host name.",
            examples=["web-1"],
        ),
    ]
    image: str = Field("tiny", description="An image id (GET /v1/compute/images).")
    size: str = Field(description="A size id (GET /v1/compute/sizes).", examples=["nano"])
    ssh_key: str | None = Field(
        None,
        description="The id or name of one of the account's SSH keys; default: its default key.",
    )


class SizeOut(BaseModel):
    id: str
    name: str
    vcpus: int
    memory_mib: int
    disk_gib: int

    @staticmethod
    def of(size: Size) -> "SizeOut":
        return SizeOut(
            id=size.id,
            name=size.name,
            vcpus=size.vcpus,
            memory_mib=size.memory_mib,
            disk_gib=size.disk_gib,
        )


class ImageOut(BaseModel):
    id: str
    title: str
    user: str = Field(description="The user to log in as over SSH.")
    ready: bool = Field(
        description="Whether an instance of it can launch now: false until the operator "
        "builds it on the host (`nexq admin images build ID`)."
    )

    @staticmethod
    def of(image: Image, ready: bool) -> "ImageOut":
        return ImageOut(id=image.id, title=image.title, user=image.user, ready=ready)


class SshKeyRef(BaseModel):
    id: str
    name: str


class SshOut(BaseModel):
    host: str
    port: int
    user: str
    command: str = Field(description="The ready line: ssh -p PORT USER@HOST.")


class InstanceOut(BaseModel):
    id: str
    name: str
    image: str
    size: SizeOut
    status: str = Field(
        description="Pending, Provisioning, Running, Stopping, Stopped, Starting, Rebooting, "
        "Deleting or Error."
    )
    reason: str = Field(
        description="Why it is Pending or in Error, or what its launch waits for (its disk "
        "fetched from a backup); otherwise empty."
    )
    ssh_key: SshKeyRef = Field(description="The key chosen at launch.")
    ssh: SshOut | None = Field(description="How to connect; null until it is placed.")
    created_at: str

    @staticmethod
    def of(instance: Instance, instances: Instances) -> "InstanceOut":
        command = instances.ssh_command(instance)
        ssh = None
        if command is not None and instance.ssh_port is not None:
            ssh = SshOut(
                host=instances.endpoint, port=instance.ssh_port, user=instance.user, command=command
            )
        return InstanceOut(
            id=instance.id,
            name=instance.name,
            image=instance.image,
            size=SizeOut.of(
                Size(
                    instance.size,
                    _size_name(instances, instance.size),
                    instance.vcpus,
                    instance.memory_mib,
                    instance.disk_gib,
                )
            ),
            status=str(instance.status),
            reason=instance.reason,
            ssh_key=SshKeyRef(id=instance.ssh_key_id, name=instance.ssh_key_name),
            ssh=ssh,
            created_at=iso(instance.created_at),
        )


class ConsoleOut(BaseModel):
    lines: list[str] = Field(description="The serial console's last lines, oldest first.")


def _size_name(instances: Instances, size_id: str) -> str:
    found = instances.sizes.sizes.get(size_id)
    return found.name if found else size_id


def router(instances: Instances, auth: Authorizer) -> APIRouter:
    """The routes of instances."""
    api = APIRouter(prefix="/v1/compute", tags=["compute"])
    Read = Annotated[Principal, Depends(auth.require("compute:read"))]  # noqa: N806 - a type alias
    Write = Annotated[Principal, Depends(auth.require("compute:write"))]  # noqa: N806 - a type alias

    def out(instance: Instance) -> InstanceOut:
        return InstanceOut.of(instance, instances)

    @api.get("/sizes", summary="The sizes an instance can be launched with")
    def sizes(caller: Read) -> list[SizeOut]:
        return [SizeOut.of(s) for s in instances.sizes.sizes.values()]

    @api.get("/images", summary="The images an instance can boot")
    def images(caller: Read) -> list[ImageOut]:
        return [ImageOut.of(i, instances.image_ready(i.id)) for i in IMAGES.values()]

    @api.get("/instances", summary="The account's instances")
    def list_instances(caller: Read) -> list[InstanceOut]:
        """Oldest first."""
        return [out(i) for i in instances.listed(caller)]

    @api.post("/instances", status_code=201, summary="Launch an instance")
    def launch(body: InstanceIn, caller: Write) -> InstanceOut:
        """Provisioning at first, Running within seconds (Pending while the host has no
        room). 400 naming a wrong name, image, size or key; 409 for a name the account
        uses; 403 quota-exceeded past the account's instances, vCPU or memory limits."""
        return out(instances.launch(caller, body.name, body.image, body.size, body.ssh_key))

    @api.get("/instances/{name}", summary="An instance")
    def show(name: str, caller: Read) -> InstanceOut:
        return out(instances.get(caller, name))

    @api.post("/instances/{name}/stop", status_code=202, summary="Stop an instance")
    def stop(name: str, caller: Write) -> InstanceOut:
        """Stopping: the guest gets the ACPI power button and is forced off after 30 s;
        then Stopped. 409 unless Running, Starting or Rebooting."""
        return out(instances.stop(caller, name))

    @api.post("/instances/{name}/start", status_code=202, summary="Start an instance")
    def start(name: str, caller: Write) -> InstanceOut:
        """Starting, then Running, with the same disk and SSH port. 409 unless Stopped or
        Error."""
        return out(instances.start(caller, name))

    @api.post("/instances/{name}/reboot", status_code=202, summary="Reboot an instance")
    def reboot(name: str, caller: Write) -> InstanceOut:
        """The machine's reset: the guest boots again. 409 unless Running."""
        return out(instances.reboot(caller, name))

    @api.delete("/instances/{name}", status_code=202, summary="Delete an instance")
    def delete(name: str, caller: Write) -> InstanceOut:
        """Deleting at once; the machine and its disk are gone within seconds."""
        return out(instances.delete(caller, name))

    @api.get("/instances/{name}/console", summary="The serial console's last lines")
    def console(
        name: str,
        caller: Read,
        lines: Annotated[int, Query(ge=1, le=MAX_CONSOLE_LINES)] = 100,
    ) -> ConsoleOut:
        return ConsoleOut(lines=instances.console(caller, name, lines))

    return api
