"""Support's console pages: a customer's tickets, a ticket's conversation, the operators' queue."""

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from nexq.core.errors import DomainError
from nexq.core.identity import Principal
from nexq.support.attachments import Upload, chunks_of
from nexq.support.errors import NoSuchTicket
from nexq.support.model import REOPEN_DAYS, SEVERITIES, STATUSES
from nexq.support.service import Support
from nexq.web.console.web import Flash, Pages

Text = Annotated[str, Form()]
Files = Annotated[list[UploadFile], File()]
TICKETS = "/support/tickets"


def _uploads(files: list[UploadFile]) -> list[Upload]:
    # A form's empty file input arrives as one file without a name: no attachment.
    return [
        Upload(f.filename, f.content_type or "", chunks_of(f.file)) for f in files if f.filename
    ]


def router(support: Support, pages: Pages) -> APIRouter:
    """/support/tickets (customers) and /support/queue (operators)."""
    web = APIRouter(prefix="/support")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def new_page(
        request: Request, caller: Principal, form: dict[str, str] | None = None, error: str = ""
    ) -> Response:
        return pages.render(
            request,
            "support/new.html",
            caller,
            400 if error else 200,
            form=form or {"severity": "Medium"},
            topics=support.topics(),
            severities=SEVERITIES,
            plan=support.plan(caller.account.id),
            error=error,
        )

    def ticket_page(
        request: Request, caller: Principal, ticket_id: str, body: str = "", error: str = ""
    ) -> Response:
        found = support.conversation(caller, ticket_id)
        operator = caller.account.role == "operator"
        return pages.render(
            request,
            "support/ticket.html",
            caller,
            400 if error else 200,
            ticket=found.ticket,
            messages=found.messages,
            answering=operator and found.ticket.account_id != caller.account.id,
            statuses=STATUSES,
            reopen_days=REOPEN_DAYS,
            body=body,
            error=error,
        )

    @web.get("")
    def support_home(request: Request) -> Response:
        return pages.redirect(request, TICKETS)

    @web.get("/tickets")
    def tickets(request: Request, caller: SignedIn) -> Response:
        return pages.render(
            request,
            "support/tickets.html",
            caller,
            tickets=support.tickets(caller),
            plan=support.plan(caller.account.id),
        )

    @web.get("/tickets/new")
    def new_ticket(request: Request, caller: SignedIn) -> Response:
        return new_page(request, caller)

    @web.post("/tickets")
    def open_ticket(
        request: Request,
        caller: SignedIn,
        subject: Text = "",
        service: Text = "",
        severity: Text = "",
        description: Text = "",
        files: Files = [],  # noqa: B006 - FastAPI copies defaults; no file is a real case
    ) -> Response:
        form = {"subject": subject, "service": service, "severity": severity}
        form["description"] = description
        try:
            made = support.open(caller, subject, service, severity, description, _uploads(files))
        except DomainError as exc:
            return new_page(request, caller, form, exc.message)
        done = Flash("success", f"Ticket #{made.number} opened. We answer here and by email.")
        return pages.redirect(request, f"{TICKETS}/{made.id}", done)

    @web.get("/tickets/{ticket_id}")
    def ticket(request: Request, ticket_id: str, caller: SignedIn) -> Response:
        return ticket_page(request, caller, ticket_id)

    @web.post("/tickets/{ticket_id}/replies")
    def reply(
        request: Request,
        ticket_id: str,
        caller: SignedIn,
        body: Text = "",
        files: Files = [],  # noqa: B006 - FastAPI copies defaults; no file is a real case
    ) -> Response:
        try:
            support.reply(caller, ticket_id, body, _uploads(files))
        except DomainError as exc:
            if isinstance(exc, NoSuchTicket):
                raise
            return ticket_page(request, caller, ticket_id, body, exc.message)
        return pages.redirect(request, f"{TICKETS}/{ticket_id}", Flash("success", "Reply sent."))

    @web.post("/tickets/{ticket_id}/close")
    def close(request: Request, ticket_id: str, caller: SignedIn, confirm: Text = "") -> Response:
        found = support.conversation(caller, ticket_id).ticket
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Close ticket #{found.number}?",
                message=f"You can reopen it within {REOPEN_DAYS} days.",
                action=f"{TICKETS}/{ticket_id}/close",
                button="Close ticket",
                back=f"{TICKETS}/{ticket_id}",
                style="warning",
            )
        support.close(caller, ticket_id)
        closed = Flash("success", f"Ticket #{found.number} closed.")
        return pages.redirect(request, f"{TICKETS}/{ticket_id}", closed)

    @web.post("/tickets/{ticket_id}/reopen")
    def reopen(request: Request, ticket_id: str, caller: SignedIn) -> Response:
        found = support.reopen(caller, ticket_id)
        again = Flash("success", f"Ticket #{found.number} reopened.")
        return pages.redirect(request, f"{TICKETS}/{ticket_id}", again)

    @web.get("/tickets/{ticket_id}/attachments/{attachment_id}")
    def download(
        request: Request, ticket_id: str, attachment_id: str, caller: SignedIn
    ) -> Response:
        found, chunks = support.attachment(caller, ticket_id, attachment_id)
        return StreamingResponse(
            chunks,
            media_type="application/octet-stream",
            headers={
                "content-disposition": f'attachment; filename="{found.filename}"',
                "content-length": str(found.size),
            },
        )

    @web.get("/queue")
    def queue(request: Request, caller: SignedIn) -> Response:
        return pages.render(request, "support/queue.html", caller, entries=support.queue(caller))

    @web.post("/tickets/{ticket_id}/status")
    def set_status(
        request: Request, ticket_id: str, caller: SignedIn, status: Text = ""
    ) -> Response:
        found = support.set_status(caller, ticket_id, status)
        moved = Flash("success", f"Ticket #{found.number} is now {found.status}.")
        return pages.redirect(request, f"{TICKETS}/{ticket_id}", moved)

    @web.post("/tickets/{ticket_id}/assignee")
    def assign(request: Request, ticket_id: str, caller: SignedIn, mine: Text = "") -> Response:
        found = support.assign(caller, ticket_id, caller.account.id if mine == "yes" else None)
        text = "assigned to you" if found.assignee else "unassigned"
        return pages.redirect(
            request, f"{TICKETS}/{ticket_id}", Flash("success", f"Ticket #{found.number} {text}.")
        )

    return web
