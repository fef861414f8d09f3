"""Empty bucket: start it (the bucket's name typed as the confirmation) and watch it.

The work is the background job's (nexq.storage.emptying); the page refreshes itself with a
meta refresh while it runs, so progress shows without JavaScript.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.core.identity import Principal
from nexq.storage.console.links import bucket_url
from nexq.storage.emptying import BucketEmptying
from nexq.storage.service import ObjectStorage
from nexq.web.console.web import Flash, Pages

Text = Annotated[str, Form()]
REFRESH_SECONDS = 2  # how often the page reloads while the bucket is being emptied


def router(storage: ObjectStorage, emptying: BucketEmptying, pages: Pages) -> APIRouter:
    """GET /storage/buckets/{name}/empty (progress) and POST (start)."""
    web = APIRouter(prefix="/storage/buckets/{name}/empty")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def page(
        request: Request, caller: Principal, name: str, error: str = "", status: int = 200
    ) -> Response:
        run = emptying.status(caller, name)
        return pages.render(
            request,
            "storage/bucket_empty.html",
            caller,
            status,
            name=name,
            stats=storage.bucket_stat(caller, name),
            run=run,
            refresh=REFRESH_SECONDS if run is not None and run.running else None,
            error=error,
            crumbs=[(name, bucket_url(name)), ("Empty", bucket_url(name, "/empty"))],
            bucket_url=bucket_url,
        )

    @web.get("")
    def progress(request: Request, name: str, caller: SignedIn) -> Response:
        return page(request, caller, name)

    @web.post("")
    def start(request: Request, name: str, caller: SignedIn, confirm_name: Text = "") -> Response:
        if confirm_name.strip() != name:
            storage.bucket(caller, name)  # another's bucket is absent, whatever was typed
            said = "Type the bucket's name exactly to confirm." if confirm_name else ""
            return page(request, caller, name, said or "Type the bucket's name to confirm.", 400)
        emptying.start(caller, name)
        begun = Flash("info", f"Emptying {name}: this page shows the progress.")
        return pages.redirect(request, bucket_url(name, "/empty"), begun)

    return web
