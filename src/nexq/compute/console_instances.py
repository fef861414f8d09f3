"""Compute's console pages of instances: the list, Launch Instance, an instance's page
(connect, stop, start, reboot, its serial console) and the typed-name delete.

Pages of an instance that is changing state reload themselves (a ``Refresh`` header), so
they work without JavaScript.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.compute.copies import Copies
from nexq.compute.disk_copy import CopyKind, CopyStatus
from nexq.compute.instance import IMAGES, Instance, Status
from nexq.compute.instances import Instances
from nexq.compute.ssh_keys import SshKeys
from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.web.console.web import Flash, Pages, status_of

Text = Annotated[str, Form()]
LIST = "/compute/instances"
REFRESH_SECONDS = 2
CONSOLE_LINES = 40
# States that end by themselves in a moment: their pages reload until they have.
MOVING = (
    Status.PROVISIONING,
    Status.STARTING,
    Status.STOPPING,
    Status.REBOOTING,
    Status.DELETING,
    Status.REVERTING,
)
# Snapshots and backups being made, reverted to or deleted: their lists reload too.
COPY_MOVING = (CopyStatus.CREATING, CopyStatus.REVERTING, CopyStatus.DELETING)
ACTIONS = {
    "stop": "is stopping: the guest shuts down (forced off after 30 s).",
    "start": "is starting.",
    "reboot": "is rebooting.",
}


def instance_url(name: str, tail: str = "") -> str:
    return f"{LIST}/{name}{tail}"


def refreshing(response: Response, moving: bool) -> Response:
    if moving:
        response.headers["refresh"] = str(REFRESH_SECONDS)
    return response


def router(instances: Instances, ssh_keys: SshKeys, copies: Copies, pages: Pages) -> APIRouter:
    """Every page of instances, under /compute/instances."""
    web = APIRouter(prefix=LIST)
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def launch_page(
        request: Request,
        caller: Principal,
        form: dict[str, str] | None = None,
        error: str = "",
        status: int = 200,
    ) -> Response:
        keys = ssh_keys.all(caller)
        default = next((k.id for k in keys if k.default), "")
        form = form or {"name": "", "size": "", "image": "tiny", "ssh_key": default}
        kind, _, copy_name = form.get("source", "").partition(":")
        source = copies.get(caller, CopyKind(kind), copy_name) if copy_name else None
        return pages.render(
            request,
            "compute/launch.html",
            caller,
            status,
            keys=keys,
            sizes=list(instances.sizes.sizes.values()),
            images=[
                {"id": i.id, "title": i.title, "ready": instances.image_ready(i.id)}
                for i in IMAGES.values()
            ],
            form=form,
            source=source,
            error=error,
        )

    @web.get("")
    def list_instances(request: Request, caller: SignedIn) -> Response:
        found = instances.listed(caller)
        page = pages.render(
            request,
            "compute/instances.html",
            caller,
            instances=found,
            ssh_command=instances.ssh_command,
            instance_url=instance_url,
            moving=any(i.status in MOVING for i in found),
        )
        return refreshing(page, any(i.status in MOVING for i in found))

    @web.get("/new")
    def new_instance(
        request: Request, caller: SignedIn, snapshot: str = "", backup: str = ""
    ) -> Response:
        """Launch Instance; ?snapshot=NAME or ?backup=NAME: from that copy's disk."""
        if not (snapshot or backup):
            return launch_page(request, caller)
        kind = CopyKind.SNAPSHOT if snapshot else CopyKind.BACKUP
        copy = copies.get(caller, kind, snapshot or backup)
        keys = ssh_keys.all(caller)
        form = {
            "name": "",
            "size": next(
                (s.id for s in instances.sizes.sizes.values() if s.disk_gib >= copy.disk_gib), ""
            ),
            "image": copy.image,
            "ssh_key": next((k.id for k in keys if k.default), ""),
            "source": f"{kind}:{copy.name}",
        }
        return launch_page(request, caller, form)

    @web.post("")
    def launch(
        request: Request,
        caller: SignedIn,
        name: Text = "",
        size: Text = "",
        image: Text = "tiny",
        ssh_key: Text = "",
        source: Text = "",
    ) -> Response:
        kind, _, copy_name = source.partition(":")
        try:
            if copy_name and kind in tuple(CopyKind):
                made = copies.launch_from(
                    caller, CopyKind(kind), copy_name, name.strip(), size, ssh_key or None
                )
            else:
                made = instances.launch(caller, name.strip(), image, size, ssh_key or None)
        except DomainError as exc:
            form = {"name": name, "size": size, "image": image, "ssh_key": ssh_key}
            if copy_name and kind in tuple(CopyKind):
                form["source"] = source
            return launch_page(request, caller, form, exc.message, status_of(exc))
        done = Flash(
            "success", f"Instance {made.name} is launching with the key {made.ssh_key_name}."
        )
        return pages.redirect(request, instance_url(made.name), done)

    @web.get("/{name}")
    def show(request: Request, name: str, caller: SignedIn) -> Response:
        found = instances.get(caller, name)
        held = copies.of_instance(caller, found)
        page = pages.render(
            request,
            "compute/instance.html",
            caller,
            instance=found,
            size=instances.sizes.sizes.get(found.size),
            image=IMAGES.get(found.image),
            ssh_command=instances.ssh_command(found),
            console=instances.console(caller, name, CONSOLE_LINES),
            snapshots=[c for c in held if c.kind is CopyKind.SNAPSHOT],
            backups=[c for c in held if c.kind is CopyKind.BACKUP],
            instance_url=instance_url,
            moving=found.status in MOVING or any(c.status in COPY_MOVING for c in held),
        )
        return refreshing(
            page, found.status in MOVING or any(c.status in COPY_MOVING for c in held)
        )

    @web.get("/{name}/delete")
    def delete_page(request: Request, name: str, caller: SignedIn) -> Response:
        found = instances.get(caller, name)
        return pages.render(
            request,
            "compute/delete_instance.html",
            caller,
            instance=found,
            typed="",
            error="",
            instance_url=instance_url,
        )

    @web.post("/{name}/delete")
    def delete(request: Request, name: str, caller: SignedIn, confirm_name: Text = "") -> Response:
        found = instances.get(caller, name)
        if confirm_name.strip() != found.name:
            error = f"Type {found.name} exactly to delete it." if confirm_name else ""
            return pages.render(
                request,
                "compute/delete_instance.html",
                caller,
                400 if error else 200,
                instance=found,
                typed=confirm_name,
                error=error,
                instance_url=instance_url,
            )
        instances.delete(caller, name)
        done = Flash(
            "success",
            f"Instance {found.name} is being deleted with its disk; the name is free again once "
            "it leaves the list.",
        )
        return pages.redirect(request, LIST, done)

    def act(request: Request, caller: Principal, name: str, action: str) -> Response:
        do = {"stop": instances.stop, "start": instances.start, "reboot": instances.reboot}
        try:
            moved: Instance = do[action](caller, name)
        except DomainError as exc:
            if status_of(exc) == 404:
                raise
            return pages.redirect(request, instance_url(name), Flash("error", exc.message))
        return pages.redirect(
            request, instance_url(name), Flash("success", f"{moved.name} {ACTIONS[action]}")
        )

    @web.post("/{name}/stop")
    def stop(request: Request, name: str, caller: SignedIn) -> Response:
        return act(request, caller, name, "stop")

    @web.post("/{name}/start")
    def start(request: Request, name: str, caller: SignedIn) -> Response:
        return act(request, caller, name, "start")

    @web.post("/{name}/reboot")
    def reboot(request: Request, name: str, caller: SignedIn) -> Response:
        return act(request, caller, name, "reboot")

    return web
