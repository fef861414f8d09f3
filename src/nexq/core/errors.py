"""The root of every domain error; protocols map subclasses to their own error formats."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Iterator


class DomainError(Exception):
    """A rule of the domain was broken; the message is safe to show to the caller."""

    def __init__(self, message: str = "") -> None:
        # A docstring that wraps is one sentence still: its line breaks and indentation
        # never reach the caller's message.
        message = message or " ".join((self.__doc__ or type(self).__name__).split())
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The named thing does not exist."""


class Conflict(DomainError):
    """The action conflicts with the current state."""


class Invalid(DomainError):
    """The input breaks a rule."""


class Forbidden(DomainError):
    """The caller may not do this."""


class QuotaExceeded(Forbidden):
    """The action would go beyond a limit of the account's service tier."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class StorageFull(DomainError):
    """The server's storage is full; nothing was written. Retry once data is deleted or
    space is added."""

    def __init__(self) -> None:
        super().__init__(
            "The server's storage is full; nothing was written. Retry once data is deleted "
            "or the operator adds space."
        )


class Unavailable(DomainError):
    """The metadata database cannot be reached (a node that cannot check a request does not
    answer it); nothing was done, or a write's outcome is unknown. Retry shortly."""

    def __init__(self) -> None:
        super().__init__(
            "The service cannot reach its database right now; retry in a moment (a write "
            "that got this answer may or may not have been made)."
        )


class RateLimited(DomainError):
    """Too many requests in a short time; retry after a pause."""

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(
            f"Request rate above the account's {limit} limit; retry in {retry_after} s."
        )
        self.limit = limit
        self.retry_after = retry_after


def full_disk_as_domain(exc: BaseException) -> BaseException:
    """A full disk (SQLite's "database or disk is full", ENOSPC, EDQUOT) as :class:`StorageFull`
    so that every protocol can name it; any other error unchanged."""
    full = (
        isinstance(exc, sqlite3.OperationalError)
        and getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
    ) or (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
    if not full:
        return exc
    domain = StorageFull()
    domain.__cause__ = exc
    return domain


@contextlib.contextmanager
def full_disk_named() -> Iterator[None]:
    """Raise a full disk met inside the block as :class:`StorageFull` (other errors as they
    are): what every blob store wraps its writes in."""
    try:
        yield
    except OSError as exc:
        named = full_disk_as_domain(exc)
        if named is not exc:
            raise named from exc
        raise
