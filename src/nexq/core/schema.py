"""The kernel's own tables. Append new migrations; never edit one that has shipped.

``legacy`` is the number of the migration that held each one in the single list that
existing data directories were made with (``core.db`` adopts them by it)."""

from nexq.core.db import Migration, Schema

SCHEMA = Schema(
    "core",
    [
        # the auth generation: every process drops its cached credentials when it moves
        Migration(
            """
            CREATE TABLE generations (
                name TEXT PRIMARY KEY,
                value INTEGER NOT NULL
            ) WITHOUT ROWID;
            INSERT INTO generations VALUES ('auth', 0)

            """,
            legacy=1,
        ),
        # the key-encryption keys of sealed blobs, sealed with the master key (core.data_keys)
        Migration(
            """
            CREATE TABLE data_keys (
                id TEXT PRIMARY KEY,
                sealed BLOB NOT NULL,
                created_at REAL NOT NULL
            ) WITHOUT ROWID
            """
        ),
    ],
)
