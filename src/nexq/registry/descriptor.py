"""The Container Registry as the platform sees it: its routes, pages, jobs and limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexq.core.quotas import COUNT, Limit
from nexq.platform import Job, Service
from nexq.registry.content import REPOSITORIES_LIMIT, Content
from nexq.registry.registries import CREDENTIALS_LIMIT, REGISTRIES_LIMIT, Registries
from nexq.web.console.layout import NavLink, NavSection

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexq.web.console.web import Pages
    from nexq.web.rest.security import Authorizer

NAVIGATION = NavSection("Containers", (NavLink("Container Registry", "/registries"),))
# An upload untouched this long was abandoned by its client; a blob no manifest names is
# kept this long after its last push, for a manifest still on its way.
UPLOAD_IDLE_SECONDS = 24 * 3600.0
GARBAGE_GRACE_SECONDS = 3600.0


def descriptor(registries: Registries, content: Content, endpoint: str) -> Service:
    """The Container Registry's descriptor; ``endpoint`` is the host clients push to."""

    def rest(auth: Authorizer) -> list[APIRouter]:
        from nexq.registry import api

        return [api.router(registries, auth, endpoint)]

    def console(pages: Pages) -> list[APIRouter]:
        return []

    return Service(
        name="registry",
        title="Container Registry",
        rest=rest,
        console=console,
        templates="nexq.registry",
        navigation=NAVIGATION,
        jobs=(
            Job(
                "registry-janitor",
                600.0,
                lambda: (
                    content.abandon_uploads(UPLOAD_IDLE_SECONDS),
                    content.collect_garbage(GARBAGE_GRACE_SECONDS),
                ),
                once=True,
            ),
        ),
        limits=(
            Limit(
                REGISTRIES_LIMIT,
                "Registries",
                COUNT,
                "Container registries of the account",
                registries.registries_of,
            ),
            Limit(
                REPOSITORIES_LIMIT,
                "Repositories per registry",
                COUNT,
                "Repositories in one container registry",
            ),
            Limit(
                CREDENTIALS_LIMIT,
                "Registry credentials",
                COUNT,
                "Credentials of all the account's registries",
                registries.credentials_of,
            ),
        ),
    )
