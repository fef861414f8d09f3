"""Account as the platform sees it: sign-in, API keys, limits and the operator's routes."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from nexq.accounts import tier_tables
from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.limits import AccountLimits, Limits
from nexq.accounts.service import Accounts
from nexq.core.identity import ScopeCatalog
from nexq.core.telemetry import Reading
from nexq.platform import Service
from nexq.web.console.layout import NavLink, NavSection
from nexq.web.guide.section import GuidePage, GuideSection

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexq.web.console.web import Pages
    from nexq.web.rest.security import Authorizer

NAVIGATION = NavSection(
    "Account",
    (
        NavLink("API Keys", "/account/api-keys"),
        NavLink("Limits & Quotas", "/account/limits"),
        NavLink("Password", "/account/password"),
    ),
)
# The Account user guide: src/nexq/accounts/guide/<slug>.md, in reading order. Service Tiers
# and Limits & Quotas take in the operator's tiers when served (tier_tables).
GUIDE = GuideSection(
    "Account",
    "nexq.accounts",
    (
        GuidePage("overview", "Account overview"),
        GuidePage("api-keys", "API keys"),
        GuidePage("service-tiers", "Service tiers"),
        GuidePage("limits-quotas", "Limits & quotas"),
        GuidePage("faq", "FAQ"),
    ),
    highlights=("service-tiers",),  # what a new account gets, from Getting Started
)


def descriptor(
    accounts: Accounts,
    api_keys: ApiKeys,
    limits: Limits,
    account_limits: AccountLimits,
    scopes: ScopeCatalog,
) -> Service:
    """The Account service's descriptor."""

    def rest(auth: Authorizer) -> list[APIRouter]:
        from nexq.accounts import api

        return [api.router(accounts, api_keys, limits, account_limits, auth)]

    def console(pages: Pages) -> list[APIRouter]:
        from nexq.accounts import console, signin

        return [
            signin.router(accounts, pages),
            console.router(accounts, api_keys, limits, account_limits, pages, scopes),
        ]

    return Service(
        name="account",
        title="Account",
        rest=rest,
        console=console,
        templates="nexq.accounts",
        navigation=NAVIGATION,
        limits=account_limits.own(),
        guide=replace(
            GUIDE,
            fragments=tier_tables.fragments(
                lambda: limits.catalog, limits.declared, account_limits.priced
            ),
        ),
        census=lambda: [
            Reading("nexq_accounts", "Accounts by role and status.", n, {"role": r, "status": s})
            for (r, s), n in accounts.count().items()
        ],
    )
