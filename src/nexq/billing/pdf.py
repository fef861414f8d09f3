"""Invoices as PDF documents (fpdf2, core fonts: nothing to download)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from fpdf import FPDF

from nexq.billing.model import Invoice


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:.6f}"


def render(invoice: Invoice, email: str, operator: str = "Nexq") -> bytes:
    """The invoice as a one-page PDF."""
    pdf = FPDF(format="A4")
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.set_creator(operator)
    pdf.set_compression(False)  # small anyway, and its text stays greppable
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, f"{operator} invoice", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    issued = datetime.fromtimestamp(invoice.created_at, UTC).strftime("%Y-%m-%d")
    for label, value in (
        ("Invoice number", invoice.number),
        ("Billing period", invoice.month),
        ("Issued", issued),
        ("Account", email),
        ("Status", invoice.status.upper()),
    ):
        pdf.cell(40, 6, label)
        pdf.cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    widths = (34, 40, 28, 26, 22, 40)
    headers = ("Service", "Resource", "Quantity", "Included", "Unit price", "Amount")
    pdf.set_font("Helvetica", "B", 9)
    for width, title in zip(widths, headers, strict=True):
        pdf.cell(width, 7, title, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in invoice.lines:
        cells = (
            line.service,
            line.resource,
            f"{_quantity(line.quantity)}",
            f"{_quantity(line.included)}",
            f"{line.unit_price}",
            _money(line.amount, invoice.currency),
        )
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 6, text)
        pdf.ln()
        pdf.set_font("Helvetica", "I", 7)
        pdf.cell(0, 4, f"    per {line.unit}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(sum(widths[:-1]), 8, "Total", border="T")
    pdf.cell(widths[-1], 8, _money(invoice.total, invoice.currency), border="T")
    return bytes(pdf.output())
