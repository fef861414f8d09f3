"""Support as the platform sees it: its routes, pages and place in the layout."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from nexq.core.identity import Scope
from nexq.core.quotas import COUNT, Limit
from nexq.platform import Service
from nexq.support.departure import departure
from nexq.support.plan_table import plan_table
from nexq.support.service import OPEN_TICKETS_LIMIT, Support
from nexq.web.console.layout import NavLink, NavSection
from nexq.web.guide.section import GuidePage, GuideSection

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexq.web.console.web import Pages
    from nexq.web.rest.security import Authorizer

SCOPES = (
    Scope("support:read", "Read the account's support tickets and plan."),
    Scope("support:write", "Open, answer, close and reopen support tickets."),
)
NAVIGATION = NavSection(
    "Support",
    (
        NavLink("Tickets", "/support/tickets"),
        NavLink("Queue", "/support/queue", role="operator"),
    ),
)
# The Support user guide: src/nexq/support/guide/<slug>.md (the customer's side of tickets);
# it shows the operator's support plans when served.
GUIDE = GuideSection("Support", "nexq.support", (GuidePage("overview", "Support overview"),))


def descriptor(support: Support) -> Service:
    """The Support service's descriptor."""

    def rest(auth: Authorizer) -> list[APIRouter]:
        from nexq.support import api

        return [api.router(support, auth)]

    def console(pages: Pages) -> list[APIRouter]:
        from nexq.support import console

        return [console.router(support, pages)]

    return Service(
        name="support",
        title="Support",
        departure=departure(support),
        rest=rest,
        console=console,
        built_on_first_request=("/v1/support", "/support"),
        templates="nexq.support",
        navigation=NAVIGATION,
        guide=replace(GUIDE, fragments={"plans": lambda: plan_table(support.plans)}),
        limits=(
            Limit(
                OPEN_TICKETS_LIMIT,
                "Open tickets",
                COUNT,
                "Support tickets not yet resolved or closed",
                support.open_tickets,
            ),
        ),
    )
