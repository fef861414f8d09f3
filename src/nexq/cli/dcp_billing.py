"""``dcp account limits|tier`` and ``dcp billing …``: limits, tiers, charges and invoices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nexq.cli.dcp_config import state
from nexq.cli.dcp_output import counted, emit_json, emit_table, quantity, size_as_set

billing_app = typer.Typer(help="Charges and invoices.", no_args_is_help=True)
invoices_app = typer.Typer(help="Monthly invoices.", no_args_is_help=True)
billing_app.add_typer(invoices_app, name="invoices")


# A limit's name says its unit (nexq.core.quotas checks every declared limit's): a size ends
# in _bytes, a rate in _rps; the others are counts.
_SIZE = "_bytes"
_RATE = "_rps"


def _amount(name: str, value: int, setting: int | None) -> str:
    """A limit's value or usage as its unit reads: a size in the units its limit is set in
    (10 GB of storage, 512 MiB of memory), a rate a second (``/s``, as the tier tables of
    the guide write it), a count as it is."""
    if name.endswith(_SIZE):
        return size_as_set(value, setting)
    if name.endswith(_RATE):
        return f"{value}/s"
    return str(value)


def _usage(line: dict[str, Any]) -> str:
    """What the USAGE column says: the percentage used, or why there is none."""
    if line["percent"] is not None:
        return f"{line['percent']}%"
    if line["used"] is not None:
        return "no limit"
    # Nothing counted for the account: a rate has nothing to count between requests; the
    # other such limits bound each resource (repositories per registry) when it is made.
    return "checked per second" if line["name"].endswith(_RATE) else "checked for each resource"


def limits(ctx: typer.Context) -> None:
    """Your tier's limits, what you use of them and how much (-o json: exact bytes)."""
    st = state(ctx)
    with st.client() as api:
        page = api.limits()
    if st.json:
        emit_json(page)
        return
    typer.echo(f"Tier: {page['tier']['name']}")
    emit_table(
        ["LIMIT", "USED", "OF", "USAGE"],
        [
            (
                line["name"],
                "-" if line["used"] is None else _amount(line["name"], line["used"], line["limit"]),
                "unlimited"
                if line["limit"] is None
                else _amount(line["name"], line["limit"], line["limit"]),
                _usage(line),
            )
            for line in page["limits"]
        ],
    )


def tier(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="TIER")]) -> None:
    """Move to another service tier (refused if your usage does not fit it)."""
    st = state(ctx)
    with st.client() as api:
        page = api.change_tier(name)
    if st.json:
        emit_json(page)
        return
    st.say(f"Tier is now {page['tier']['name']}.")


@billing_app.command("estimate")
def estimate(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default this month.")] = None,
) -> None:
    """Charges so far this month (or a past month), line by line."""
    st = state(ctx)
    with st.client() as api:
        statement = api.estimate(month)
    if st.json:
        emit_json(statement)
        return
    typer.echo(f"{statement['month']} ({statement['tier']}), in {statement['currency']}")
    emit_table(
        ["RESOURCE", "QUANTITY", "INCLUDED", "UNIT PRICE", "AMOUNT"],
        [
            (
                # A month split between tiers has a line per meter and tier: name the tier.
                f"{line['resource']} ({line['tier']})" if line.get("tier") else line["resource"],
                counted(quantity(line["quantity"]), line["unit"]),
                quantity(line["included"]),
                line["unit_price"],
                line["amount"],
            )
            for line in statement["lines"]
        ]
        + [("TOTAL", "", "", "", statement["total"])],
    )


@invoices_app.command("list")
def invoices_list(ctx: typer.Context) -> None:
    """Your invoices, newest first."""
    st = state(ctx)
    with st.client() as api:
        found = api.invoices()
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["NUMBER", "MONTH", "STATUS", "TOTAL"],
        [(i["number"], i["month"], i["status"], f"{i['total']} {i['currency']}") for i in found],
    )


@invoices_app.command("pdf")
def invoices_pdf(
    ctx: typer.Context,
    invoice: Annotated[str, typer.Argument(metavar="ID_OR_NUMBER")],
    out: Annotated[Path | None, typer.Option(help="File to write; default NUMBER.pdf.")] = None,
) -> None:
    """Download an invoice as PDF."""
    st = state(ctx)
    with st.client() as api:
        document = api.invoice_pdf(invoice)
    target = out or Path(f"{invoice}.pdf")
    target.write_bytes(document)
    st.say(f"Invoice written to {target}")
