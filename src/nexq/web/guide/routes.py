"""The guide's pages in the console: /docs (contents), /docs/search, /docs/<section>/<page>,
and the screenshots the pages show, /docs/<section>/screenshots/<file>.png.

The guide is public: a page shows to whoever asks, in the console's layout, with the account's
navigation and header only for a signed-in caller (``Pages.render`` with no caller leaves
them out). Pages are plain GET links and a GET form, so everything works without JavaScript.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from nexq.web.console.web import Pages
from nexq.web.guide.library import SCREENSHOTS, Guide


def router(guide: Guide, pages: Pages) -> APIRouter:
    """The guide's routes, under ``guide.root``."""
    web = APIRouter(prefix=guide.root)

    # Handlers are plain functions: FastAPI runs them in its thread pool, where reading the
    # caller's session (a database lookup) belongs.
    def show(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        guide.read_ahead()
        context.setdefault("current", None)
        context.setdefault("query", "")
        caller = pages.optional_principal(request)
        return pages.render(request, template, caller, status, guide=guide, **context)

    def missing(request: Request) -> HTMLResponse:
        return show(request, "guide/missing.html", 404)

    @web.get("")
    def contents(request: Request) -> HTMLResponse:
        return show(request, "guide/contents.html")

    @web.get("/search")
    def search(request: Request, q: str = "") -> HTMLResponse:
        return show(request, "guide/search.html", query=q, hits=guide.search(q))

    @web.get("/{name}")
    def section(request: Request, name: str) -> Response:
        found = guide.section(name)
        if found is None:
            return missing(request)
        return pages.redirect(request, found.url)

    @web.get("/{name}/" + SCREENSHOTS + "/{file}")
    def screenshot(request: Request, name: str, file: str) -> Response:
        found = guide.picture_bytes(name, file)
        if found is None:
            return missing(request)
        # A picture changes only with the package: a day's caching spares every page view.
        return Response(found, media_type="image/png", headers={"Cache-Control": "max-age=86400"})

    @web.get("/{name}/{slug}")
    def page(request: Request, name: str, slug: str) -> HTMLResponse:
        found = guide.page(name, slug)
        if found is None:
            return missing(request)
        previous, following = guide.neighbours(found)
        return show(
            request,
            "guide/page.html",
            current=found,
            page=found,
            previous=previous,
            following=following,
        )

    return web
