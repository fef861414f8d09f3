"""Compute's console pages: Compute → SSH Keys (add, rename, set the default, delete).

A pasted private key is refused with a warning, and the form comes back empty: the page
never shows it again, and nothing keeps it.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.compute.public_keys import PRIVATE_KEY_WARNING
from nexq.compute.ssh_keys import SshKeys
from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.web.console.web import Flash, Pages, status_of

Text = Annotated[str, Form()]
LIST = "/compute/ssh-keys"


def key_url(key_id: str, tail: str = "") -> str:
    return f"{LIST}/{key_id}{tail}"


def router(ssh_keys: SshKeys, pages: Pages) -> APIRouter:
    """Every Compute page, under /compute."""
    web = APIRouter(prefix=LIST)
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def list_page(
        request: Request,
        caller: Principal,
        form: dict[str, str] | None = None,
        error: str = "",
        status: int = 200,
    ) -> Response:
        return pages.render(
            request,
            "compute/ssh_keys.html",
            caller,
            status,
            keys=ssh_keys.all(caller),
            form=form or {"name": "", "public_key": ""},
            error=error,
            key_url=key_url,
        )

    def key_page(
        request: Request,
        caller: Principal,
        key_id: str,
        name: str | None = None,
        error: str = "",
        status: int = 200,
    ) -> Response:
        key = ssh_keys.get(caller, key_id)
        return pages.render(
            request,
            "compute/ssh_key.html",
            caller,
            status,
            key=key,
            name=key.name if name is None else name,
            error=error,
            key_url=key_url,
        )

    @web.get("")
    def list_keys(request: Request, caller: SignedIn) -> Response:
        return list_page(request, caller)

    @web.post("")
    def add_key(
        request: Request, caller: SignedIn, name: Text = "", public_key: Text = ""
    ) -> Response:
        try:
            made = ssh_keys.add(caller, name, public_key)
        except DomainError as exc:
            # A refused private key is not written back into the page.
            kept = "" if exc.message == PRIVATE_KEY_WARNING else public_key
            form = {"name": name, "public_key": kept}
            return list_page(request, caller, form, exc.message, status_of(exc))
        default = " It is your default key." if made.default else ""
        done = Flash("success", f"SSH key {made.name} added ({made.fingerprint}).{default}")
        return pages.redirect(request, LIST, done)

    @web.get("/{ssh_key_id}")
    def show_key(request: Request, ssh_key_id: str, caller: SignedIn) -> Response:
        return key_page(request, caller, ssh_key_id)

    @web.post("/{ssh_key_id}/rename")
    def rename_key(
        request: Request, ssh_key_id: str, caller: SignedIn, name: Text = ""
    ) -> Response:
        try:
            renamed = ssh_keys.rename(caller, ssh_key_id, name)
        except DomainError as exc:
            if status_of(exc) == 404:
                raise
            return key_page(request, caller, ssh_key_id, name, exc.message, status_of(exc))
        return pages.redirect(request, LIST, Flash("success", f"SSH key renamed {renamed.name}."))

    @web.post("/{ssh_key_id}/default")
    def set_default(request: Request, ssh_key_id: str, caller: SignedIn) -> Response:
        key = ssh_keys.set_default(caller, ssh_key_id)
        done = Flash("success", f"{key.name} is now your default SSH key.")
        return pages.redirect(request, LIST, done)

    @web.post("/{ssh_key_id}/delete")
    def delete_key(
        request: Request, ssh_key_id: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        key = ssh_keys.get(caller, ssh_key_id)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Delete the SSH key {key.name}?",
                message=_consequence(key.name, key.default),
                action=key_url(key.id, "/delete"),
                button="Delete key",
                back=LIST,
            )
        gone = ssh_keys.delete(caller, ssh_key_id)
        text = f"SSH key {gone.key.name} deleted."
        if gone.new_default is not None:
            text += f" {gone.new_default.name} is now your default key (the oldest remaining)."
        elif gone.key.default:
            text += " You have no SSH key left: add one."
        return pages.redirect(request, LIST, Flash("success", text))

    return web


def _consequence(name: str, default: bool) -> str:
    what = f"{name} is removed from your account permanently."
    if default:
        what += " It is your default key: the oldest remaining key becomes the default."
    return what
