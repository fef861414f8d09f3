"""Support's domain errors; each protocol maps them."""

from nexq.core.errors import Conflict, NotFound


class NoSuchTicket(NotFound):
    """The ticket does not exist (or belongs to another account)."""


class NoSuchAttachment(NotFound):
    """The attachment does not exist."""


class OperatorsOnly(NotFound):
    """Only operators work the support queue: for a customer, it does not exist."""


class TicketClosed(Conflict):
    """The ticket is closed: reopen it (within 14 days) or open a new one."""
