"""The Buckets page: list, create (S3's naming rules explained inline), delete when empty."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.storage.console.links import Connect, bucket_url, stats_of
from nexq.storage.errors import BucketNotEmpty
from nexq.storage.service import ObjectStorage
from nexq.web.console.web import Flash, Pages

Text = Annotated[str, Form()]


def router(storage: ObjectStorage, pages: Pages, connect: Connect) -> APIRouter:
    """GET/POST /storage/buckets and the delete form."""
    web = APIRouter(prefix="/storage")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def buckets_page(
        request: Request,
        caller: Principal,
        name: str = "",
        error: str = "",
        status: int = 200,
        object_lock: bool = False,
    ) -> Response:
        return pages.render(
            request,
            "storage/buckets.html",
            caller,
            status,
            buckets=storage.bucket_stats(caller),
            name=name,
            error=error,
            object_lock=object_lock,
            connect=connect,
            bucket_url=bucket_url,
        )

    @web.get("")
    def storage_home(request: Request) -> Response:
        return pages.redirect(request, "/storage/buckets")

    @web.get("/buckets")
    def list_buckets(request: Request, caller: SignedIn) -> Response:
        return buckets_page(request, caller)

    @web.post("/buckets")
    def create_bucket(
        request: Request, caller: SignedIn, name: Text = "", object_lock: Text = ""
    ) -> Response:
        name = name.strip()
        locked = bool(object_lock)  # an unchecked box is not sent at all
        try:
            storage.create_bucket(caller, name, object_lock=locked)
        except DomainError as exc:
            return buckets_page(request, caller, name, exc.message, 400, locked)
        with_lock = " with object lock" if locked else ""
        done = Flash(
            "success", f"Bucket {name} created{with_lock}. Upload files or connect an S3 tool."
        )
        return pages.redirect(request, bucket_url(name), done)

    @web.post("/buckets/{name}/delete")
    def delete_bucket(
        request: Request, name: str, caller: SignedIn, confirm: Text = ""
    ) -> Response:
        stats_of(storage, caller, name)
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Delete the bucket {name}?",
                message="The bucket is deleted permanently and its name becomes free for anyone.",
                action=bucket_url(name, "/delete"),
                button="Delete bucket",
                back="/storage/buckets",
            )
        try:
            storage.delete_bucket(caller, name)
        except BucketNotEmpty:
            refused = Flash(
                "error",
                f"The bucket {name} is not empty, so it was not deleted. Empty it first "
                "(its Settings, Empty bucket), then delete it.",
            )
            return pages.redirect(request, "/storage/buckets", refused)
        deleted = Flash("success", f"Bucket {name} deleted.")
        return pages.redirect(request, "/storage/buckets", deleted)

    return web
