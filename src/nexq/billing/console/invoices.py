"""Billing → Invoices: the list, one invoice with its lines, and its PDF as a download."""

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from nexq.billing import pdf
from nexq.billing.service import Billing
from nexq.core.identity import Principal
from nexq.web.console.web import Pages

INVOICES = "/billing/invoices"


def pdf_name(number: str) -> str:
    """The download's file name: the invoice number, nothing a header could trip on."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", number) + ".pdf"


def router(billing: Billing, pages: Pages) -> APIRouter:
    """/billing/invoices[/{ref}[/pdf]]: ``ref`` is the id or the number, of this account only."""
    web = APIRouter(prefix=INVOICES)
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    @web.get("")
    def list_invoices(request: Request, caller: SignedIn) -> Response:
        found = billing.invoices(caller.account)
        return pages.render(request, "billing/invoices.html", caller, invoices=found)

    @web.get("/{ref}")
    def show_invoice(request: Request, ref: str, caller: SignedIn) -> Response:
        # Another account's invoice is NoSuchInvoice (a NotFound): the 404 page.
        invoice = billing.invoice(caller.account, ref)
        return pages.render(request, "billing/invoice.html", caller, invoice=invoice)

    @web.get("/{ref}/pdf")
    def invoice_pdf(ref: str, caller: SignedIn) -> Response:
        invoice = billing.invoice(caller.account, ref)
        return Response(
            pdf.render(invoice, caller.account.email),
            media_type="application/pdf",
            headers={"content-disposition": f'attachment; filename="{pdf_name(invoice.number)}"'},
        )

    return web
