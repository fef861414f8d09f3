"""Parts of the control plane built the first time a request reaches them.

FastAPI builds each route when it is declared (its parameters' and models' validators), and a
service's REST routes and console pages, with the models behind them, cost its worker between
0.5 and 1.5 MiB. An area names the URL prefixes of one service's routes; it is built (the
service's routers made and included) by the first request under one of them, or by anything
that needs every route (the OpenAPI documents). The prefixes are a promise checked by the
tests: a route outside its area's prefixes would be served only once the area is built for
another reason.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class Area:
    """One service's part of the control plane, built on first use."""

    name: str
    prefixes: tuple[str, ...]  # "/v1/billing", "/billing": the paths at and under each
    # Makes the service's routers (the costly part: run off the event loop) and returns what
    # includes them in the applications (cheap: run on the event loop, between requests).
    make: Callable[[], Callable[[], None]]
    built: bool = field(default=False, init=False)

    def holds(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)


def router_area(
    name: str,
    prefixes: tuple[str, ...],
    routers: Callable[[], Sequence[APIRouter]],
    into: FastAPI,
    record: list[APIRouter] | None = None,
) -> Area:
    """An area whose building makes ``routers()`` and includes them in ``into`` (and
    appends them to ``record``)."""

    def make() -> Callable[[], None]:
        made = routers()

        def include() -> None:
            for router in made:
                into.include_router(router)
                if record is not None:
                    record.append(router)

        return include

    return Area(name, prefixes, make)


class Areas:
    """The areas not built yet, and their building (once each)."""

    def __init__(self, areas: Sequence[Area]) -> None:
        self._areas = list(areas)
        self._sync = threading.Lock()  # one builder at a time, from a request or the OpenAPI
        self._turn: asyncio.Lock | None = None  # made on the event loop that serves requests

    def waiting(self, path: str) -> Area | None:
        """The unbuilt area that holds ``path``, if any."""
        return next((a for a in self._areas if not a.built and a.holds(path)), None)

    async def build(self, area: Area) -> None:
        """Build ``area`` for a request: its routers are made in a worker thread, so the
        event loop goes on serving meanwhile; requests for it wait their turn."""
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            if area.built:
                return
            include = await run_in_threadpool(area.make)
            with self._sync:
                if not area.built:
                    include()
                    area.built = True

    def build_all(self) -> None:
        """Build every area now (for the OpenAPI documents, which list every route)."""
        with self._sync:
            for area in self._areas:
                if not area.built:
                    area.make()()
                    area.built = True


class BuildOnFirstRequest:
    """ASGI middleware: builds the area a request's path is in before the app routes it."""

    def __init__(self, app: ASGIApp, areas: Areas) -> None:
        self.app = app
        self.areas = areas

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            area = self.areas.waiting(scope["path"])
            if area is not None:
                await self.areas.build(area)
        await self.app(scope, receive, send)


def complete_first(app: FastAPI, areas: Areas) -> None:
    """Have ``app``'s OpenAPI document built with every area's routes."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        areas.build_all()
        return original()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook
