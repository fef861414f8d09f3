"""REST routes of Support: /v1/support/tickets for customers, the queue for operators."""

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from nexq.core.identity import Principal
from nexq.support.attachments import Upload, chunks_of
from nexq.support.model import (
    MAX_BODY,
    MAX_SUBJECT,
    SEVERITIES,
    STATUSES,
    Attachment,
    Message,
    Ticket,
)
from nexq.support.service import QueueEntry, Support
from nexq.web.rest.formats import iso, iso_or_none
from nexq.web.rest.security import Authorizer

Severity = Literal["Critical", "High", "Medium", "Low"]
Status = Literal["Open", "Waiting on customer", "Waiting on support", "Resolved", "Closed"]
# The literals type the answers in the OpenAPI document; they must say what the model says.
assert set(get_args(Severity)) == set(SEVERITIES) and set(get_args(Status)) == set(STATUSES)


def _one_of(values: tuple[str, ...]) -> Any:
    """An enum-like input field: a plain string, which the model checks, so a wrong value is
    Support's 400 naming the field and the allowed values (as a wrong service is) rather than
    a 422 of the parser; OpenAPI still lists the values."""
    return Field(json_schema_extra={"enum": list(values)})


class TicketIn(BaseModel):
    subject: Annotated[str, Field(min_length=1, max_length=MAX_SUBJECT)]
    service: Annotated[str, Field(min_length=1, max_length=100)]
    severity: Annotated[str, _one_of(SEVERITIES)]
    description: Annotated[str, Field(min_length=1, max_length=MAX_BODY)]


class ReplyIn(BaseModel):
    body: Annotated[str, Field(min_length=1, max_length=MAX_BODY)]


class StatusIn(BaseModel):
    status: Annotated[str, _one_of(STATUSES)]


class AssignIn(BaseModel):
    assignee: str | None = Field(description="An operator's account id; null: nobody.")


class PlanIn(BaseModel):
    plan: Annotated[str, Field(min_length=1, max_length=64)]


class AttachmentOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int

    @staticmethod
    def of(found: Attachment) -> "AttachmentOut":
        return AttachmentOut(
            id=found.id, filename=found.filename, content_type=found.content_type, size=found.size
        )


class MessageOut(BaseModel):
    id: str
    author: Literal["customer", "support"]
    body: str
    created_at: str
    attachments: list[AttachmentOut]

    @staticmethod
    def of(message: Message) -> "MessageOut":
        return MessageOut(
            id=message.id,
            author="support" if message.author_role == "support" else "customer",
            body=message.body,
            created_at=iso(message.created_at),
            attachments=[AttachmentOut.of(a) for a in message.attachments],
        )


class TicketOut(BaseModel):
    id: str
    number: int
    subject: str
    service: str
    severity: Severity
    status: Status
    plan: str
    created_at: str
    updated_at: str
    first_response_at: str | None

    @staticmethod
    def of(ticket: Ticket) -> "TicketOut":
        return TicketOut(
            id=ticket.id,
            number=ticket.number,
            subject=ticket.subject,
            service=ticket.service,
            severity=ticket.severity,  # type: ignore[arg-type]  # checked by the model
            status=ticket.status,  # type: ignore[arg-type]
            plan=ticket.plan,
            created_at=iso(ticket.created_at),
            updated_at=iso(ticket.updated_at),
            first_response_at=iso_or_none(ticket.first_response_at),
        )


class ConversationOut(TicketOut):
    messages: list[MessageOut]


class QueueItemOut(TicketOut):
    account_id: str
    assignee: str | None
    due_at: str | None = Field(description="When the first answer is due (null once answered).")
    breached: bool = Field(description="Unanswered past its plan's first-response target.")

    @staticmethod
    def of_entry(entry: QueueEntry) -> "QueueItemOut":
        return QueueItemOut(
            **TicketOut.of(entry.ticket).model_dump(),
            account_id=entry.ticket.account_id,
            assignee=entry.ticket.assignee,
            due_at=iso_or_none(entry.due_at),
            breached=entry.breached,
        )


class PlanOut(BaseModel):
    id: str
    name: str
    first_response_seconds: dict[str, int] = Field(description="Target per severity.")


def _uploads(files: list[UploadFile]) -> list[Upload]:
    return [Upload(f.filename or "file", f.content_type or "", chunks_of(f.file)) for f in files]


def router(support: Support, auth: Authorizer) -> APIRouter:
    """The Support routes."""
    api = APIRouter(prefix="/v1/support", tags=["support"])
    Read = Annotated[Principal, Depends(auth.require("support:read"))]
    Write = Annotated[Principal, Depends(auth.require("support:write"))]
    AdminRead = Annotated[Principal, Depends(auth.require("admin:read"))]
    AdminWrite = Annotated[Principal, Depends(auth.require("admin:write"))]

    def conversation_of(caller: Principal, ticket_id: str) -> ConversationOut:
        found = support.conversation(caller, ticket_id)
        return ConversationOut(
            **TicketOut.of(found.ticket).model_dump(),
            messages=[MessageOut.of(m) for m in found.messages],
        )

    @api.get("/plan", summary="The account's support plan")
    def plan(caller: Read) -> PlanOut:
        found = support.plan(caller.account.id)
        return PlanOut(id=found.id, name=found.name, first_response_seconds=found.first_response)

    @api.get("/services", summary="What a ticket can be about")
    def services(caller: Read) -> list[str]:
        return support.topics()

    @api.get("/tickets", summary="The account's tickets")
    def tickets(caller: Read) -> list[TicketOut]:
        """Most recently updated first."""
        return [TicketOut.of(t) for t in support.tickets(caller)]

    @api.post("/tickets", status_code=201, summary="Open a ticket")
    def open_ticket(body: TicketIn, caller: Write) -> ConversationOut:
        """Attach files afterwards with POST …/attachments. Refused (403 quota-exceeded)
        past the account's support_open_tickets limit."""
        made = support.open(caller, body.subject, body.service, body.severity, body.description)
        return conversation_of(caller, made.id)

    @api.get("/tickets/{ticket_id}", summary="A ticket and its conversation")
    def ticket(ticket_id: str, caller: Read) -> ConversationOut:
        return conversation_of(caller, ticket_id)

    @api.post("/tickets/{ticket_id}/replies", status_code=201, summary="Reply")
    def reply(ticket_id: str, body: ReplyIn, caller: Write) -> MessageOut:
        return MessageOut.of(support.reply(caller, ticket_id, body.body))

    @api.post("/tickets/{ticket_id}/attachments", status_code=201, summary="Reply with files")
    def attach(
        ticket_id: str,
        caller: Write,
        files: Annotated[list[UploadFile], File(description="Up to 5 files of 10 MiB.")],
        body: Annotated[str, Form(min_length=1, max_length=MAX_BODY)] = "Attached files.",
    ) -> MessageOut:
        """A reply carrying files (multipart/form-data: ``files`` and an optional ``body``)."""
        return MessageOut.of(support.reply(caller, ticket_id, body, _uploads(files)))

    @api.get(
        "/tickets/{ticket_id}/attachments/{attachment_id}",
        summary="Download an attachment",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def download(ticket_id: str, attachment_id: str, caller: Read) -> StreamingResponse:
        """Always a download (never shown inline): attachments are files from customers."""
        found, chunks = support.attachment(caller, ticket_id, attachment_id)
        return StreamingResponse(
            chunks,
            media_type="application/octet-stream",
            headers={
                "content-disposition": f'attachment; filename="{found.filename}"',
                "x-content-type-options": "nosniff",
                "content-length": str(found.size),
            },
        )

    @api.post("/tickets/{ticket_id}/close", summary="Close a ticket")
    def close(ticket_id: str, caller: Write) -> TicketOut:
        return TicketOut.of(support.close(caller, ticket_id))

    @api.post("/tickets/{ticket_id}/reopen", summary="Reopen a ticket")
    def reopen(ticket_id: str, caller: Write) -> TicketOut:
        """Within 14 days of it being resolved or closed."""
        return TicketOut.of(support.reopen(caller, ticket_id))

    @api.get("/queue", tags=["admin"], summary="The operators' queue")
    def queue(caller: AdminRead) -> list[QueueItemOut]:
        """Every account's open tickets by severity then age; breached targets marked."""
        return [QueueItemOut.of_entry(e) for e in support.queue(caller)]

    @api.post("/tickets/{ticket_id}/status", tags=["admin"], summary="Set the status")
    def set_status(ticket_id: str, body: StatusIn, caller: AdminWrite) -> TicketOut:
        return TicketOut.of(support.set_status(caller, ticket_id, body.status))

    @api.post("/tickets/{ticket_id}/assignee", tags=["admin"], summary="Assign")
    def assign(ticket_id: str, body: AssignIn, caller: AdminWrite) -> TicketOut:
        return TicketOut.of(support.assign(caller, ticket_id, body.assignee))

    @api.put("/accounts/{account_id}/plan", tags=["admin"], summary="Assign a support plan")
    def assign_plan(account_id: str, body: PlanIn, caller: AdminWrite) -> PlanOut:
        found = support.assign_plan(account_id, body.plan)
        return PlanOut(id=found.id, name=found.name, first_response_seconds=found.first_response)

    return api
