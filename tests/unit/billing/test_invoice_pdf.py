"""The invoice PDF shows the console invoice's columns and figures: the same formats, read
back from the document's text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser
from io import BytesIO

from pypdf import PdfReader

from nexq.billing import pdf
from nexq.billing.model import Invoice, LineItem
from nexq.web.console.web import environment

JANUARY = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
SPLIT = JANUARY + 241 * 3600
END = JANUARY + 744 * 3600
LINES = [
    # Beyond the allowance: 2.5 GB-month of 12.5 billed at a price below the cent.
    LineItem(
        "Object Storage",
        "Storage",
        "GB-month",
        Decimal("12.4999999999"),
        Decimal(10),
        Decimal("0.015"),
        Decimal("0.04"),
    ),
    # Used, and all of it included.
    LineItem(
        "Object Storage",
        "Egress",
        "GB",
        Decimal("0.0416666666667"),
        Decimal("0.0416666666667"),
        Decimal("0.01"),
        Decimal("0.00"),
    ),
    # A month split between tiers: one line per tier, with its period.
    LineItem(
        "Message Queue",
        "Messages",
        "million messages",
        Decimal(1234567) / Decimal(1000),
        Decimal(241) / Decimal(744),
        Decimal("1.00"),
        Decimal("1234.24"),
        "Small",
        JANUARY,
        SPLIT,
    ),
    LineItem(
        "Message Queue",
        "Messages",
        "million messages",
        Decimal(0),
        Decimal(0),
        Decimal("0.50"),
        Decimal("0.00"),
        "Big",
        SPLIT,
        END,
    ),
]
INVOICE = Invoice(
    "inv-1",
    "NQ-202601-ABCD1234",
    "acc",
    "2026-01",
    "open",
    "USD",
    Decimal("1234.28"),
    LINES,
    datetime(2026, 2, 1, 0, 5, tzinfo=UTC).timestamp(),
)


class _Cells(HTMLParser):
    """The text of each header and each cell of the console's lines table, by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split(" ")).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def console_rows() -> list[list[str]]:
    """The console invoice page's lines table, as rendered by its own template."""
    template = environment(("nexq.billing",)).from_string(
        '{% from "billing/_lines.html" import lines_table %}'
        "{{ lines_table(lines, currency, 'Invoice lines', total) }}"
    )
    cells = _Cells()
    cells.feed(template.render(lines=LINES, currency="USD", total=INVOICE.total))
    return cells.rows


def pdf_text() -> str:
    document = PdfReader(BytesIO(pdf.render(INVOICE, "a@example.com")))
    return "\n".join(page.extract_text() for page in document.pages)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_the_pdf_shows_the_console_s_columns_and_figures() -> None:
    text = pdf_text()
    rows = console_rows()
    headers, *lines, total = rows
    assert [h.split(" (")[0] for h in headers] == [
        "Resource",
        "Quantity",
        "Billed",
        "Unit price",
        "Amount",
    ]
    flat = squeeze(text)
    assert "Resource Quantity Billed Unit price Amount" in flat
    assert "Included" not in text  # the column the console dropped
    for line, cells in zip(LINES, lines, strict=True):
        resource, quantity, billed, unit_price, amount = cells
        # The figures row, as the console's cells read without their units.
        figures = [
            line.resource,
            quantity.removesuffix(line.unit).strip(),
            billed,
            unit_price.split(" per ")[0],
            amount,
        ]
        assert " ".join(figures) in flat, figures
        assert f"per {line.unit}" in unit_price and f"per {line.unit}" in flat
        # What the console writes under the resource: the service, and a split's period.
        for under in resource.split("\n")[1:]:
            assert under.strip() in flat, under
    assert total == ["Total", "1234.28 USD"] and "Total 1234.28 USD" in flat


def test_the_figures_are_the_console_s_formats() -> None:
    flat = squeeze(pdf_text())
    # Quantities through nexq.display; money to the cent; prices as the tier sets them.
    assert "Storage 12.5 2.5 0.015 USD 0.04 USD" in flat
    assert "Egress 0.0417 0 (included) 0.01 USD 0.00 USD" in flat
    assert "Messages 1,234.57 1,234.24 1.00 USD 1234.24 USD" in flat
    assert "Small tier, 2026-01-01 00:00 UTC to 2026-01-11 01:00 UTC" in flat
    assert "Big tier, 2026-01-11 01:00 UTC to 2026-02-01 00:00 UTC" in flat
    assert "Messages 0 0 0.50 USD 0.00 USD" in flat
    for fact in (
        "Invoice number NQ-202601-ABCD1234",
        "Billing period January 2026",
        "Issued 2026-02-01 00:05 UTC",
        "Status Open",
    ):
        assert fact in flat
