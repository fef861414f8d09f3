"""The tables Support owns. Append new migrations; never edit one that has shipped."""

from nexq.core.db import Migration, Schema

SCHEMA = Schema(
    "support",
    [
        # tickets, their conversation and attachments, and plans assigned by the operator
        Migration(
            """
            CREATE TABLE support_tickets (
                id TEXT PRIMARY KEY,
                number INTEGER NOT NULL UNIQUE,
                account_id TEXT NOT NULL,
                subject TEXT NOT NULL,
                service TEXT NOT NULL,
                severity TEXT NOT NULL,
                status TEXT NOT NULL,
                plan TEXT NOT NULL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                first_response_at REAL,
                closed_at REAL,
                assignee TEXT
            );
            CREATE INDEX support_tickets_by_account ON support_tickets(account_id, updated_at);
            CREATE INDEX support_tickets_by_status ON support_tickets(status, created_at);
            CREATE TABLE support_messages (
                id TEXT PRIMARY KEY,
                ticket_id TEXT NOT NULL REFERENCES support_tickets(id) ON DELETE CASCADE,
                author_id TEXT NOT NULL,
                author_role TEXT NOT NULL,
                body TEXT NOT NULL,
                created_at REAL NOT NULL
            );
            CREATE INDEX support_messages_by_ticket ON support_messages(ticket_id, created_at);
            CREATE TABLE support_attachments (
                id TEXT PRIMARY KEY,
                ticket_id TEXT NOT NULL REFERENCES support_tickets(id) ON DELETE CASCADE,
                message_id TEXT NOT NULL REFERENCES support_messages(id) ON DELETE CASCADE,
                filename TEXT NOT NULL,
                content_type TEXT NOT NULL,
                size INTEGER NOT NULL,
                blob TEXT NOT NULL
            );
            CREATE INDEX support_attachments_by_message ON support_attachments(message_id);
            CREATE TABLE support_plans (
                account_id TEXT PRIMARY KEY,
                plan TEXT NOT NULL
            ) WITHOUT ROWID
            """,
        ),
        # attachments keep the order they were sent in without SQLite's rowid (PostgreSQL
        # has none); those sent before keep 0 and come in id order
        Migration(
            """
            ALTER TABLE support_attachments ADD COLUMN position INTEGER NOT NULL DEFAULT 0
            """,
        ),
    ],
)
