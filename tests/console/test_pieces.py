"""The console's small pure pieces, without a server or a browser."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Match

from nexq.accounts.signin import safe_next
from nexq.billing.console.budget import percentages
from nexq.billing.console.invoices import pdf_name
from nexq.billing.console.overview import months, shares
from nexq.billing.model import LineItem, Statement
from nexq.core.errors import Invalid
from nexq.storage.console.links import breadcrumbs, bucket_url
from nexq.storage.console.objects import attachment
from nexq.storage.console.uploads import content_type, file_name
from nexq.storage.console.usage import period
from nexq.web.console.app import ConsoleMount
from nexq.web.console.chart import Series, bar_chart
from nexq.web.console.formats import (
    binary_size,
    count,
    money,
    month,
    price,
    quantity,
    size,
    size_as_set,
    when,
)
from nexq.web.console.middleware import InternalErrors, SecurityHeaders
from nexq.web.console.web import environment


def test_sizes_counts_and_times_for_people() -> None:
    # An amount of data reads in decimal units, as it is billed: the filter ``size`` is the
    # default every page gets; ``binary_size`` is for what is set in binary units.
    assert [size(n) for n in (0, 1023, 1536, 20 * 1024**2, 150 * 1024**3)] == [
        "0 B",
        "1.0 kB",
        "1.5 kB",
        "21.0 MB",
        "161 GB",
    ]
    assert [binary_size(n) for n in (1536, 20 * 1024**2, 2**29)] == [
        "1.5 KiB",
        "20.0 MiB",
        "512 MiB",
    ]
    # The templates' filters are these: a new page's ``|size`` is decimal without asking.
    template = environment().from_string("{{ n|size }} · {{ n|binary_size }}")
    assert template.render(n=2**29) == "537 MB · 512 MiB"
    assert count(1234567) == "1,234,567"  # exact: N requests show as N
    assert when(None) == "Never"
    assert when(0) == "1970-01-01 00:00 UTC"


def test_chart_escapes_text_and_draws_each_value() -> None:
    svg = bar_chart(
        "A <chart>",
        ["<b>Mon</b>", "Tue"],
        [Series("In", "series-in", [3, 0]), Series("Out", "series-out", [1, 2])],
        count,
    )
    assert "<b>" not in svg and "&lt;b&gt;Mon&lt;/b&gt;" in svg
    assert 'aria-label="A &lt;chart&gt;"' in svg
    assert svg.count("<rect") == 3  # zero values draw no bar
    assert "style=" not in svg  # colours come from the stylesheet (CSP: no inline style)
    empty = bar_chart("Nothing", ["Mon"], [Series("In", "series-in", [0])], count)
    assert "No activity in this period" in empty


def test_byte_ticks_are_round_decimal_sizes() -> None:
    svg = bar_chart("Bytes", ["d"], [Series("In", "s", [7 * 10**6])], size)
    assert ">2 MB<" in svg and ">8 MB<" in svg
    binary = bar_chart("Bytes", ["d"], [Series("In", "s", [7 * 1024**2])], binary_size, base=1024)
    assert ">2.0 MiB<" in binary and ">8.0 MiB<" in binary


def test_usage_period() -> None:
    today = date(2026, 11, 27)
    assert period("", "", today) == (date(2026, 11, 1), today)
    assert period("2026-10-01", "2026-10-31", today) == (date(2026, 10, 1), date(2026, 10, 31))
    for start, end, message in (
        ("2026-13-01", "", "YYYY-MM-DD"),
        ("2026-11-10", "2026-11-01", "starts after it ends"),
        ("2024-01-01", "2026-01-01", "at most 366 days"),
    ):
        with pytest.raises(ValueError, match=message):
            period(start, end, today)


def test_links_and_names() -> None:
    assert bucket_url("b", "/object", key="a b/c?d") == "/storage/buckets/b/object?key=a+b%2Fc%3Fd"
    assert breadcrumbs("b", "x/y/") == [
        ("b", "/storage/buckets/b"),
        ("x", "/storage/buckets/b?prefix=x%2F"),
        ("y", "/storage/buckets/b?prefix=x%2Fy%2F"),
    ]
    assert attachment('dir/r\u00e9sum\u00e9 "1".pdf') == (
        "attachment; filename=\"r_sum_ _1_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.pdf"
    )
    assert attachment("a\r\nSet-Cookie: x") == (
        "attachment; filename=\"a__Set-Cookie: x\"; filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x"
    )
    assert content_type("text/plain; charset=utf-8") == "text/plain; charset=utf-8"
    assert content_type("text/plain\r\nX-Evil: 1") == "application/octet-stream"
    assert content_type(None) == "application/octet-stream"
    assert file_name("C:\\Users\\ada\\photo.jpg") == "photo.jpg"


def test_after_login_only_local_paths() -> None:
    assert (
        safe_next("/storage/usage?start=2026-11-01", "/storage/buckets")
        == "/storage/usage?start=2026-11-01"
    )
    for outside in ("https://evil.example/", "//evil.example/", "/\\evil.example", ""):
        assert safe_next(outside, "/storage/buckets") == "/storage/buckets"


def test_console_mount_leaves_the_rest_api_alone() -> None:
    mount = ConsoleMount("/", app=FastAPI())

    def match(path: str) -> Match:
        scope: dict[str, Any] = {"type": "http", "path": path, "root_path": "", "method": "GET"}
        return mount.matches(scope)[0]

    assert match("/v1/storage/buckets") is Match.NONE
    assert match("/v1") is Match.NONE
    assert match("/health") is Match.NONE
    assert match("/storage/buckets") is Match.FULL
    assert match("/v1x") is Match.FULL


def test_an_unexpected_error_is_a_plain_page_with_headers() -> None:
    inner = FastAPI()

    @inner.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    inner.add_middleware(InternalErrors, page=lambda rid: f"<p>Quote {rid}</p>")
    inner.add_middleware(SecurityHeaders)  # as console_app stacks them

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=inner, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            return await client.get("/boom")

    # Its own thread and loop: Playwright's loop may be running in this one.
    with ThreadPoolExecutor(1) as thread:
        answer = thread.submit(asyncio.run, fetch()).result()
    assert answer.status_code == 500
    assert "Quote " in answer.text and "secret internals" not in answer.text
    assert "script-src 'self'" in answer.headers["content-security-policy"]


def test_money_and_quantities_are_exact_decimals() -> None:
    assert money(Decimal("6.00"), "USD") == "6.00 USD"
    assert money(Decimal("3000000"), "EUR") == "3000000.00 EUR"
    assert money(Decimal("1E+1"), "USD") == "10.00 USD"  # never an exponent
    assert money(Decimal("0.125"), "USD") == "0.13 USD"  # to the cent
    assert price(Decimal("0.015"), "USD") == "0.015 USD"  # a unit price keeps its fractions
    assert price(Decimal("4.5"), "USD") == "4.50 USD"
    assert quantity(Decimal("0.000004")) == "0.000004"
    assert quantity(Decimal(4)) == "4"
    assert quantity(Decimal("0E-8")) == "0"
    assert quantity(Decimal(5500) / Decimal(10**9) / 720) == "0.00000000764"
    assert quantity(Decimal("1.23456789012")) == "1.23"
    assert quantity(Decimal("1234.5678")) == "1,234.57"
    assert [size(n) for n in (999, 3072, 10**10, 1_500_000_000)] == [
        "999 B",
        "3.1 kB",
        "10 GB",
        "1.5 GB",
    ]
    # A size reads in the units its limit was set in: 10 GB of storage, 512 MiB of memory.
    assert size_as_set(3072, 10**10) == "3.1 kB"
    assert size_as_set(2**29, 2**29) == "512 MiB"
    assert month("2026-11") == month(date(2026, 11, 27)) == "November 2026"


def test_budget_thresholds_and_invoice_file_names() -> None:
    assert percentages("50, 80 ,100") == [50, 80, 100]
    assert percentages("75%, 100 %") == [75, 100]
    assert percentages(" ") is None  # the service's default
    with pytest.raises(Invalid, match="thresholds: whole percentages"):
        percentages("50, lots")
    assert pdf_name("NQ-202611-AB12CD34") == "NQ-202611-AB12CD34.pdf"
    assert pdf_name('x"\r\n.pdf') == "x___.pdf.pdf"


def test_cost_analysis_and_months() -> None:
    def line(service: str, resource: str, amount: str) -> LineItem:
        zero = Decimal(0)
        return LineItem(service, resource, "GB", zero, zero, zero, Decimal(amount))

    lines = [line("Object Storage", "Egress", "1.50"), line("Object Storage", "Storage", "0.50")]
    statement = Statement("a", date(2026, 11, 1), "USD", "Free", lines, Decimal("2.00"))
    (service,) = shares(statement, "service")
    assert (service.name, service.amount, service.percent) == (
        "Object Storage",
        Decimal("2.00"),
        Decimal("100.0"),
    )
    assert [(s.name, str(s.percent)) for s in shares(statement, "resource")] == [
        ("Egress", "75.0"),
        ("Storage", "25.0"),
    ]
    nothing = Statement("a", date(2026, 11, 1), "USD", "Free", lines[:0], Decimal("0.00"))
    assert shares(nothing, "service") == []
    listed = months(date(2026, 2, 14), back=2)
    assert listed == [date(2026, 2, 1), date(2026, 1, 1), date(2025, 12, 1)]
