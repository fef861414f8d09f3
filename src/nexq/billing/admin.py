"""``nexq admin billing …``: invoices and payments from the server's command line."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Protocol

import typer

from nexq.adminkit import AccountsByEmail, Commands, DataDir, Opener, emit
from nexq.billing.model import Invoice
from nexq.billing.service import Billing, parse_month


class Installation(Protocol):
    """What the commands need of a built installation."""

    billing: Billing

    @property
    def accounts(self) -> AccountsByEmail: ...


def _invoice_json(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "account_id": invoice.account_id,
        "month": invoice.month,
        "status": invoice.status,
        "currency": invoice.currency,
        "total": str(invoice.total),
    }


def commands(open_installation: Opener[Installation]) -> Commands:
    """The ``billing`` group of ``nexq admin``; each prints JSON."""
    cli = typer.Typer(help="Invoices and payments.", no_args_is_help=True)

    @cli.command("close-month")
    def close_month(
        month: Annotated[
            str | None, typer.Option(help="YYYY-MM (a past month); default: last month.")
        ] = None,
        data_dir: DataDir = None,
    ) -> None:
        """Invoice every account that used something in the month (runs itself when a month
        begins; running it again makes no second invoice). Prints the new invoices."""
        with open_installation(data_dir) as nexq:
            if month is None:
                last = nexq.billing.today().replace(day=1) - timedelta(days=1)
                month = f"{last:%Y-%m}"
            made = nexq.billing.close_month(parse_month(month))
        emit([_invoice_json(i) for i in made])

    @cli.command("invoices")
    def invoices(
        account: Annotated[str, typer.Option(help="The account's email.")],
        data_dir: DataDir = None,
    ) -> None:
        """The account's invoices, newest first."""
        with open_installation(data_dir) as nexq:
            found = nexq.billing.invoices(nexq.accounts.get(account))
        emit([_invoice_json(i) for i in found])

    @cli.command("set-status")
    def set_status(
        invoice: Annotated[str, typer.Argument(help="Invoice id or number.")],
        status: Annotated[str, typer.Argument(help="paid, void or open.")],
        data_dir: DataDir = None,
    ) -> None:
        """Record a payment (paid), cancel an invoice (void) or reopen it."""
        with open_installation(data_dir) as nexq:
            changed = nexq.billing.set_status(nexq.billing.invoice(None, invoice), status)
        emit(_invoice_json(changed))

    return {"billing": cli}
