"""The SQL registry store (SQLite or PostgreSQL), in the metadata database: one class over
the rows of each concern (sql_registries, sql_content, sql_housekeeping)."""

from __future__ import annotations

from nexq.core.sql import Database
from nexq.registry.sql_content import ContentRows
from nexq.registry.sql_housekeeping import HousekeepingRows
from nexq.registry.sql_registries import RegistryRows


class SqlRegistry(RegistryRows, ContentRows, HousekeepingRows):
    """The registry's store on a SQL :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db
