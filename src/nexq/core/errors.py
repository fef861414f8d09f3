"""The root of every domain error; protocols map subclasses to their own error formats."""


class DomainError(Exception):
    """A rule of the domain was broken; the message is safe to show to the caller."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__doc__ or type(self).__name__)
        self.message = message or (self.__doc__ or type(self).__name__).strip()


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


class RateLimited(DomainError):
    """Too many requests in a short time; retry after a pause."""

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(
            f"Request rate above the account's {limit} limit; retry in {retry_after} s."
        )
        self.limit = limit
        self.retry_after = retry_after
