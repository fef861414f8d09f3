"""``nexq admin support …``: the operators' queue from the server's command line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from nexq.adminkit import Commands, DataDir, Opener, emit
from nexq.core.identity import Principal
from nexq.support.model import Ticket
from nexq.support.service import Support

OPERATOR = "operator@nexq.local"


class Installation(Protocol):
    """What the commands need of a built installation."""

    support: Support

    def operator(self, email: str) -> Principal:
        """The principal of the operator account ``email`` (every scope of its role)."""
        ...


As = Annotated[str, typer.Option("--as", help="The operator account acting.")]
Ticket_ = Annotated[str, typer.Argument(metavar="TICKET_ID")]


def _when(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ticket(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "account_id": ticket.account_id,
        "subject": ticket.subject,
        "service": ticket.service,
        "severity": ticket.severity,
        "status": ticket.status,
        "plan": ticket.plan,
        "assignee": ticket.assignee,
        "created_at": _when(ticket.created_at),
        "first_response_at": _when(ticket.first_response_at),
    }


def commands(open_installation: Opener[Installation]) -> Commands:
    """The ``support`` group of ``nexq admin``; each prints JSON."""
    cli = typer.Typer(help="Support: the queue, answers, statuses, plans.", no_args_is_help=True)

    @contextlib.contextmanager
    def acting(data_dir: Path | None, email: str) -> Iterator[tuple[Support, Principal]]:
        with open_installation(data_dir) as nexq:
            yield nexq.support, nexq.operator(email)

    @cli.command("queue")
    def queue(data_dir: DataDir = None, actor: As = OPERATOR) -> None:
        """Every account's open tickets, most severe first, then oldest."""
        with acting(data_dir, actor) as (support, caller):
            entries = support.queue(caller)
        emit(
            [
                {**_ticket(e.ticket), "due_at": _when(e.due_at), "breached": e.breached}
                for e in entries
            ]
        )

    @cli.command("reply")
    def reply(
        ticket_id: Ticket_,
        body: Annotated[str, typer.Option(help="The answer.")],
        data_dir: DataDir = None,
        actor: As = OPERATOR,
    ) -> None:
        """Answer a ticket as support (the customer is notified)."""
        with acting(data_dir, actor) as (support, caller):
            support.reply(caller, ticket_id, body)
            emit(_ticket(support.conversation(caller, ticket_id).ticket))

    @cli.command("status")
    def status(
        ticket_id: Ticket_,
        value: Annotated[str, typer.Argument(metavar="STATUS")],
        data_dir: DataDir = None,
        actor: As = OPERATOR,
    ) -> None:
        """Set a ticket's status (Open, Waiting on customer, …, Resolved, Closed)."""
        with acting(data_dir, actor) as (support, caller):
            emit(_ticket(support.set_status(caller, ticket_id, value)))

    @cli.command("assign")
    def assign(
        ticket_id: Ticket_,
        to: Annotated[str | None, typer.Option(help="An operator's email; none: nobody.")] = None,
        data_dir: DataDir = None,
        actor: As = OPERATOR,
    ) -> None:
        """Give a ticket to an operator."""
        with open_installation(data_dir) as nexq:
            caller = nexq.operator(actor)
            assignee = nexq.operator(to).account.id if to else None
            emit(_ticket(nexq.support.assign(caller, ticket_id, assignee)))

    @cli.command("plan")
    def plan(
        account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID")],
        plan_id: Annotated[str, typer.Argument(metavar="PLAN")],
        data_dir: DataDir = None,
    ) -> None:
        """Give an account a support plan (standard, premium, enterprise …)."""
        with open_installation(data_dir) as nexq:
            found = nexq.support.assign_plan(account_id, plan_id)
        emit({"account_id": account_id, "plan": found.id, "first_response": found.first_response})

    return {"support": cli}
