"""Accounts' domain errors. They know nothing of HTTP; each protocol maps them."""

from nexq.core.errors import Conflict, NotFound


class NoSuchApiKey(NotFound):
    """The specified API key does not exist."""


class EmailTaken(Conflict):
    """An account with this email already exists."""
