"""The console kit's application: the services' pages, static files, security headers, CSRF
checks and error pages. It knows no service: the composition root hands it their routers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Mount
from starlette.types import Scope

from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.web.console.middleware import InternalErrors, SecurityHeaders
from nexq.web.console.web import (
    CsrfRejected,
    LoginRequired,
    Pages,
    json_error,
    status_of,
    wants_json,
)

# A service's translation of its own errors for the console (e.g. another account's bucket
# is "not found" rather than "access denied", so that its existence does not leak).
ErrorAdapter = Callable[[Request, DomainError], DomainError]

TITLES = {400: "Check your input", 403: "Not allowed", 404: "Not found", 409: "Conflict"}
CSRF_MESSAGE = (
    "This form has expired or came from another site, so nothing was changed. "
    "Reload the page and try again."
)


def console_app(
    pages: Pages, routers: Sequence[APIRouter], adapters: Sequence[ErrorAdapter] = ()
) -> FastAPI:
    """The console from each service's page routers; mount it with :func:`mount_console`
    beside the REST API."""
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Every route, present and future, refuses a state-changing request without the token.
        dependencies=[Depends(pages.check_csrf)],
    )
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(packages=[("nexq.web.console", "static")]), name="static")
    _install_error_pages(app, pages, adapters)
    app.add_middleware(InternalErrors, page=pages.internal_error_page)
    app.add_middleware(SecurityHeaders)
    return app


class ConsoleMount(Mount):
    """The console at ``/``, leaving everything under /v1 (and /health) to the REST API.

    A plain mount at ``/`` would also catch /v1 paths the API answers 404 or 405 to, and
    turn its problem+json answers into HTML pages.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = str(scope.get("path", ""))
        if path in ("/v1", "/health") or path.startswith("/v1/"):
            return Match.NONE, {}
        return super().matches(scope)


def mount_console(api: FastAPI, console: FastAPI) -> None:
    """Serve ``console`` on the control-plane listener, after the REST routes."""
    api.router.routes.append(ConsoleMount("/", app=console, name="console"))


def _install_error_pages(app: FastAPI, pages: Pages, adapters: Sequence[ErrorAdapter]) -> None:
    async def caller_of(request: Request) -> Principal | None:
        return await run_in_threadpool(pages.optional_principal, request)

    async def error_page(
        request: Request, caller: Principal | None, status: int, title: str, message: str
    ) -> Response:
        # Rendering reads the caller's unread notifications: off the event loop.
        return await run_in_threadpool(pages.error, request, caller, status, title, message)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if wants_json(request):
            return json_error("Your session has ended; log in again.", 401)
        query = {"reason": exc.reason}
        if request.method == "GET":
            query["next"] = request.url.path + (
                f"?{request.url.query}" if request.url.query else ""
            )
        response = pages.redirect(request, "/login?" + urlencode(query))
        if exc.reason != "login":
            pages.sign_out(request, response)
        return response

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        if wants_json(request):
            return json_error(CSRF_MESSAGE, 403)
        caller = await caller_of(request)
        return await error_page(request, caller, 403, "Request refused", CSRF_MESSAGE)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        for adapt in adapters:
            exc = adapt(request, exc)
        status = status_of(exc)
        if wants_json(request):
            return json_error(exc.message, status)
        caller = await caller_of(request)
        title = TITLES.get(status, "Something is not right")
        return await error_page(request, caller, status, title, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
            for e in exc.errors()
        )
        if wants_json(request):
            return json_error(message, 400)
        return await error_page(request, await caller_of(request), 400, TITLES[400], message)

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> Response:
        # The browser left mid-upload (Cancel, a closed tab): the body is dropped already.
        return Response(status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            title, message = "Page not found", "There is no page at this address."
        else:
            title, message = str(exc.detail), str(exc.detail)
        if wants_json(request):
            return json_error(message, exc.status_code)
        caller = await caller_of(request)
        return await error_page(request, caller, exc.status_code, title, message)
