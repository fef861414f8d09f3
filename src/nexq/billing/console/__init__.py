"""Console pages of Billing: overview (month-to-date charges, cost analysis, a daily chart),
invoices (with their PDF), payment methods, and the budget with its notifications.

Every page calls the same services as the REST API (``Billing``, ``PaymentMethods``,
``Budgets``); nothing here prices, validates cards or checks budgets itself.
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nexq.billing.budgets import Budgets
from nexq.billing.console import budget, cards, invoices, overview
from nexq.billing.payment_methods import PaymentMethods
from nexq.billing.service import Billing
from nexq.web.console.web import Pages


def router(billing: Billing, methods: PaymentMethods, budgets: Budgets, pages: Pages) -> APIRouter:
    """Every Billing page, under /billing."""
    web = APIRouter()

    @web.get("/billing")
    def billing_home(request: Request) -> Response:
        return pages.redirect(request, overview.OVERVIEW)

    web.include_router(overview.router(billing, pages))
    web.include_router(invoices.router(billing, pages))
    web.include_router(cards.router(methods, pages))
    web.include_router(budget.router(billing, budgets, pages))
    return web
