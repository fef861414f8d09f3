"""Billing as the platform sees it: its routes, pages, the notifications badge, its jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexq.billing.budgets import Budgets
from nexq.billing.payment_methods import PaymentMethods
from nexq.billing.service import Billing
from nexq.core.identity import Principal, Scope
from nexq.platform import Job, Service
from nexq.web.console.layout import HeaderLink, NavLink, NavSection
from nexq.web.guide.section import GuidePage, GuideSection

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexq.web.console.web import Pages
    from nexq.web.rest.security import Authorizer

HOUSE_KEEPING_SECONDS = 5.0  # gauge samples, month closing and budget checks
SCOPES = (
    Scope("billing:read", "Read billing data and usage."),
    Scope("billing:write", "Manage payment methods and the budget."),
)
NAVIGATION = NavSection(
    "Billing",
    (
        NavLink("Overview", "/billing/overview"),
        NavLink("Invoices", "/billing/invoices"),
        NavLink("Payment methods", "/billing/payment-methods"),
        NavLink("Budget & alerts", "/billing/budget"),
    ),
)
# The Billing user guide: src/nexq/billing/guide/<slug>.md.
GUIDE = GuideSection("Billing", "nexq.billing", (GuidePage("overview", "Billing overview"),))


def notifications_link(budgets: Budgets) -> HeaderLink:
    """The top bar's Notifications, with the caller's unread count as a badge."""

    def unread(caller: Principal) -> int:
        return budgets.unread_count(caller.account.id)

    return HeaderLink("Notifications", "/billing/budget#notifications", unread, "unread")


def descriptor(billing: Billing, methods: PaymentMethods, budgets: Budgets) -> Service:
    """The Billing service's descriptor."""

    def rest(auth: Authorizer) -> list[APIRouter]:
        from nexq.billing import api

        return [api.router(billing, methods, budgets, auth)]

    def console(pages: Pages) -> list[APIRouter]:
        from nexq.billing import console

        return [console.router(billing, methods, budgets, pages)]

    def house_keeping() -> None:
        billing.sample_gauges()
        billing.close_due_months()
        budgets.check()

    return Service(
        name="billing",
        title="Billing",
        rest=rest,
        console=console,
        built_on_first_request=("/v1/billing", "/v1/notifications", "/billing"),
        templates="nexq.billing",
        navigation=NAVIGATION,
        header_links=(notifications_link(budgets),),
        guide=GUIDE,
        # Budget alerts wait on SMTP servers and webhooks: a lane of their own, so they
        # never hold up metering and garbage collection.
        jobs=(
            Job(
                "billing house-keeping",
                HOUSE_KEEPING_SECONDS,
                house_keeping,
                lane="billing",
                once=True,
            ),
        ),
    )
