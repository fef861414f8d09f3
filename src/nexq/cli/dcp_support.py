"""``dcp support tickets …``: open, follow and answer support tickets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nexq.cli.dcp_config import state
from nexq.cli.dcp_output import counted, emit_fields, emit_json, emit_table

support_app = typer.Typer(help="Support tickets.", no_args_is_help=True)
tickets_app = typer.Typer(help="Your support tickets.", no_args_is_help=True)
support_app.add_typer(tickets_app, name="tickets")
Id = Annotated[str, typer.Argument(metavar="TICKET_ID")]


@tickets_app.command("list")
def tickets_list(ctx: typer.Context) -> None:
    """Your tickets, most recently updated first."""
    st = state(ctx)
    with st.client() as api:
        tickets = api.support_tickets()
    if st.json:
        emit_json(tickets)
        return
    emit_table(
        ["NUMBER", "ID", "SEVERITY", "STATUS", "SUBJECT"],
        [(f"#{t['number']}", t["id"], t["severity"], t["status"], t["subject"]) for t in tickets],
    )


@tickets_app.command("create")
def tickets_create(
    ctx: typer.Context,
    subject: Annotated[str, typer.Option(help="One line: what is wrong.")],
    service: Annotated[str, typer.Option(help="e.g. 'Object Storage' (see the console).")],
    description: Annotated[
        str, typer.Option(help="What happened; '-' reads it from standard input.")
    ],
    severity: Annotated[str, typer.Option(help="Critical, High, Medium or Low.")] = "Medium",
) -> None:
    """Open a ticket."""
    st = state(ctx)
    text = typer.get_text_stream("stdin").read() if description == "-" else description
    with st.client() as api:
        ticket = api.open_ticket(subject, service, severity, text)
    _show(st.json, ticket)


@tickets_app.command("show")
def tickets_show(ctx: typer.Context, ticket_id: Id) -> None:
    """A ticket and its conversation."""
    st = state(ctx)
    with st.client() as api:
        ticket = api.support_ticket(ticket_id)
    if st.json:
        emit_json(ticket)
        return
    _show(False, ticket)
    for message in ticket["messages"]:
        typer.echo(f"\n--- {message['author']} at {message['created_at']}")
        typer.echo(message["body"])
        for file in message["attachments"]:
            typer.echo(f"[attachment] {file['filename']} ({file['size']} bytes)")


@tickets_app.command("reply")
def tickets_reply(
    ctx: typer.Context,
    ticket_id: Id,
    body: Annotated[str, typer.Option(help="Your reply; '-' reads it from standard input.")],
    attach: Annotated[
        list[Path] | None, typer.Option(help="A file to attach (repeat for several).")
    ] = None,
) -> None:
    """Reply on a ticket, with files if you like."""
    st = state(ctx)
    text = typer.get_text_stream("stdin").read() if body == "-" else body
    files = [(path.name, path.read_bytes()) for path in attach or []]
    with st.client() as api:
        message = api.reply_ticket(ticket_id, text, files)
    if st.json:
        emit_json(message)
        return
    st.say(f"Reply sent ({counted(len(message['attachments']), 'attachment')}).")


@tickets_app.command("close")
def tickets_close(ctx: typer.Context, ticket_id: Id) -> None:
    """Close a ticket (you can reopen it within 14 days)."""
    st = state(ctx)
    with st.client() as api:
        _show(st.json, api.close_ticket(ticket_id))


@tickets_app.command("reopen")
def tickets_reopen(ctx: typer.Context, ticket_id: Id) -> None:
    """Reopen a resolved or closed ticket (within 14 days)."""
    st = state(ctx)
    with st.client() as api:
        _show(st.json, api.reopen_ticket(ticket_id))


def _show(as_json: bool, ticket: dict[str, Any]) -> None:
    if as_json:
        emit_json(ticket)
        return
    emit_fields(
        {
            "number": f"#{ticket['number']}",
            "id": ticket["id"],
            "subject": ticket["subject"],
            "service": ticket["service"],
            "severity": ticket["severity"],
            "status": ticket["status"],
            "updated_at": ticket["updated_at"],
        }
    )
