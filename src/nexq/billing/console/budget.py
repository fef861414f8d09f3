"""Billing → Budget & alerts: the monthly budget, its thresholds and where alerts go, and the
account's notifications (newest first, unread highlighted, "mark all read")."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.billing.budgets import DEFAULT_THRESHOLDS, Budgets
from nexq.billing.model import Budget
from nexq.billing.service import Billing
from nexq.core.errors import DomainError, Invalid
from nexq.core.identity import Principal
from nexq.web.console.web import Flash, Pages, status_of

BUDGET = "/billing/budget"
NOTIFICATIONS_SHOWN = 50
Text = Annotated[str, Form()]


def percentages(text: str) -> list[int] | None:
    """``50, 80, 100`` (a ``%`` after a number is fine) → [50, 80, 100]; empty → None, the
    service's default. Which percentages are allowed is the service's to say."""
    parts = [p.strip().removesuffix("%").strip() for p in text.split(",")]
    if not any(parts):
        return None
    try:
        return [int(p) for p in parts if p]
    except ValueError:
        raise Invalid(
            "thresholds: whole percentages separated by commas, such as 50, 80, 100."
        ) from None


def optional(text: str) -> str | None:
    return text.strip() or None


def router(billing: Billing, budgets: Budgets, pages: Pages) -> APIRouter:
    """/billing/budget, its forms, and /billing/notifications/read."""
    web = APIRouter(prefix="/billing")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def budget_page(
        request: Request,
        caller: Principal,
        form: dict[str, str] | None = None,
        error: str = "",
        status: int = 200,
    ) -> Response:
        budget = budgets.get(caller.account.id)
        statement = billing.statement(caller.account)
        spent_percent = None
        if budget is not None:
            spent_percent = (statement.total * 100 / budget.amount).quantize(
                Decimal("0.1"), ROUND_HALF_UP
            )
        return pages.render(
            request,
            "billing/budget.html",
            caller,
            status,
            budget=budget,
            form=form or form_of(budget),
            statement=statement,
            spent_percent=spent_percent,
            notifications=budgets.notifications(caller.account.id, NOTIFICATIONS_SHOWN),
            error=error,
        )

    @web.get("/budget")
    def budget_view(request: Request, caller: SignedIn) -> Response:
        return budget_page(request, caller)

    @web.post("/budget")
    def set_budget(
        request: Request,
        caller: SignedIn,
        amount: Text = "",
        thresholds: Text = "",
        email: Text = "",
        webhook_url: Text = "",
    ) -> Response:
        typed = {
            "amount": amount,
            "thresholds": thresholds,
            "email": email,
            "webhook_url": webhook_url,
        }
        try:
            saved = budgets.set(
                caller.account.id,
                amount.strip(),
                percentages(thresholds),
                optional(email),
                optional(webhook_url),
            )
        except DomainError as exc:
            return budget_page(request, caller, typed, exc.message, status_of(exc))
        marks = ", ".join(f"{t}%" for t in saved.thresholds)
        done = Flash(
            "success", f"Budget saved: {saved.amount:f} a month; you are notified at {marks}."
        )
        return pages.redirect(request, BUDGET, done)

    @web.post("/budget/delete")
    def remove_budget(request: Request, caller: SignedIn, confirm: Text = "") -> Response:
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title="Remove the monthly budget?",
                message="No more budget alerts are sent; your notifications stay.",
                action=f"{BUDGET}/delete",
                button="Remove budget",
                back=BUDGET,
            )
        budgets.remove(caller.account.id)
        return pages.redirect(request, BUDGET, Flash("success", "Budget removed."))

    @web.post("/notifications/read")
    def mark_read(request: Request, caller: SignedIn) -> Response:
        budgets.mark_read(caller.account.id)
        done = Flash("success", "All notifications marked as read.")
        return pages.redirect(request, BUDGET + "#notifications", done)

    return web


def form_of(budget: Budget | None) -> dict[str, str]:
    """The form's fields: the saved budget, or an empty one with the default thresholds."""
    if budget is None:
        return {
            "amount": "",
            "thresholds": ", ".join(str(t) for t in DEFAULT_THRESHOLDS),
            "email": "",
            "webhook_url": "",
        }
    return {
        "amount": f"{budget.amount:f}",
        "thresholds": ", ".join(str(t) for t in budget.thresholds),
        "email": budget.email or "",
        "webhook_url": budget.webhook_url or "",
    }
