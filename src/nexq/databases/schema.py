"""The tables the Databases service owns. Append new migrations; never edit one that has
shipped."""

from nexq.core.db import Migration, Schema

SCHEMA = Schema(
    "databases",
    [
        # every database with the sizes of its plan when it was made (the operator may edit
        # or retire a plan later), deleted ones kept (status Deleted) for metering (a
        # restored one names its source and target time; a backup asked for is a time); the
        # service's secrets sealed with the master key: the certificate authority's key and
        # the backup repository's access key
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
                deleted_at REAL,
                restore_source TEXT,
                restore_target REAL,
                backup_requested_at REAL,
                vcpus INTEGER NOT NULL,
                memory_mib INTEGER NOT NULL,
                storage_mib INTEGER NOT NULL
            );
            CREATE INDEX databases_instances_by_account
                ON databases_instances(account_id, name);
            CREATE TABLE databases_secrets (
                id TEXT PRIMARY KEY,
                public TEXT NOT NULL,
                sealed BLOB NOT NULL,
                created_at REAL NOT NULL
            );
            """
        ),
        # high availability: the ports of a database's nodes (PostgreSQL, Patroni's REST API
        # and its Raft peer, per node, then the Raft witness of a two-node database), and
        # whether a commit waits for a replica (Patroni's synchronous mode)
        Migration(
            """
            ALTER TABLE databases_instances ADD COLUMN node_ports TEXT NOT NULL DEFAULT '';
            ALTER TABLE databases_instances ADD COLUMN synchronous INTEGER NOT NULL DEFAULT 1;
            """
        ),
    ],
)
