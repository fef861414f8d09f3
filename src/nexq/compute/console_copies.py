"""Compute's console pages of snapshots and backups: their lists, and the forms an instance's
page carries (take one, revert to a snapshot, daily backups). Launching from either is the
Launch Instance page with the copy chosen (see console_instances.py).

Lists with a copy being made reload themselves (a ``Refresh`` header), as instances do.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.compute.console_instances import COPY_MOVING, instance_url, refreshing
from nexq.compute.copies import Copies
from nexq.compute.disk_copy import CopyKind
from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.web.console.web import Flash, Pages, status_of

Text = Annotated[str, Form()]
WHERE = {
    CopyKind.SNAPSHOT: "kept on this host; revert a stopped instance to one, or launch a new "
    "instance from it",
    CopyKind.BACKUP: "compressed copies kept in Object Storage; taken on demand or daily, "
    "they outlive their instance. Restore one by launching a new instance from it",
}


def list_url(kind: CopyKind) -> str:
    return f"/compute/{kind}s"


def router(copies: Copies, pages: Pages) -> APIRouter:
    """The pages of snapshots and backups, and the instance-side forms."""
    web = APIRouter(prefix="/compute")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def listed(request: Request, caller: Principal, kind: CopyKind) -> Response:
        found = copies.listed(caller, kind)
        moving = any(c.status in COPY_MOVING for c in found)
        page = pages.render(
            request,
            "compute/copies.html",
            caller,
            kind=str(kind),
            where=WHERE[kind],
            copies=found,
            list_url=list_url(kind),
            instance_url=instance_url,
            moving=moving,
        )
        return refreshing(page, moving)

    def take(
        request: Request, caller: Principal, kind: CopyKind, instance: str, name: str
    ) -> Response:
        try:
            made = copies.take(caller, kind, instance, name.strip() or None)
        except DomainError as exc:
            if status_of(exc) == 404:
                raise
            return pages.redirect(request, instance_url(instance), Flash("error", exc.message))
        done = Flash("success", f"The {kind} {made.name} is being taken; the guest runs on.")
        return pages.redirect(request, instance_url(instance), done)

    def delete(
        request: Request, caller: Principal, kind: CopyKind, name: str, confirm: str
    ) -> Response:
        found = copies.get(caller, kind, name)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Delete the {kind} {found.name}?",
                message=f"The {kind} {found.name} of {found.instance_name} is deleted "
                "permanently; no instance can be made from it afterwards.",
                action=f"{list_url(kind)}/{found.name}/delete",
                button=f"Delete {kind}",
                back=list_url(kind),
            )
        try:
            copies.delete(caller, kind, found.id)
        except DomainError as exc:
            if status_of(exc) == 404:
                raise
            return pages.redirect(request, list_url(kind), Flash("error", exc.message))
        done = Flash("success", f"The {kind} {found.name} is being deleted.")
        return pages.redirect(request, list_url(kind), done)

    @web.get("/snapshots")
    def snapshots(request: Request, caller: SignedIn) -> Response:
        return listed(request, caller, CopyKind.SNAPSHOT)

    @web.get("/backups")
    def backups(request: Request, caller: SignedIn) -> Response:
        return listed(request, caller, CopyKind.BACKUP)

    # {name}: the instance's, as on every page under /compute/instances.
    @web.post("/instances/{name}/snapshots")
    def take_snapshot(
        request: Request,
        name: str,
        caller: SignedIn,
        copy_name: Annotated[str, Form(alias="name")] = "",
    ) -> Response:
        return take(request, caller, CopyKind.SNAPSHOT, name, copy_name)

    @web.post("/instances/{name}/backups")
    def take_backup(
        request: Request,
        name: str,
        caller: SignedIn,
        copy_name: Annotated[str, Form(alias="name")] = "",
    ) -> Response:
        return take(request, caller, CopyKind.BACKUP, name, copy_name)

    @web.post("/instances/{name}/backup-schedule")
    def schedule(request: Request, name: str, caller: SignedIn, keep: Text = "0") -> Response:
        try:
            kept = copies.schedule(caller, name, int(keep.strip() or "0")).backup_keep
        except ValueError:
            flash = Flash("error", f"keep: a whole number of daily backups; got {keep!r}.")
            return pages.redirect(request, instance_url(name), flash)
        except DomainError as exc:
            if status_of(exc) == 404:
                raise
            return pages.redirect(request, instance_url(name), Flash("error", exc.message))
        text = f"Daily backups on: the newest {kept} are kept." if kept else "Daily backups off."
        return pages.redirect(request, instance_url(name), Flash("success", text))

    @web.post("/snapshots/{name}/delete")
    def delete_snapshot(
        request: Request, name: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        return delete(request, caller, CopyKind.SNAPSHOT, name, confirm)

    @web.post("/backups/{name}/delete")
    def delete_backup(
        request: Request, name: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        return delete(request, caller, CopyKind.BACKUP, name, confirm)

    @web.post("/snapshots/{name}/revert")
    def revert(request: Request, name: str, caller: SignedIn, confirm: Text = "") -> Response:
        found = copies.get(caller, CopyKind.SNAPSHOT, name)
        back = instance_url(found.instance_name)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Revert {found.instance_name} to {found.name}?",
                message=f"The disk of {found.instance_name} is put back to the snapshot "
                f"{found.name}; everything it wrote since is lost.",
                action=f"/compute/snapshots/{found.name}/revert",
                button="Revert",
                back=back,
            )
        try:
            copies.revert(caller, found.id)
        except DomainError as exc:
            if status_of(exc) == 404:
                raise
            return pages.redirect(request, back, Flash("error", exc.message))
        done = Flash("success", f"{found.instance_name} is being reverted to {found.name}.")
        return pages.redirect(request, back, done)

    return web
