"""The tables Billing owns. Append new migrations; never edit one that has shipped.

``legacy`` is the number of the migration that held each one in the single list that
existing data directories were made with (``core.db`` adopts them by it)."""

from nexq.core.db import Migration, Schema

SCHEMA = Schema(
    "billing",
    [
        # hourly samples of stored bytes (for GB-month), invoices, payment methods, budgets
        # and the notifications they raise
        Migration(
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
            CREATE INDEX notifications_unread ON notifications(account_id, read)
            """,
            legacy=5,
        ),
        # Samples of any service's gauges, not only storage's: billing prices meters by
        # (service, meter) and knows no service. The samples taken so far are Object
        # Storage's stored bytes per bucket (its storage_gb_month meter), kept as they were.
        Migration(
            """
            CREATE TABLE usage_samples (
                service TEXT NOT NULL,
                meter TEXT NOT NULL,
                resource TEXT NOT NULL,
                hour INTEGER NOT NULL,
                account_id TEXT NOT NULL,
                quantity INTEGER NOT NULL,
                PRIMARY KEY (service, meter, resource, hour)
            ) WITHOUT ROWID;
            CREATE INDEX usage_samples_by_account ON usage_samples(account_id, hour);
            INSERT INTO usage_samples(service, meter, resource, hour, account_id, quantity)
                SELECT 'storage', 'storage_gb_month', bucket_id, hour, account_id, bytes
                FROM storage_hourly;
            DROP TABLE storage_hourly
            """,
        ),
    ],
)
