"""Use cases of Support: customers open and follow tickets, operators answer from a queue."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from nexq.core.errors import Invalid
from nexq.core.identity import Principal
from nexq.core.ids import new_id
from nexq.core.notifications import Notifier
from nexq.core.quotas import NoQuotas, Quotas
from nexq.support.attachments import AttachmentFiles, Upload, clean_filename
from nexq.support.errors import NoSuchAttachment, NoSuchTicket, OperatorsOnly, TicketClosed
from nexq.support.model import (
    CUSTOMER,
    MAX_ATTACHMENTS,
    OPEN_STATUSES,
    REOPEN_DAYS,
    SEVERITIES,
    SUPPORT,
    Attachment,
    Message,
    Plan,
    Ticket,
    check_body,
    check_severity,
    check_status,
    check_subject,
)
from nexq.support.plans import PlanCatalog
from nexq.support.port import SupportStore

OPEN_TICKETS_LIMIT = "support_open_tickets"


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A ticket as the operators' queue shows it: when its first answer is due."""

    ticket: Ticket
    due_at: float | None  # None once answered
    breached: bool  # not answered and past its plan's target


@dataclass(frozen=True, slots=True)
class Conversation:
    """A ticket with its messages."""

    ticket: Ticket
    messages: list[Message]


class Support:
    """Tickets, their conversation and attachments, plans, and the operators' queue."""

    def __init__(
        self,
        store: SupportStore,
        plans: PlanCatalog,
        files: AttachmentFiles,
        notifier: Notifier,
        topics: Callable[[], Sequence[str]],
        operators: Callable[[], Sequence[str]],
        quotas: Quotas | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._plans = plans
        self._files = files
        self._notifier = notifier
        self._topics = topics  # the services a ticket can be about
        self._operators = operators  # account ids of the operators, told of customer replies
        self._quotas: Quotas = quotas or NoQuotas()
        self._clock = clock

    # plans --------------------------------------------------------------------------------
    @property
    def plans(self) -> PlanCatalog:
        return self._plans

    def plan(self, account_id: str) -> Plan:
        """The account's plan: the one the operator assigned, else the default."""
        assigned = self._store.plan_of(account_id)
        if assigned is not None and assigned in self._plans.plans:
            return self._plans.plans[assigned]
        return self._plans.get(self._plans.default)

    def assign_plan(self, account_id: str, plan_id: str) -> Plan:
        """Give the account a plan (operators); the default plan clears the assignment."""
        plan = self._plans.get(plan_id)
        self._store.set_plan(account_id, None if plan_id == self._plans.default else plan_id)
        return plan

    def open_tickets(self, account_id: str) -> int:
        """What the account uses of its support_open_tickets limit."""
        return self._store.open_tickets(account_id)

    def topics(self) -> list[str]:
        return list(self._topics())

    # customers ----------------------------------------------------------------------------
    def open(
        self,
        caller: Principal,
        subject: str,
        service: str,
        severity: str,
        description: str,
        uploads: Sequence[Upload] = (),
    ) -> Ticket:
        """A new ticket; QuotaExceeded past the account's open-ticket limit."""
        subject = check_subject(subject)
        severity = check_severity(severity)
        description = check_body(description)
        topics = self.topics()
        if service not in topics:
            raise Invalid(f"service: {service!r} is not one of {', '.join(topics)}.")
        now = self._clock()
        ticket = Ticket(
            id=new_id(),
            number=0,  # the store numbers it
            account_id=caller.account.id,
            subject=subject,
            service=service,
            severity=severity,
            status="Open",
            plan=self.plan(caller.account.id).id,
            created_at=now,
            updated_at=now,
            first_response_at=None,
            closed_at=None,
            assignee=None,
        )
        first = self._message(ticket.id, caller, CUSTOMER, description, uploads, now)
        limit = self._quotas.limit(caller.account.id, OPEN_TICKETS_LIMIT)
        try:
            made = self._store.add_ticket(ticket, first, limit)
        except BaseException:
            self._files.delete([a.blob for a in first.attachments])
            raise
        self._tell_support(made, f"New {made.severity} ticket #{made.number}: {made.subject}")
        return made

    def tickets(self, caller: Principal) -> list[Ticket]:
        """The caller's account's tickets, most recently updated first."""
        return self._store.list_tickets(caller.account.id)

    def conversation(self, caller: Principal, ticket_id: str) -> Conversation:
        """A ticket and its messages; another account's ticket does not exist for a customer."""
        ticket = self._ticket(caller, ticket_id)
        return Conversation(ticket, self._store.messages(ticket.id))

    def reply(
        self, caller: Principal, ticket_id: str, body: str, uploads: Sequence[Upload] = ()
    ) -> Message:
        """Add to the conversation. A customer's reply waits on support; support's on the
        customer (and the first one meets the plan's first-response target)."""
        ticket = self._ticket(caller, ticket_id)
        if ticket.status == "Closed":
            raise TicketClosed(
                f"Ticket #{ticket.number} is closed; reopen it (within {REOPEN_DAYS} days of "
                "closing) or open a new one."
            )
        body = check_body(body, "reply")
        now = self._clock()
        role = self._role(caller, ticket)
        message = self._message(ticket.id, caller, role, body, uploads, now)
        changed = replace(
            ticket,
            status="Waiting on support" if role == CUSTOMER else "Waiting on customer",
            updated_at=now,
            closed_at=None,
            first_response_at=ticket.first_response_at or (now if role == SUPPORT else None),
        )
        try:
            self._store.add_message(message, changed)
        except BaseException:
            self._files.delete([a.blob for a in message.attachments])
            raise
        if role == SUPPORT:
            self._notifier.notify(
                ticket.account_id,
                "support",
                f"Support replied on ticket #{ticket.number}",
                f"Support replied on ticket #{ticket.number} ({ticket.subject}):\n\n{body}",
            )
        else:
            self._tell_support(changed, f"Customer replied on ticket #{ticket.number}")
        return message

    def close(self, caller: Principal, ticket_id: str) -> Ticket:
        """The customer (or support) closes the ticket."""
        ticket = self._ticket(caller, ticket_id)
        if ticket.status == "Closed":
            return ticket
        now = self._clock()
        closed = replace(ticket, status="Closed", updated_at=now, closed_at=now)
        self._store.update_ticket(closed)
        return closed

    def reopen(self, caller: Principal, ticket_id: str) -> Ticket:
        """A resolved or closed ticket opens again, within REOPEN_DAYS of closing."""
        ticket = self._ticket(caller, ticket_id)
        if ticket.open:
            raise Invalid(f"Ticket #{ticket.number} is open already.")
        now = self._clock()
        if ticket.closed_at is not None and now - ticket.closed_at > REOPEN_DAYS * 86400:
            raise TicketClosed(
                f"Ticket #{ticket.number} was closed more than {REOPEN_DAYS} days ago; "
                "open a new ticket (you can mention this one)."
            )
        reopened = replace(ticket, status="Waiting on support", updated_at=now, closed_at=None)
        self._store.update_ticket(reopened)
        self._tell_support(reopened, f"Ticket #{ticket.number} reopened")
        return reopened

    def attachment(
        self, caller: Principal, ticket_id: str, attachment_id: str
    ) -> tuple[Attachment, Iterator[bytes | memoryview]]:
        """An attachment of a ticket the caller may read, and its bytes."""
        for message in self.conversation(caller, ticket_id).messages:
            for found in message.attachments:
                if found.id == attachment_id:
                    return found, self._files.read(found.blob, found.size)
        raise NoSuchAttachment(f"No attachment {attachment_id} on this ticket.")

    # operators ----------------------------------------------------------------------------
    def queue(self, caller: Principal, include_waiting: bool = True) -> list[QueueEntry]:
        """Every account's open tickets, by severity then age; breached targets marked."""
        self._operator(caller)
        statuses = OPEN_STATUSES if include_waiting else frozenset({"Open", "Waiting on support"})
        now = self._clock()
        entries = []
        for ticket in self._store.queue(statuses):
            due = None
            if ticket.first_response_at is None:
                plan = self._plans.plans.get(ticket.plan) or self._plans.get(self._plans.default)
                due = ticket.created_at + plan.first_response[ticket.severity]
            entries.append(QueueEntry(ticket, due, due is not None and now > due))
        return sorted(
            entries,
            key=lambda e: (SEVERITIES.index(e.ticket.severity), e.ticket.created_at),
        )

    def set_status(self, caller: Principal, ticket_id: str, status: str) -> Ticket:
        """Support moves a ticket (e.g. to Resolved)."""
        self._operator(caller)
        ticket = self._ticket(caller, ticket_id)
        status = check_status(status)
        now = self._clock()
        done = status in ("Resolved", "Closed")
        changed = replace(
            ticket,
            status=status,
            updated_at=now,
            closed_at=(ticket.closed_at or now) if done else None,
        )
        self._store.update_ticket(changed)
        if status == "Resolved":
            self._notifier.notify(
                ticket.account_id,
                "support",
                f"Ticket #{ticket.number} resolved",
                f"Support marked ticket #{ticket.number} ({ticket.subject}) resolved. Reply or "
                f"reopen it within {REOPEN_DAYS} days if the problem is still there.",
            )
        return changed

    def assign(self, caller: Principal, ticket_id: str, operator_id: str | None) -> Ticket:
        """Give the ticket to an operator (None: to nobody)."""
        self._operator(caller)
        if operator_id is not None and operator_id not in self._operators():
            raise Invalid(f"assignee: {operator_id!r} is not an operator.")
        ticket = self._ticket(caller, ticket_id)
        changed = replace(ticket, assignee=operator_id, updated_at=self._clock())
        self._store.update_ticket(changed)
        return changed

    # --------------------------------------------------------------------------------------
    def _ticket(self, caller: Principal, ticket_id: str) -> Ticket:
        ticket = self._store.get_ticket(ticket_id)
        if ticket is None or (
            ticket.account_id != caller.account.id and caller.account.role != "operator"
        ):
            raise NoSuchTicket(f"No ticket {ticket_id} in this account.")
        return ticket

    @staticmethod
    def _role(caller: Principal, ticket: Ticket) -> str:
        # An operator answering another account's ticket is support; on their own, a customer.
        if caller.account.role == "operator" and ticket.account_id != caller.account.id:
            return SUPPORT
        return CUSTOMER

    @staticmethod
    def _operator(caller: Principal) -> None:
        # Not found rather than forbidden: the operators' pages and actions do not exist
        # for customers (and a customer's answer then never depends on whose ticket it is).
        if caller.account.role != "operator":
            raise OperatorsOnly("There is no such page.")

    def _message(
        self,
        ticket_id: str,
        caller: Principal,
        role: str,
        body: str,
        uploads: Sequence[Upload],
        now: float,
    ) -> Message:
        if len(uploads) > MAX_ATTACHMENTS:
            raise Invalid(f"attachments: at most {MAX_ATTACHMENTS} files per message.")
        message_id = new_id()
        stored: list[Attachment] = []
        try:
            for upload in uploads:
                blob, size = self._files.write(upload)
                stored.append(
                    Attachment(
                        new_id(),
                        ticket_id,
                        message_id,
                        clean_filename(upload.filename),
                        upload.content_type or "application/octet-stream",
                        size,
                        blob,
                    )
                )
        except BaseException:
            self._files.delete([a.blob for a in stored])
            raise
        return Message(message_id, ticket_id, caller.account.id, role, body, now, tuple(stored))

    def _tell_support(self, ticket: Ticket, subject: str) -> None:
        targets = [ticket.assignee] if ticket.assignee else list(self._operators())
        for operator_id in targets:
            self._notifier.notify(
                operator_id,
                "support",
                subject,
                f"{subject} ({ticket.severity}, {ticket.service}).",
            )
