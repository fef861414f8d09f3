"""The HTTP planes a worker serves, each an ASGI app made from the built installation: S3
(the data plane), the container registry, and the control plane (REST API and console)."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from nexq.app import Nexq, services
from nexq.core.ratelimit import RateLimiter
from nexq.platform import censuses, guides
from nexq.storage.access_control import AccessControl

if TYPE_CHECKING:
    from fastapi import FastAPI

    from nexq.registry.oci.app import RegistryApp
    from nexq.storage.s3.server import S3App

# Each plane's pool of threads for blocking work (request bodies, listings, large reads).
WORKER_THREADS = 32


def s3_app(nexq: Nexq, rates: RateLimiter) -> S3App:
    """The S3 data plane; ``rates`` is shared by every worker process of the server."""
    # Imported here, as the other planes are: the admin commands never pay for S3's routes.
    from nexq.storage.s3.auth import Authenticator
    from nexq.storage.s3.handlers.common import Services
    from nexq.storage.s3.server import S3App

    executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="nexq-s3")
    authenticator = Authenticator(nexq.directory, nexq.settings.region)
    services = Services(
        nexq.objects,
        nexq.multipart,
        AccessControl(nexq.store, nexq.objects),
        nexq.settings.region,
    )
    return S3App(
        services,
        authenticator,
        executor,
        nexq.settings.s3_domain,
        nexq.meter,
        rates,
        reads_wait=nexq.db.engine == "postgresql",
        website_domain=nexq.settings.s3_website_domain,
    )


def registry_app(nexq: Nexq, rates: RateLimiter) -> RegistryApp:
    """The registry data plane (OCI distribution); ``rates`` is shared by every worker."""
    from nexq.registry.oci.app import RegistryApp

    executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="nexq-registry")
    return RegistryApp(
        nexq.registry_content,
        nexq.registry_auth,
        executor,
        nexq.settings.registry_domain,
        nexq.registry_meter,
        rates,
        nexq.limits,
    )


def api_app(nexq: Nexq, rates: RateLimiter) -> FastAPI:
    """The control plane: the REST API under /v1 and the web console everywhere else."""
    # Imported here: operator commands build the services but never serve HTTP.
    from nexq.accounts.tokens import BearerTokens, SessionTokens
    from nexq.web.areas import Areas, BuildOnFirstRequest, complete_first, router_area
    from nexq.web.console.app import console_app, mount_console
    from nexq.web.console.layout import HelpLink, Layout
    from nexq.web.console.web import Pages, environment
    from nexq.web.guide import routes as guide_routes
    from nexq.web.guide.library import Guide
    from nexq.web.rest.app import rest_app
    from nexq.web.rest.security import Authorizer

    found = services(nexq)
    now = [s for s in found if not s.built_on_first_request]
    watch = nexq.directory.watch
    auth = Authorizer(BearerTokens(nexq.accounts, nexq.api_keys, watch), nexq.limits, rates)
    # Grows as areas are built: the OpenAPI document's scopes are read from it.
    routers = [router for s in now for router in s.rest(auth)]
    if nexq.settings.metrics:
        from nexq.web.rest import metrics

        routers.append(metrics.router(auth, censuses(found)))
    app = rest_app(routers, auth)
    navigation = tuple(s.navigation for s in found if s.navigation is not None)
    guide = Guide(guides(found))
    layout = Layout(
        home=navigation[0].links[0].href,
        navigation=navigation,
        header_links=tuple(link for s in found for link in s.header_links),
        guide=guide.root,
        # A service's console pages link to the first page of its guide.
        help=tuple(
            HelpLink(link.href, guide.url_of(s.name), f"{s.title} guide")
            for s in found
            if s.guide is not None and s.navigation is not None
            for link in s.navigation.links
        ),
    )
    templates = ("nexq.web.guide", *(s.templates for s in found if s.templates))
    pages = Pages(
        SessionTokens(nexq.accounts, watch),
        functools.partial(environment, templates),
        layout,
        always_secure=(nexq.settings.public_url or "").startswith("https://"),
    )
    console = console_app(
        pages,
        [
            guide_routes.router(guide, pages),
            *(router for s in now for router in s.console(pages)),
        ],
        [adapt for s in found for adapt in s.console_adapters],
    )
    mount_console(app, console)

    later = [s for s in found if s.built_on_first_request]
    areas = Areas(
        [
            *(
                router_area(
                    f"{s.name} API",
                    tuple(p for p in s.built_on_first_request if p.startswith("/v1/")),
                    functools.partial(s.rest, auth),
                    app,
                    routers,  # the OpenAPI document's scopes are read from it
                )
                for s in later
            ),
            *(
                router_area(
                    f"{s.name} console",
                    tuple(p for p in s.built_on_first_request if not p.startswith("/v1/")),
                    functools.partial(s.console, pages),
                    console,
                )
                for s in later
            ),
        ]
    )
    app.add_middleware(BuildOnFirstRequest, areas=areas)
    complete_first(app, areas)
    complete_first(console, areas)
    return app
