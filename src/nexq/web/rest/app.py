"""The control plane's REST app, assembled from each service's routes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from nexq import __version__
from nexq.web.rest import docs, problems
from nexq.web.rest.security import Authorizer

DESCRIPTION = (
    "Everything a Nexq user does, programmatically. Authenticate with "
    "'Authorization: Bearer <API key>'. Errors are RFC 9457 problem+json; every list is "
    "paginated with ?limit= and ?cursor= (pass back next_cursor)."
)


def rest_app(routers: Sequence[APIRouter], auth: Authorizer) -> FastAPI:
    """The REST API under /v1 (plus /health for load balancers), from each service's
    routers; ``auth`` is the authorizer they were built with."""
    app = FastAPI(
        title="Nexq API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    problems.install(app)
    for router in routers:
        app.include_router(router)

    @app.get("/health", include_in_schema=False)
    @app.get("/v1/health", tags=["meta"], summary="Health check")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/docs", include_in_schema=False)
    def reference() -> HTMLResponse:
        return HTMLResponse(docs.render(app.openapi()))

    _document_problems(app)
    _document_scopes(app, auth, routers)
    return app


def _dependency_calls(dependant: Dependant) -> list[Callable[..., object]]:
    calls: list[Callable[..., object]] = []
    for sub in dependant.dependencies:
        if sub.call is not None:
            calls.append(sub.call)
        calls.extend(_dependency_calls(sub))
    return calls


def _document_scopes(app: FastAPI, auth: Authorizer, routers: Sequence[APIRouter]) -> None:
    """State in each operation's ``security`` the scopes that its route enforces."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = original()
        for route in (r for router in routers for r in router.routes):
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            security = auth.security_of(_dependency_calls(route.dependant))
            for method in route.methods or ():
                operation = spec["paths"][route.path_format][method.lower()]
                if security:
                    operation["security"] = security
                else:
                    operation.pop("security", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook


def _document_problems(app: FastAPI) -> None:
    """Declare the problem+json error answers in the OpenAPI document."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = original()
        spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "scope": {"type": "string"},
                "scopes": {"type": "array", "items": {"type": "string"}},
                "request_id": {"type": "string"},
                "retry_after": {"type": "integer"},
                "limit": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
        problem = {
            "content": {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        }
        codes = {
            "400": "Invalid request",
            "401": "Not authenticated",
            "403": "Not allowed (missing scope, suspended account)",
            "404": "Not found",
            "409": "Conflict",
            "422": "Invalid input (errors name the field)",
            "429": "Too many requests (see Retry-After)",
            "507": "The server's storage is full (nothing was written)",
        }
        for path, methods in spec.get("paths", {}).items():
            if path == "/v1/health":
                continue
            for operation in methods.values():
                responses = operation.setdefault("responses", {})
                for code, description in codes.items():
                    responses[code] = {"description": description, **problem}
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook
