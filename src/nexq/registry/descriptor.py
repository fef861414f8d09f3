"""The Container Registry as the platform sees it: its routes, pages, jobs and limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexq.core.quotas import BYTES, COUNT, PER_SECOND, Limit
from nexq.platform import Job, Service
from nexq.registry.content import RATE_LIMIT, REPOSITORIES_LIMIT, STORED_BYTES_LIMIT, Content
from nexq.registry.departure import departure
from nexq.registry.metering import FLUSH_SECONDS, METERS, RegistryMeter
from nexq.registry.registries import CREDENTIALS_LIMIT, REGISTRIES_LIMIT, Registries
from nexq.web.console.layout import NavLink, NavSection
from nexq.web.guide.section import GuidePage, GuideSection

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexq.web.console.web import Pages
    from nexq.web.rest.security import Authorizer

NAVIGATION = NavSection("Containers", (NavLink("Container Registry", "/registries"),))
# The registry's user guide: src/nexq/registry/guide/<slug>.md, in reading order.
GUIDE = GuideSection(
    "Container Registry",
    "nexq.registry",
    (
        GuidePage("overview", "Overview"),
        GuidePage("create-registry", "Create a registry"),
        GuidePage("push-images", "Push images"),
        GuidePage("pull-images", "Pull images"),
        GuidePage("manage-repositories", "Manage repositories"),
        GuidePage("manage-credentials", "Manage credentials"),
    ),
)
# An upload untouched this long was abandoned by its client; a blob no manifest names is
# kept this long after its last push, for a manifest still on its way.
UPLOAD_IDLE_SECONDS = 24 * 3600.0
GARBAGE_GRACE_SECONDS = 3600.0


def descriptor(
    registries: Registries, content: Content, meter: RegistryMeter, endpoint: str
) -> Service:
    """The Container Registry's descriptor; ``endpoint`` is the host clients push to."""

    def rest(auth: Authorizer) -> list[APIRouter]:
        from nexq.registry import api

        return [api.router(registries, auth, endpoint)]

    def console(pages: Pages) -> list[APIRouter]:
        from nexq.registry import console

        return [console.router(registries, pages, endpoint)]

    return Service(
        name="registry",
        title="Container Registry",
        departure=departure(registries),
        rest=rest,
        console=console,
        built_on_first_request=("/v1/registries", "/registries"),
        templates="nexq.registry",
        navigation=NAVIGATION,
        guide=GUIDE,
        meters=METERS,
        meter_provider=meter,
        jobs=(
            # Each process adds what it counted to the hourly rows.
            Job("registry-meter", FLUSH_SECONDS, meter.flush),
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
                RATE_LIMIT,
                "Registry requests",
                PER_SECOND,
                "Requests per second to the account's registries (an abuse guard)",
            ),
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
                STORED_BYTES_LIMIT,
                "Registry storage",
                BYTES,
                "Distinct layers and manifests in all the account's registries",
                content.stored_bytes_of,
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
