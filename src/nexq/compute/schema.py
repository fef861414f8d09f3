"""The tables Compute owns. Append new migrations; never edit one that has shipped."""

from nexq.core.db import Migration, Schema

SCHEMA = Schema(
    "compute",
    [
        # the accounts' SSH public keys; at most one default per account (the partial
        # unique index holds it whatever a writer does)
        Migration(
            """
            CREATE TABLE compute_ssh_keys (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL,
                name TEXT NOT NULL,
                public_key TEXT NOT NULL,
                kind TEXT NOT NULL,
                bits INTEGER NOT NULL,
                fingerprint TEXT NOT NULL,
                comment TEXT NOT NULL,
                is_default INTEGER NOT NULL,
                created_at REAL NOT NULL
            );
            CREATE UNIQUE INDEX compute_ssh_keys_by_name ON compute_ssh_keys(account_id, name);
            CREATE UNIQUE INDEX compute_ssh_keys_by_fingerprint
                ON compute_ssh_keys(account_id, fingerprint);
            CREATE UNIQUE INDEX compute_ssh_keys_default
                ON compute_ssh_keys(account_id) WHERE is_default = 1
            """,
        ),
        # the accounts' virtual machines; a deleted one keeps its row (deleted_at) for
        # metering, its name free again
        Migration(
            """
            CREATE TABLE compute_instances (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL,
                name TEXT NOT NULL,
                image TEXT NOT NULL,
                size TEXT NOT NULL,
                vcpus INTEGER NOT NULL,
                memory_mib INTEGER NOT NULL,
                disk_gib INTEGER NOT NULL,
                ssh_key_id TEXT NOT NULL,
                ssh_key_name TEXT NOT NULL,
                public_key TEXT NOT NULL,
                status TEXT NOT NULL,
                reason TEXT NOT NULL,
                ssh_port INTEGER,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                deleted_at REAL
            );
            CREATE UNIQUE INDEX compute_instances_by_name
                ON compute_instances(account_id, name) WHERE deleted_at IS NULL
            """,
        ),
        # when each instance's machine ran, for instance-hours (a stopped instance pays no
        # hours): one row per run, open (ended_at NULL) while it runs
        Migration(
            """
            CREATE TABLE compute_instance_runs (
                instance_id TEXT NOT NULL,
                account_id TEXT NOT NULL,
                size TEXT NOT NULL,
                started_at REAL NOT NULL,
                ended_at REAL,
                PRIMARY KEY (instance_id, started_at)
            );
            CREATE INDEX compute_instance_runs_by_account
                ON compute_instance_runs(account_id, started_at)
            """,
        ),
        # an instance launched from a snapshot or backup names it (its disk is made from it);
        # backup_keep > 0: a daily backup, the newest backup_keep kept
        Migration(
            """
            ALTER TABLE compute_instances ADD COLUMN source TEXT NOT NULL DEFAULT '';
            ALTER TABLE compute_instances ADD COLUMN backup_keep INTEGER NOT NULL DEFAULT 0
            """,
        ),
        # snapshots and backups of instances' disks; a deleted one keeps its row (deleted_at)
        # for metering, its name free again
        Migration(
            """
            CREATE TABLE compute_disk_copies (
                id TEXT PRIMARY KEY,
                account_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                instance_id TEXT NOT NULL,
                instance_name TEXT NOT NULL,
                image TEXT NOT NULL,
                disk_gib INTEGER NOT NULL,
                status TEXT NOT NULL,
                reason TEXT NOT NULL,
                size_bytes BIGINT NOT NULL,
                scheduled INTEGER NOT NULL,
                expires_at REAL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                deleted_at REAL
            );
            CREATE UNIQUE INDEX compute_disk_copies_by_name
                ON compute_disk_copies(account_id, kind, name) WHERE deleted_at IS NULL;
            CREATE INDEX compute_disk_copies_by_instance ON compute_disk_copies(instance_id)
            """,
        ),
    ],
)
