"""Accounts' domain errors. They know nothing of HTTP; each protocol maps them."""

from nexq.core.errors import Conflict, NotFound


class NoSuchApiKey(NotFound):
    """The specified API key does not exist."""


class EmailTaken(Conflict):
    """An account with this email already exists."""


class NoSuchResetLink(NotFound):
    """The password reset link is unknown, used or expired."""


class AccountHolds(Conflict):
    """The account still holds resources; it cannot be deleted before they are."""
