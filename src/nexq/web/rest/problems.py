"""Errors as RFC 9457 problem details: one table from domain errors to HTTP."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from nexq.core import telemetry
from nexq.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    QuotaExceeded,
    RateLimited,
    StorageFull,
    Unavailable,
)
from nexq.core.identity import (
    AccountSuspended,
    BeyondCallerScopes,
    MissingScope,
    TooManyAttempts,
    Unauthenticated,
)

log = logging.getLogger("nexq.web.rest")
MEDIA_TYPE = "application/problem+json"

# Most specific first: the first matching class decides status, slug and title.
_TABLE: list[tuple[type[DomainError], int, str, str]] = [
    (Unauthenticated, 401, "unauthenticated", "Not authenticated"),
    (TooManyAttempts, 429, "too-many-attempts", "Too many attempts"),
    (RateLimited, 429, "rate-limited", "Too many requests"),
    (QuotaExceeded, 403, "quota-exceeded", "Quota exceeded"),
    (MissingScope, 403, "missing-scope", "Missing scope"),
    (BeyondCallerScopes, 403, "beyond-caller-scopes", "Key wider than the caller"),
    (AccountSuspended, 403, "account-suspended", "Account suspended"),
    (Forbidden, 403, "forbidden", "Forbidden"),
    (NotFound, 404, "not-found", "Not found"),
    (Conflict, 409, "conflict", "Conflict"),
    (Invalid, 400, "invalid", "Invalid request"),
    (StorageFull, 507, "storage-full", "Storage full"),
    (Unavailable, 503, "unavailable", "Service unavailable"),
    (DomainError, 400, "invalid", "Invalid request"),
]
_BY_STATUS = {400: "invalid", 401: "unauthenticated", 403: "forbidden", 404: "not-found"}


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {"type": f"urn:nexq:problem:{slug}", "title": title, "status": status}
    body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="nexq"'} if status == 401 else {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def domain_problem(exc: DomainError) -> JSONResponse:
    """The problem response for a domain error."""
    for cls, status, slug, title in _TABLE:
        if isinstance(exc, cls):
            extra: dict[str, Any] = {}
            if isinstance(exc, MissingScope):
                extra["scope"] = exc.scope
            if isinstance(exc, BeyondCallerScopes):
                extra["scopes"] = exc.scopes
            if isinstance(exc, TooManyAttempts | RateLimited):
                extra["retry_after"] = exc.retry_after
            if isinstance(exc, QuotaExceeded | RateLimited):
                extra["limit"] = exc.limit
            return problem(status, slug, title, exc.message, **extra)
    raise AssertionError("DomainError is in the table")  # pragma: no cover


def _field(loc: tuple[Any, ...]) -> str:
    # FastAPI prefixes the location with where it came from (body, query, path).
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path") else []
    return ".".join(parts) or (str(loc[0]) if loc else "request")


def _error(error: Any) -> dict[str, str]:
    """One validation error as the API names it. A body that is not JSON at all is one error
    about the body, not pydantic's "0: JSON decode error" (the 0 being a character offset)."""
    if error.get("type") == "json_invalid":
        return {"field": "body", "message": "the body is not valid JSON"}
    return {"field": _field(tuple(error["loc"])), "message": error["msg"]}


def install(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json answer."""

    @app.exception_handler(DomainError)
    async def on_domain(request: Request, exc: DomainError) -> JSONResponse:
        telemetry.refusal_of("control-plane", exc)
        return domain_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_error(e) for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "validation", "Invalid input", detail, errors=errors)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        slug = _BY_STATUS.get(exc.status_code, "http-error")
        return problem(exc.status_code, slug, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex
        log.error(
            "internal error %s on %s %s", request_id, request.method, request.url.path, exc_info=exc
        )
        return problem(
            500,
            "internal",
            "Internal error",
            f"Something went wrong on our side; quote request id {request_id}.",
            request_id=request_id,
        )
