"""The tables the Databases service owns. Append new migrations; never edit one that has
shipped."""

from nexq.core.db import Migration, Schema

SCHEMA = Schema(
    "databases",
    [
        # every database, deleted ones kept (status Deleted) for what they were metered; the
        # installation's certificate authority, its key sealed with the master key
        Migration(
            """
            CREATE TABLE databases_instances (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL,
                name TEXT NOT NULL,
                plan TEXT NOT NULL,
                replicas INTEGER NOT NULL,
                backups INTEGER NOT NULL,
                status TEXT NOT NULL,
                reason TEXT NOT NULL,
                port INTEGER,
                password_verifier TEXT NOT NULL,
                created_at REAL NOT NULL,
                running_since REAL,
                deleted_at REAL
            );
            CREATE INDEX databases_instances_by_account
                ON databases_instances(account_id, name);
            CREATE TABLE databases_authority (
                id TEXT PRIMARY KEY,
                certificate TEXT NOT NULL,
                sealed_key BLOB NOT NULL,
                created_at REAL NOT NULL
            );
            """
        ),
    ],
)
