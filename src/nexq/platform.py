"""The service seam: what each service brings to the platform, in one descriptor.

A service package builds its use cases and returns a :class:`Service` that says how the
platform reaches them: REST routers, console pages and their place in the layout,
background jobs, what it meters, the limits it enforces and its pages of the user guide.
The composition root (``app.py``) loops over the descriptors; the kits (``web/``) and the
kernel (``core/``) never name a service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from nexq.core.db import Schema
from nexq.core.holdings import Departure
from nexq.core.identity import Scope
from nexq.core.metering import Meter, Metered, MeterProvider
from nexq.core.quotas import Limit
from nexq.core.telemetry import Census

if TYPE_CHECKING:  # the operator's commands build services without loading the web stack
    from fastapi import APIRouter

    from nexq.adminkit import Commands, Opener
    from nexq.web.console.app import ErrorAdapter
    from nexq.web.console.layout import HeaderLink, NavSection
    from nexq.web.console.web import Pages
    from nexq.web.guide.section import GuideSection
    from nexq.web.rest.security import Authorizer


@dataclass(frozen=True, slots=True)
class Job:
    """Background work a service needs done every ``every`` seconds.

    A job ``once`` runs in one process of the whole installation (every node): the one that
    holds the job's lease (``Database.lease``), taken over by another process when its holder
    dies. Other jobs run in each worker process (a flush of what the process counted).

    Jobs that share a ``lane`` run one after the other on one thread; a job that may wait on
    the network gets a lane of its own, so that it never holds up the others.
    """

    name: str
    every: float
    run: Callable[[], object]
    lane: str = "house-keeping"
    once: bool = False


# What a package's ``nexq admin`` commands need of the installation (a Protocol of its
# ``admin.py``). A Package[X] serves any installation that is an X: app.PACKAGES holds
# Package[Nexq]s, which has mypy check that Nexq gives each package's commands what they need.
InstallationT = TypeVar("InstallationT", contravariant=True)


@dataclass(frozen=True, slots=True)
class Package(Generic[InstallationT]):
    """What the platform needs of a service before anything is built: the tables it owns, the
    scopes it checks, its ``nexq admin`` commands. Each service package exports one
    (``<service>/package.py``); ``app.PACKAGES`` lists them."""

    name: str
    schema: Schema
    scopes: tuple[Scope, ...] = ()
    # Given a way to open the installation, what the package adds to ``nexq admin``, by name:
    # Typer groups (``nexq admin account …``) and single commands (``nexq admin fsck``).
    admin: Callable[[Opener[InstallationT]], Commands] | None = None


def _no_routers(_: object) -> Sequence[APIRouter]:
    return ()


@dataclass(frozen=True, slots=True)
class Service:
    """One service's descriptor."""

    name: str  # short and stable: storage, billing, support …
    title: str  # as users read it: "Object Storage"
    rest: Callable[[Authorizer], Sequence[APIRouter]] = _no_routers
    console: Callable[[Pages], Sequence[APIRouter]] = _no_routers
    # The URL prefixes holding every REST route (under /v1/) and console page of the
    # service, if they are built by the first request under one of them rather than at
    # start (web.areas: each costs a worker 0.5-1.5 MiB; tests/unit/test_control_areas.py
    # checks the prefixes). Storage and accounts are built at start: every session begins
    # with them.
    built_on_first_request: tuple[str, ...] = ()
    templates: str | None = None  # the package whose templates/ folder holds its pages
    navigation: NavSection | None = None
    header_links: Sequence[HeaderLink] = ()
    console_adapters: Sequence[ErrorAdapter] = ()
    jobs: Sequence[Job] = field(default_factory=tuple)
    # What billing prices (the prices and allowances are in tiers.toml, per service and
    # meter) and the provider that reads the quantities from the service's own tables.
    meters: Sequence[Meter] = ()
    meter_provider: MeterProvider | None = None
    # What the Limits & Quotas page shows and tiers.toml sets per tier.
    limits: Sequence[Limit] = ()
    # Its pages of the user guide (/docs/<name>/…), shipped in its package; a service
    # without pages has no section in the guide.
    guide: GuideSection | None = None
    # What it holds now (accounts, buckets, databases by status), read at each scrape of
    # the operator's metrics.
    census: Census | None = None
    # What an account still holds here, asked before the account is deleted, and what goes
    # along with it (Account's delete use case asks every service through this).
    departure: Departure | None = None


def metered(services: Sequence[Service]) -> list[Metered]:
    """Every service that meters something, as billing prices it."""
    return [
        Metered(s.name, s.title, tuple(s.meters), s.meter_provider)
        for s in services
        if s.meters and s.meter_provider is not None
    ]


def guides(services: Sequence[Service]) -> list[tuple[str, GuideSection]]:
    """Every service's section of the user guide, with the name of the service."""
    return [(s.name, s.guide) for s in services if s.guide is not None]


def censuses(services: Sequence[Service]) -> list[Census]:
    return [s.census for s in services if s.census is not None]


def departures(services: Sequence[Service]) -> list[Departure]:
    """Every service's part in deleting an account."""
    return [s.departure for s in services if s.departure is not None]


def limits(services: Sequence[Service]) -> list[tuple[str, Limit]]:
    """Every limit of every service, with the name of the service that declares it."""
    return [(s.name, limit) for s in services for limit in s.limits]
