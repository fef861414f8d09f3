"""The Access Keys page, as SPEC.md describes it: list, create (secret shown once), revoke and
delete, each after a confirmation."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.storage.access_keys import AccessKeys
from nexq.storage.console.links import Connect
from nexq.storage.service import ObjectStorage
from nexq.web.console.web import Flash, Pages

Text = Annotated[str, Form()]
Texts = Annotated[list[str], Form()]
LIST = "/storage/access-keys"


def router(
    storage: ObjectStorage, access_keys: AccessKeys, pages: Pages, connect: Connect
) -> APIRouter:
    """/storage/access-keys and its forms."""
    web = APIRouter(prefix=LIST)
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def new_key_page(
        request: Request,
        caller: Principal,
        label: str = "",
        access: str = "all",
        chosen: list[str] | None = None,
        error: str = "",
    ) -> Response:
        return pages.render(
            request,
            "storage/access_key_new.html",
            caller,
            400 if error else 200,
            buckets=[b.name for b in storage.list_buckets(caller)],
            label=label,
            access=access,
            chosen=chosen or [],
            error=error,
        )

    @web.get("")
    def list_keys(request: Request, caller: SignedIn) -> Response:
        keys = access_keys.list(caller.account.id)
        return pages.render(request, "storage/access_keys.html", caller, keys=keys)

    @web.get("/new")
    def new_key(request: Request, caller: SignedIn) -> Response:
        return new_key_page(request, caller)

    @web.post("")
    def create_key(
        request: Request,
        caller: SignedIn,
        label: Text = "",
        bucket_access: Text = "all",
        buckets: Texts = [],  # noqa: B006 - FastAPI copies defaults; none chosen is a real case
    ) -> Response:
        names = buckets if bucket_access == "specific" else None
        try:
            view, secret = access_keys.create(caller.account.id, label, names)
        except DomainError as exc:
            return new_key_page(request, caller, label, bucket_access, buckets, exc.message)
        # The secret is in this answer only: rendered here, never stored, never redirected to.
        return pages.render(
            request,
            "storage/access_key_created.html",
            caller,
            view=view,
            secret=secret,
            connect=connect,
        )

    @web.post("/share-links/revoke")
    def revoke_share_links(request: Request, caller: SignedIn, confirm: Text = "") -> Response:
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title="Revoke every share link?",
                message="Every share link made so far (by the console, the API or dcp) stops "
                "working at once; links you make afterwards work.",
                action=f"{LIST}/share-links/revoke",
                button="Revoke share links",
                back=LIST,
                style="warning",
            )
        access_keys.revoke_share_links(caller.account.id)
        done = Flash("success", "Every share link made so far is revoked: it answers 403.")
        return pages.redirect(request, LIST, done)

    @web.post("/{key_id}/revoke")
    def revoke_key(request: Request, key_id: str, caller: SignedIn, confirm: Text = "") -> Response:
        label = access_keys.get(caller.account.id, key_id).key.label
        if confirm != "yes":  # the page without script asks here; the dialog asked already
            return pages.confirm(
                request,
                caller,
                title=f"Revoke the access key {label}?",
                message=f"Requests signed with {key_id} are refused at once (403). The key "
                "stays listed as Revoked until you delete it.",
                action=f"{LIST}/{key_id}/revoke",
                button="Revoke",
                back=LIST,
                style="warning",
            )
        access_keys.revoke(caller.account.id, key_id)
        revoked = Flash(
            "success", f"Access key {label} ({key_id}) revoked: requests signed with it get 403."
        )
        return pages.redirect(request, LIST, revoked)

    @web.post("/{key_id}/delete")
    def delete_key(request: Request, key_id: str, caller: SignedIn, confirm: Text = "") -> Response:
        view = access_keys.get(caller.account.id, key_id)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Delete the access key {view.key.label}?",
                message=f"{key_id} is removed permanently; tools that use it stop working.",
                action=f"{LIST}/{key_id}/delete",
                button="Delete",
                back=LIST,
            )
        access_keys.delete(caller.account.id, key_id)
        gone = Flash("success", f"Access key {view.key.label} ({key_id}) deleted.")
        return pages.redirect(request, LIST, gone)

    return web
