"""``nexq admin migrate``: bring the metadata database's schema up to date."""

from __future__ import annotations

from typing import Annotated

import typer

from nexq.adminkit import DataDir, emit, fail
from nexq.app import SCHEMAS, open_database
from nexq.core import sql
from nexq.core.db import SchemaMismatch
from nexq.settings import Settings


def migrate(
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="postgresql://… URL; default: SQLite in the data dir [env NEXQ_DATABASE_URL].",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Apply the migrations this Nexq has and the database lacks, in one transaction; prints
    {"engine", "versions": {owner: version}}. Run it before starting nodes of a new version
    on PostgreSQL (they refuse a schema they do not know); SQLite migrates at start too."""
    try:
        settings = Settings.from_env(data_dir=data_dir, database_url=database)
    except ValueError as exc:
        fail(str(exc))
    if settings.database_url:
        from nexq.core import postgres  # psycopg: only a PostgreSQL database loads it

        try:
            versions = postgres.migrate(settings.database_url, SCHEMAS)
        except SchemaMismatch as exc:
            fail(str(exc))
        except sql.postgresql_errors() as exc:
            # The message names what failed; the URL (and any password in it) is not echoed.
            fail(f"the database refused the migration: {exc}")
        engine = "postgresql"
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            open_database(settings).close()  # SQLite migrates as it opens
        except SchemaMismatch as exc:
            fail(str(exc))
        engine = "sqlite"
        versions = {schema.owner: len(schema.migrations) for schema in SCHEMAS}
    emit({"engine": engine, "versions": versions})
