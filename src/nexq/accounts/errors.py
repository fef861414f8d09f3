"""Accounts' domain errors. They know nothing of HTTP; each protocol maps them."""

from nexq.core.errors import Conflict, DomainError, Forbidden, NotFound


class BeyondCallerScopes(Forbidden):
    """The caller would obtain or affect a key holding scopes the caller lacks."""

    def __init__(self, action: str, scopes: list[str]) -> None:
        super().__init__(
            f"{action}: the key holds scopes this caller lacks ({', '.join(scopes)}); "
            "a key can never obtain or affect a key wider than itself."
        )
        self.scopes = scopes


class NoSuchApiKey(NotFound):
    """The specified API key does not exist."""


class EmailTaken(Conflict):
    """An account with this email already exists."""


class TooManyAttempts(DomainError):
    """Too many failed logins: wait before trying again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed logins for this account; try again in {retry_after} seconds."
        )
        self.retry_after = retry_after
