"""Billing → Overview: the month's charges so far, by service and resource type, per day."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from nexq.billing.model import CENT, Statement
from nexq.billing.pricing import breakdown
from nexq.billing.service import Billing, parse_month
from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.web.console.chart import Series, bar_chart
from nexq.web.console.web import Pages, status_of

OVERVIEW = "/billing/overview"
MONTHS_BACK = 12


@dataclass(frozen=True, slots=True)
class Share:
    """A group of the cost analysis: its charges, and their share of the month's total."""

    name: str
    amount: Decimal
    percent: Decimal


def months(today: date, back: int = MONTHS_BACK) -> list[date]:
    """The first days of this month and the ``back`` months before it, newest first."""
    first = today.replace(day=1)
    listed = [first]
    for _ in range(back):
        first = (first - timedelta(days=1)).replace(day=1)
        listed.append(first)
    return listed


def shares(statement: Statement, key: str) -> list[Share]:
    """The statement's lines summed by ``key`` (``service`` or ``resource``), in line order."""
    sums = breakdown(statement.lines, key)
    whole = statement.total
    return [
        Share(
            name,
            amount,
            (amount * 100 / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)
            if whole
            else Decimal("0.0"),
        )
        for name, amount in sums.items()
    ]


def daily_chart(statement: Statement) -> Markup:
    """Charges added each day. Bar heights need numbers; every text shows the exact amount."""
    exact = {float(amount): amount for _, amount in statement.daily}

    def label(value: float) -> str:
        amount = exact.get(value)
        if amount is None:  # a tick of the y axis: a round number
            amount = Decimal(repr(value)).quantize(CENT, ROUND_HALF_UP)
        return f"{amount:f}"

    return bar_chart(
        f"Charges per day ({statement.currency})",
        [day.strftime("%b %d") for day, _ in statement.daily],
        [Series("Charges", "series-in", [float(a) for _, a in statement.daily])],
        label,
    )


def router(billing: Billing, pages: Pages) -> APIRouter:
    """GET /billing/overview?month=YYYY-MM (default: this month, to date)."""
    web = APIRouter(prefix="/billing")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    @web.get("/overview")
    def overview(request: Request, caller: SignedIn, month: str = "") -> Response:
        today = billing.today()
        error, status, chosen = "", 200, None
        if month:
            try:
                chosen = parse_month(month)
            except DomainError as exc:
                error, status = exc.message, status_of(exc)
        statement = billing.statement(caller.account, chosen)
        choices = months(today)
        if statement.month not in choices:
            choices.append(statement.month)
        return pages.render(
            request,
            "billing/overview.html",
            caller,
            status,
            statement=statement,
            current=statement.month == today.replace(day=1),
            used=any(line.quantity for line in statement.lines),
            months=choices,
            by_service=shares(statement, "service"),
            by_resource=shares(statement, "resource"),
            chart=daily_chart(statement),
            metered=billing.metered(),
            error=error,
        )

    return web
