"""The console, assembled: each service's pages, static files, security headers, error pages."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Mount
from starlette.types import Scope

from nexq.accounts import console as account_console
from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.limits import AccountLimits, Limits
from nexq.accounts.service import Accounts
from nexq.billing import console as billing_console
from nexq.billing.budgets import Budgets
from nexq.billing.payment_methods import PaymentMethods
from nexq.billing.service import Billing
from nexq.console import auth
from nexq.console.middleware import InternalErrors, SecurityHeaders
from nexq.console.web import (
    CsrfRejected,
    LoginRequired,
    Pages,
    environment,
    json_error,
    status_of,
    wants_json,
)
from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.storage import console as storage_console
from nexq.storage.access_keys import AccessKeys
from nexq.storage.errors import AccessDenied, NoSuchBucket
from nexq.storage.multipart import Multipart
from nexq.storage.service import ObjectStorage
from nexq.storage.usage import Usage

TITLES = {400: "Check your input", 403: "Not allowed", 404: "Not found", 409: "Conflict"}
CSRF_MESSAGE = (
    "This form has expired or came from another site, so nothing was changed. "
    "Reload the page and try again."
)


def console_app(
    accounts: Accounts,
    api_keys: ApiKeys,
    objects: ObjectStorage,
    multipart: Multipart,
    access_keys: AccessKeys,
    usage: Usage,
    s3_endpoint: str,
    region: str,
    limits: Limits,
    account_limits: AccountLimits,
    billing: Billing,
    payment_methods: PaymentMethods,
    budgets: Budgets,
    part_bytes: int = storage_console.UPLOAD_PART_BYTES,
    public_url: str | None = None,
) -> FastAPI:
    """The console pages; mount it with :func:`mount_console` beside the REST API."""
    pages = Pages(
        accounts,
        environment(),
        unread=billing_console.unread_counter(budgets),
        always_secure=(public_url or "").startswith("https://"),
    )
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Every route, present and future, refuses a state-changing request without the token.
        dependencies=[Depends(pages.check_csrf)],
    )
    app.include_router(auth.router(accounts, pages))
    app.include_router(
        storage_console.router(
            objects, multipart, access_keys, usage, pages, s3_endpoint, region, part_bytes
        )
    )
    app.include_router(account_console.router(accounts, api_keys, limits, account_limits, pages))
    app.include_router(billing_console.router(billing, payment_methods, budgets, pages))
    app.mount("/static", StaticFiles(packages=[("nexq.console", "static")]), name="static")
    _install_error_pages(app, pages)
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


def _install_error_pages(app: FastAPI, pages: Pages) -> None:
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
        if isinstance(exc, AccessDenied) and "name" in request.path_params:
            # The console acts with all of the account's rights, so a bucket it may not use
            # is another account's: "not found", as in the REST API (existence must not leak).
            name = request.path_params["name"]
            exc = NoSuchBucket(f"No bucket named {name!r} in this account.")
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
