"""What Support needs from a store."""

from __future__ import annotations

from typing import Protocol

from nexq.support.model import Message, Ticket


class SupportStore(Protocol):
    """Tickets, messages and attachments, and the plans the operator assigned."""

    def add_ticket(self, ticket: Ticket, first: Message, max_open: int | None) -> Ticket:
        """Insert with the next ticket number; QuotaExceeded when the account already has
        ``max_open`` open tickets (counted in the same transaction)."""

    def get_ticket(self, ticket_id: str) -> Ticket | None: ...
    def list_tickets(self, account_id: str) -> list[Ticket]:
        """The account's tickets, most recently updated first."""

    def queue(self, statuses: frozenset[str]) -> list[Ticket]:
        """Every account's tickets in ``statuses`` (the operators' queue)."""

    def add_message(self, message: Message, ticket: Ticket) -> None:
        """Append ``message`` and store ``ticket`` (its new status and times) at once."""

    def update_ticket(self, ticket: Ticket) -> None: ...
    def messages(self, ticket_id: str) -> list[Message]:
        """The conversation, oldest first, with each message's attachments."""

    def open_tickets(self, account_id: str) -> int:
        """How many of the account's tickets are still open (its support_open_tickets use)."""

    def plan_of(self, account_id: str) -> str | None: ...
    def set_plan(self, account_id: str, plan: str | None) -> None: ...
