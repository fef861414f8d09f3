"""The Databases service's errors (protocols map the core bases to their formats)."""

from nexq.core.errors import Conflict, NotFound


class NoSuchDatabase(NotFound):
    """The database does not exist."""


class DatabaseExists(Conflict):
    """The account has a database of that name."""


class NotRunning(Conflict):
    """The database is not running."""


class BackupsUnreadable(Conflict):
    """The backup repository did not answer; nothing was changed."""
