"""Invoices as PDF documents (fpdf2, core fonts: nothing to download).

The document shows the columns and figures of the console's invoice page
(``billing/_lines.html``): the same formats (``web.console.formats``: money to the cent,
prices as the tier sets them, quantities through ``nexq.display``), so that a customer
reads the same numbers on paper as on screen.
"""

from __future__ import annotations

from nexq.billing.model import Invoice, LineItem
from nexq.web.console.formats import money, month, price, quantity, when

# Resource, Quantity, Billed, Unit price, Amount: A4's 190 mm between the margins.
_WIDTHS = (52, 34, 34, 36, 34)
_HEADERS = ("Resource", "Quantity", "Billed", "Unit price", "Amount")
_ALIGN = ("L", "R", "R", "R", "R")


def _billed(line: LineItem) -> str:
    # As the console's Billed column: a used quantity the allowance covers reads as such.
    if line.quantity and not line.billable:
        return "0 (included)"
    return quantity(line.billable)


def tier_period(line: LineItem) -> str:
    """For a line of a month split between tiers, its tier and period ("" otherwise); the
    core fonts have no dash beyond Latin-1, hence "to"."""
    if not line.tier or line.period_start is None or line.period_end is None:
        return ""
    return f"{line.tier} tier, {when(line.period_start)} to {when(line.period_end)}"


def cells(line: LineItem, currency: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A line's two rows of text, as the console's cells read: the figures, then under
    them the service and the units (the console's muted second line)."""
    figures = (
        line.resource,
        quantity(line.quantity),
        _billed(line),
        price(line.unit_price, currency),
        money(line.amount, currency),
    )
    under = (line.service, line.unit, "", f"per {line.unit}", "")
    return figures, under


def render(invoice: Invoice, email: str, operator: str = "Nexq") -> bytes:
    """The invoice as a PDF (more pages when its lines need them)."""
    # Imported when an invoice is rendered: fpdf2 (with fontTools and Pillow) is about
    # 20 MiB of every process serving the control plane, for a page seldom asked for.
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.set_creator(operator)
    pdf.set_compression(False)  # small anyway, and its text stays greppable
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, f"{operator} invoice", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for label, value in (
        ("Invoice number", invoice.number),
        ("Billing period", month(invoice.month)),
        ("Issued", when(invoice.created_at)),
        ("Account", email),
        ("Status", invoice.status.capitalize()),
        ("Total", money(invoice.total, invoice.currency)),
    ):
        pdf.cell(40, 6, label)
        pdf.cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 9)
    for width, title, align in zip(_WIDTHS, _HEADERS, _ALIGN, strict=True):
        pdf.cell(width, 7, title, border="B", align=align)
    pdf.ln()
    for line in invoice.lines:
        figures, under = cells(line, invoice.currency)
        pdf.set_font("Helvetica", "", 9)
        for width, text, align in zip(_WIDTHS, figures, _ALIGN, strict=True):
            pdf.cell(width, 5, text, align=align)
        pdf.ln()
        pdf.set_font("Helvetica", "", 7)
        pdf.set_text_color(90)
        for width, text, align in zip(_WIDTHS, under, _ALIGN, strict=True):
            pdf.cell(width, 4, text, align=align)
        pdf.ln()
        if period := tier_period(line):
            pdf.cell(0, 4, period, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_text_color(0)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(sum(_WIDTHS[:-1]), 8, "Total", border="T")
    pdf.cell(_WIDTHS[-1], 8, money(invoice.total, invoice.currency), border="T", align="R")
    pdf.ln(10)
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(
        0,
        4,
        "Billed: the quantity beyond what the tier includes each month, which the unit price "
        "applies to. Amounts are rounded to the cent.",
    )
    return bytes(pdf.output())
