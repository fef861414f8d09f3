"""Support's types and rules: plans, severities, statuses, tickets and their messages."""

from __future__ import annotations

from dataclasses import dataclass

from nexq.core.errors import Invalid

SEVERITIES = ("Critical", "High", "Medium", "Low")  # most urgent first: the queue's order
STATUSES = ("Open", "Waiting on customer", "Waiting on support", "Resolved", "Closed")
# A ticket that is still someone's to act on.
OPEN_STATUSES = frozenset({"Open", "Waiting on customer", "Waiting on support"})
REOPEN_DAYS = 14  # a resolved or closed ticket can be reopened by its customer this long
MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 5  # per message
CUSTOMER = "customer"
SUPPORT = "support"  # an operator, answering


def check_subject(subject: str) -> str:
    subject = subject.strip()
    if not 1 <= len(subject) <= MAX_SUBJECT:
        raise Invalid(f"subject: 1 to {MAX_SUBJECT} characters.")
    return subject


def check_body(body: str, field: str = "description") -> str:
    if not body.strip():
        raise Invalid(f"{field}: write what happened (it cannot be empty).")
    if len(body) > MAX_BODY:
        raise Invalid(f"{field}: at most {MAX_BODY} characters.")
    return body


def check_severity(severity: str) -> str:
    for known in SEVERITIES:
        if severity.strip().lower() == known.lower():
            return known
    raise Invalid(f"severity: {severity!r} is not one of {', '.join(SEVERITIES)}.")


def check_status(status: str) -> str:
    for known in STATUSES:
        if status.strip().lower() == known.lower():
            return known
    raise Invalid(f"status: {status!r} is not one of {', '.join(STATUSES)}.")


@dataclass(frozen=True, slots=True)
class Plan:
    """A support plan: the target time to a first response, per severity, in seconds."""

    id: str
    name: str
    first_response: dict[str, int]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A customer's request for help."""

    id: str
    number: int  # shown to people: #1042
    account_id: str
    subject: str
    service: str
    severity: str
    status: str
    plan: str  # the account's plan when it was opened: its targets apply
    created_at: float
    updated_at: float
    first_response_at: float | None
    closed_at: float | None  # when it was resolved or closed (reopening is measured from it)
    assignee: str | None  # an operator's account id

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message; served as a download only."""

    id: str
    ticket_id: str
    message_id: str
    filename: str
    content_type: str
    size: int
    blob: str  # the path in the attachment blob store


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a ticket's conversation."""

    id: str
    ticket_id: str
    author_id: str
    author_role: str  # customer | support
    body: str
    created_at: float
    attachments: tuple[Attachment, ...] = ()
