"""The metadata database's schema as one list, the way data directories were made before
tables had owners (frozen copy): tests make such a directory and open it with today's code.
"""

import sqlite3

MIGRATIONS: list[str] = [
    # 1: accounts, buckets, objects, multipart uploads, access keys.
    """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT 'customer',
        status TEXT NOT NULL DEFAULT 'active',
        created_at REAL NOT NULL
    );
    CREATE TABLE buckets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        created_at REAL NOT NULL
    );
    CREATE INDEX buckets_by_account ON buckets(account_id, name);
    CREATE TABLE objects (
        bucket_id TEXT NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified REAL NOT NULL,
        headers TEXT NOT NULL,
        metadata TEXT NOT NULL,
        checksums TEXT NOT NULL,
        checksum_type TEXT,
        segments TEXT NOT NULL,
        parts_count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (bucket_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        bucket_id TEXT NOT NULL,
        key TEXT NOT NULL,
        initiated REAL NOT NULL,
        headers TEXT NOT NULL,
        metadata TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_type TEXT
    );
    CREATE INDEX uploads_by_key ON uploads(bucket_id, key, initiated);
    CREATE TABLE parts (
        upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified REAL NOT NULL,
        path TEXT NOT NULL,
        checksums TEXT NOT NULL,
        PRIMARY KEY (upload_id, number)
    ) WITHOUT ROWID;
    CREATE TABLE access_keys (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        label TEXT NOT NULL,
        secret_sealed BLOB NOT NULL,
        all_buckets INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        created_at REAL NOT NULL
    );
    CREATE INDEX access_keys_by_account ON access_keys(account_id, created_at);
    CREATE TABLE access_key_buckets (
        access_key_id TEXT NOT NULL REFERENCES access_keys(id) ON DELETE CASCADE,
        bucket_id TEXT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
        PRIMARY KEY (access_key_id, bucket_id)
    ) WITHOUT ROWID;
    CREATE TABLE garbage (
        path TEXT PRIMARY KEY
    ) WITHOUT ROWID;
    CREATE TABLE generations (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO generations VALUES ('auth', 0)
    """,
    # 2: console sessions, API keys, and hidden per-account keys that sign the API's presigned URLs.
    """
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_account ON sessions(account_id);
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        scopes TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'active',
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    CREATE INDEX api_keys_by_account ON api_keys(account_id, created_at, id);
    CREATE INDEX accounts_by_created ON accounts(created_at, id);
    ALTER TABLE access_keys ADD COLUMN internal INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN login_blocked_until REAL NOT NULL DEFAULT 0;
    """,
    # 3: metering: usage per bucket and hour, added to by every process's meter.
    """
    CREATE TABLE usage_hourly (
        account_id TEXT NOT NULL,
        hour INTEGER NOT NULL,
        bucket_id TEXT NOT NULL,
        bucket_name TEXT NOT NULL,
        data_in INTEGER NOT NULL DEFAULT 0,
        data_out INTEGER NOT NULL DEFAULT 0,
        class_a INTEGER NOT NULL DEFAULT 0,
        class_b INTEGER NOT NULL DEFAULT 0,
        other INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (account_id, hour, bucket_id)
    ) WITHOUT ROWID;
    """,
    # 4: service tiers and per-account limit overrides; per-bucket counters kept with every
    # write so that quotas and bucket lists never sum the objects table.
    """
    ALTER TABLE accounts ADD COLUMN tier TEXT;
    CREATE TABLE account_limits (
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value INTEGER,
        PRIMARY KEY (account_id, name)
    ) WITHOUT ROWID;
    ALTER TABLE buckets ADD COLUMN object_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE buckets ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
    UPDATE buckets SET
        object_count = (SELECT count(*) FROM objects WHERE objects.bucket_id = buckets.id),
        stored_bytes = (SELECT coalesce(sum(size), 0) FROM objects
                        WHERE objects.bucket_id = buckets.id);
    """,
    # 5: billing: hourly samples of stored bytes (for GB-month), invoices, payment methods,
    # budgets and the notifications they raise.
    """
    CREATE TABLE storage_hourly (
        bucket_id TEXT NOT NULL,
        hour INTEGER NOT NULL,
        account_id TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (bucket_id, hour)
    ) WITHOUT ROWID;
    CREATE INDEX storage_hourly_by_account ON storage_hourly(account_id, hour);
    CREATE TABLE invoices (
        id TEXT PRIMARY KEY,
        number TEXT NOT NULL UNIQUE,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        month TEXT NOT NULL,
        status TEXT NOT NULL,
        currency TEXT NOT NULL,
        total TEXT NOT NULL,
        lines TEXT NOT NULL,
        created_at REAL NOT NULL,
        paid_at REAL,
        UNIQUE (account_id, month)
    );
    CREATE TABLE closed_months (
        month TEXT PRIMARY KEY,
        closed_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE payment_methods (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        brand TEXT NOT NULL,
        last4 TEXT NOT NULL,
        exp_month INTEGER NOT NULL,
        exp_year INTEGER NOT NULL,
        holder TEXT NOT NULL,
        is_default INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE INDEX payment_methods_by_account ON payment_methods(account_id, created_at);
    CREATE TABLE budgets (
        account_id TEXT PRIMARY KEY REFERENCES accounts(id),
        amount TEXT NOT NULL,
        thresholds TEXT NOT NULL,
        email TEXT,
        webhook_url TEXT
    ) WITHOUT ROWID;
    CREATE TABLE budget_alerts (
        account_id TEXT NOT NULL,
        month TEXT NOT NULL,
        threshold INTEGER NOT NULL,
        PRIMARY KEY (account_id, month, threshold)
    ) WITHOUT ROWID;
    CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        created_at REAL NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        read INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX notifications_by_account ON notifications(account_id, created_at);
    CREATE INDEX notifications_unread ON notifications(account_id, read);
    """,
    # 6: each account's stored bytes in one row (the sum of its buckets' stored_bytes), kept in
    # the same transaction as the buckets' counters: the exact quota check inside a write is one
    # indexed update however many buckets the account has.
    """
    CREATE TABLE account_storage (
        account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
        stored_bytes INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    INSERT INTO account_storage(account_id, stored_bytes)
        SELECT account_id, sum(stored_bytes) FROM buckets GROUP BY account_id;
    """,
    # 7: failed logins counted per (account, source address) and per account (source '*'),
    # so that a stranger's guesses lock out the stranger's address, not the account's owner.
    """
    CREATE TABLE login_throttle (
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        failures INTEGER NOT NULL,
        blocked_until REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (account_id, source)
    ) WITHOUT ROWID;
    """,
]


def legacy_database(conn: sqlite3.Connection, version: int = len(MIGRATIONS)) -> None:
    """Make the schema as the single-list code did, up to ``version``."""
    conn.execute("BEGIN IMMEDIATE")
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        for statement in script.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={number}")
    conn.execute("COMMIT")
