"""The Usage page: Data In, Data Out and Operations (Class A / Class B) per bucket and day."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from nexq.core.identity import Principal
from nexq.storage.usage import Usage, UsageReport
from nexq.web.console.chart import Series, bar_chart
from nexq.web.console.formats import count, size
from nexq.web.console.web import Pages

MAX_DAYS = 366


def period(start: str, end: str, today: date) -> tuple[date, date]:
    """The first and last day (inclusive) asked for; this month so far by default."""
    try:
        first = date.fromisoformat(start) if start else today.replace(day=1)
        last = date.fromisoformat(end) if end else today
    except ValueError:
        raise ValueError("Write dates as YYYY-MM-DD, e.g. 2026-11-01.") from None
    if last == date.max:
        # The report runs to the start of the next day, which does not exist.
        raise ValueError(f"Choose an end before {date.max.isoformat()}.")
    if first > last:
        raise ValueError("The period starts after it ends; swap the two dates.")
    if (last - first).days >= MAX_DAYS:
        raise ValueError(f"Choose a period of at most {MAX_DAYS} days.")
    return first, last


def presets(today: date) -> list[tuple[str, str]]:
    """(label, link) of the usual periods."""
    month = today.replace(day=1)
    spans = [
        ("This month", month, today),
        ("Last month", (month - timedelta(days=1)).replace(day=1), month - timedelta(days=1)),
        ("Last 7 days", today - timedelta(days=6), today),
        ("Last 30 days", today - timedelta(days=29), today),
    ]
    return [
        (label, "/storage/usage?" + urlencode({"start": a.isoformat(), "end": b.isoformat()}))
        for label, a, b in spans
    ]


def charts(report: UsageReport) -> tuple[Markup, Markup]:
    """Daily transfer (Data In beside Data Out) and operations (Class A, B, other stacked)."""
    days = report.days
    labels = [d.day.strftime("%b %d") for d in days]
    transfer = bar_chart(
        "Data transfer per day",
        labels,
        [
            Series("Data In", "series-in", [d.counters.data_in for d in days]),
            Series("Data Out", "series-out", [d.counters.data_out for d in days]),
        ],
        size,  # decimal, as transfer is billed: the ticks fall on round MB and GB
    )
    operations = bar_chart(
        "Operations per day",
        labels,
        [
            Series("Class A", "series-a", [d.counters.class_a for d in days]),
            Series("Class B", "series-b", [d.counters.class_b for d in days]),
            Series("Other", "series-other", [d.counters.other for d in days]),
        ],
        count,
        stacked=True,
    )
    return transfer, operations


def router(usage: Usage, pages: Pages) -> APIRouter:
    """GET /storage/usage?start=YYYY-MM-DD&end=YYYY-MM-DD (both days included)."""
    web = APIRouter(prefix="/storage")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    @web.get("/usage")
    def usage_page(request: Request, caller: SignedIn, start: str = "", end: str = "") -> Response:
        today = datetime.now(UTC).date()
        error = ""
        try:
            first, last = period(start, end, today)
        except ValueError as exc:
            error = str(exc)
            first, last = today.replace(day=1), today
        report = usage.report(caller.account.id, first, last + timedelta(days=1))
        transfer, operations = charts(report)
        return pages.render(
            request,
            "storage/usage.html",
            caller,
            400 if error else 200,
            report=report,
            held=usage.held(caller.account.id),
            first=first,
            last=last,
            start=start or first.isoformat(),
            end=end or last.isoformat(),
            error=error,
            presets=presets(today),
            transfer=transfer,
            operations=operations,
        )

    return web
