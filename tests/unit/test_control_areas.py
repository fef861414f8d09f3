"""The control plane's areas built on first use (Service.built_on_first_request, web.areas):
each names every path its service serves, and a request or an OpenAPI document builds it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from nexq.accounts.tokens import BearerTokens, SessionTokens
from nexq.app import Nexq, build, services
from nexq.core.ratelimit import RateLimiter
from nexq.planes import api_app
from nexq.settings import Settings
from nexq.web.console.layout import Layout
from nexq.web.console.web import Pages, environment
from nexq.web.rest.security import Authorizer


@pytest.fixture(scope="module")
def nexq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nexq]:
    made = build(Settings(data_dir=Path(tmp_path_factory.mktemp("areas"))))
    try:
        yield made
    finally:
        made.close()


def paths_of(router: APIRouter) -> list[str]:
    return [route.path for route in router.routes if isinstance(route, APIRoute)]


def held(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def test_each_lazy_area_holds_every_path_of_its_service(nexq: Nexq) -> None:
    found = {s.name: s for s in services(nexq)}
    lazy = {name: s.built_on_first_request for name, s in found.items()}
    assert {n for n, p in lazy.items() if p} == {
        "billing", "support", "registry", "databases", "compute"
    }  # fmt: skip
    watch = nexq.directory.watch
    auth = Authorizer(
        BearerTokens(nexq.accounts, nexq.api_keys, watch), nexq.limits, RateLimiter(slots=16)
    )
    pages = Pages(SessionTokens(nexq.accounts, watch), environment, Layout("/", ()))
    for name, prefixes in lazy.items():
        if not prefixes:
            continue
        api = tuple(p for p in prefixes if p.startswith("/v1/"))
        console = tuple(p for p in prefixes if not p.startswith("/v1/"))
        rest = [path for router in found[name].rest(auth) for path in paths_of(router)]
        web = [path for router in found[name].console(pages) for path in paths_of(router)]
        assert rest and web, name
        assert [p for p in rest if not held(p, api)] == [], name
        assert [p for p in web if not held(p, console)] == [], name


@pytest.fixture()
def app(nexq: Nexq) -> FastAPI:
    return api_app(nexq, RateLimiter(slots=16))


async def call(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nexq") as client:
        return await client.get(path)


def test_the_first_request_of_an_area_builds_it(app: FastAPI) -> None:
    # Without an API key: the route exists (401), it is not missing (404).
    answer = asyncio.run(call(app, "/v1/databases"))
    assert answer.status_code == 401, answer.text
    # A console page sends a caller without a session to the login form.
    answer = asyncio.run(call(app, "/billing/overview"))
    assert answer.status_code in (302, 303), answer.text
    assert answer.headers["location"].startswith("/login")
    assert asyncio.run(call(app, "/no-such-page")).status_code == 404


def test_the_openapi_document_lists_every_area(nexq: Nexq, app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for service in services(nexq):
        name, prefixes = service.name, service.built_on_first_request
        if not prefixes:
            continue
        api = [p for p in prefixes if p.startswith("/v1/")]
        assert any(held(path, tuple(api)) for path in paths), name
