"""The tables Account owns. Append new migrations; never edit one that has shipped.

``legacy`` is the number of the migration that held each one in the single list that
existing data directories were made with (``core.db`` adopts them by it)."""

from nexq.core.db import Migration, Schema

SCHEMA = Schema(
    "accounts",
    [
        # accounts
        Migration(
            """
            CREATE TABLE accounts (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL DEFAULT 'customer',
                status TEXT NOT NULL DEFAULT 'active',
                created_at REAL NOT NULL
            )
            """,
            legacy=1,
        ),
        # console sessions and API keys (and the login counters of the first throttle, unused
        # since the per-address one)
        Migration(
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
            ALTER TABLE accounts ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE accounts ADD COLUMN login_blocked_until REAL NOT NULL DEFAULT 0
            """,
            legacy=2,
        ),
        # service tiers and per-account limit overrides
        Migration(
            """
            ALTER TABLE accounts ADD COLUMN tier TEXT;
            CREATE TABLE account_limits (
                account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                value INTEGER,
                PRIMARY KEY (account_id, name)
            ) WITHOUT ROWID
            """,
            legacy=4,
        ),
        # failed logins counted per (account, source address) and per account (source '*'), so
        # that a stranger's guesses lock out the stranger's address, not the account's owner
        Migration(
            """
            CREATE TABLE login_throttle (
                account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                source TEXT NOT NULL,
                failures INTEGER NOT NULL,
                blocked_until REAL NOT NULL,
                updated_at REAL NOT NULL,
                PRIMARY KEY (account_id, source)
            ) WITHOUT ROWID
            """,
            legacy=7,
        ),
        # Emails are unique and found regardless of ASCII case through lower(email), which
        # folds the same way in SQLite and PostgreSQL (SQLite's NOCASE has no PostgreSQL twin)
        Migration(
            """
            CREATE UNIQUE INDEX accounts_by_folded_email ON accounts(lower(email))
            """,
        ),
        # one-time password resets the operator issues (no mail server: the link is handed
        # over); only a hash of the token is kept
        Migration(
            """
            CREATE TABLE password_resets (
                token_hash TEXT PRIMARY KEY,
                account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                created_at REAL NOT NULL,
                expires_at REAL NOT NULL
            );
            CREATE INDEX password_resets_by_account ON password_resets(account_id)
            """,
        ),
        # every change of an account's tier, with its time: billing prices the usage of each
        # part of a month at the tier of that part (from_tier NULL: the installation's default)
        Migration(
            """
            CREATE TABLE tier_changes (
                account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                changed_at REAL NOT NULL,
                from_tier TEXT,
                to_tier TEXT NOT NULL,
                PRIMARY KEY (account_id, changed_at)
            ) WITHOUT ROWID
            """,
        ),
    ],
)
