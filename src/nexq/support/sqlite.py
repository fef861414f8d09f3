"""The SQL support store (SQLite or PostgreSQL), in the metadata database."""

from __future__ import annotations

from dataclasses import astuple, replace
from typing import Any

from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, Database
from nexq.support.model import OPEN_STATUSES, Attachment, Message, Ticket

_TICKET = (
    "id, number, account_id, subject, service, severity, status, plan, created_at, "
    "updated_at, first_response_at, closed_at, assignee"
)
_OPEN = tuple(sorted(OPEN_STATUSES))


def _ticket(row: tuple[Any, ...]) -> Ticket:
    return Ticket(*row)


class SqliteSupport:
    """:class:`SupportStore` on a SQL :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_ticket(self, ticket: Ticket, first: Message, max_open: int | None) -> Ticket:
        def write(conn: Connection) -> Ticket:
            if max_open is not None:
                (count,) = conn.execute(
                    "SELECT count(*) FROM support_tickets WHERE account_id = ? "
                    "AND status IN (?, ?, ?)",
                    (ticket.account_id, *_OPEN),
                ).fetchone()
                if count >= max_open:
                    raise QuotaExceeded(
                        "support_open_tickets",
                        f"The account already has {count} open tickets, its "
                        "support_open_tickets limit; close one or reply on it instead.",
                    )
            (last,) = conn.execute("SELECT max(number) FROM support_tickets").fetchone()
            numbered = replace(ticket, number=(last or 1000) + 1)  # people quote #1001 on
            conn.execute(
                f"INSERT INTO support_tickets({_TICKET}) VALUES "  # noqa: S608 - fixed columns
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                astuple(numbered),
            )
            _insert_message(conn, first)
            return numbered

        return self._db.write(write)

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_TICKET} FROM support_tickets WHERE id = ?", (ticket_id,))  # noqa: S608 - fixed columns
            .fetchone()
        )
        return _ticket(row) if row else None

    def list_tickets(self, account_id: str) -> list[Ticket]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_TICKET} FROM support_tickets WHERE account_id = ? "  # noqa: S608 - fixed columns
                "ORDER BY updated_at DESC, id",
                (account_id,),
            )
            .fetchall()
        )
        return [_ticket(r) for r in rows]

    def queue(self, statuses: frozenset[str]) -> list[Ticket]:
        marks = ", ".join("?" for _ in statuses)
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_TICKET} FROM support_tickets WHERE status IN ({marks}) "  # noqa: S608 - fixed columns, placeholders only
                "ORDER BY created_at, id",
                tuple(sorted(statuses)),
            )
            .fetchall()
        )
        return [_ticket(r) for r in rows]

    def add_message(self, message: Message, ticket: Ticket) -> None:
        def write(conn: Connection) -> None:
            _insert_message(conn, message)
            _update(conn, ticket)

        self._db.write(write)

    def update_ticket(self, ticket: Ticket) -> None:
        self._db.write(lambda conn: _update(conn, ticket))

    def messages(self, ticket_id: str) -> list[Message]:
        conn = self._db.reader()
        files: dict[str, list[Attachment]] = {}
        for row in conn.execute(
            "SELECT id, ticket_id, message_id, filename, content_type, size, blob "
            "FROM support_attachments WHERE ticket_id = ? ORDER BY message_id, position, id",
            (ticket_id,),
        ):
            files.setdefault(row[2], []).append(Attachment(*row))
        rows = conn.execute(
            "SELECT id, ticket_id, author_id, author_role, body, created_at "
            "FROM support_messages WHERE ticket_id = ? ORDER BY created_at, id",
            (ticket_id,),
        ).fetchall()
        return [
            Message(r[0], r[1], r[2], r[3], r[4], r[5], tuple(files.get(r[0], ()))) for r in rows
        ]

    def open_tickets(self, account_id: str) -> int:
        row = (
            self._db.reader()
            .execute(
                "SELECT count(*) FROM support_tickets WHERE account_id = ? AND status IN (?, ?, ?)",
                (account_id, *_OPEN),
            )
            .fetchone()
        )
        return int(row[0])

    def plan_of(self, account_id: str) -> str | None:
        row = (
            self._db.reader()
            .execute("SELECT plan FROM support_plans WHERE account_id = ?", (account_id,))
            .fetchone()
        )
        return str(row[0]) if row else None

    def set_plan(self, account_id: str, plan: str | None) -> None:
        def write(conn: Connection) -> None:
            conn.execute("DELETE FROM support_plans WHERE account_id = ?", (account_id,))
            if plan is not None:
                conn.execute(
                    "INSERT INTO support_plans(account_id, plan) VALUES (?, ?)", (account_id, plan)
                )

        self._db.write(write)


def _insert_message(conn: Connection, message: Message) -> None:
    conn.execute(
        "INSERT INTO support_messages(id, ticket_id, author_id, author_role, body, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            message.id,
            message.ticket_id,
            message.author_id,
            message.author_role,
            message.body,
            message.created_at,
        ),
    )
    conn.executemany(
        "INSERT INTO support_attachments(id, ticket_id, message_id, filename, content_type, "
        "size, blob, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (a.id, a.ticket_id, a.message_id, a.filename, a.content_type, a.size, a.blob, n)
            for n, a in enumerate(message.attachments)
        ],
    )


def _update(conn: Connection, ticket: Ticket) -> None:
    conn.execute(
        "UPDATE support_tickets SET status = ?, updated_at = ?, first_response_at = ?, "
        "closed_at = ?, assignee = ?, severity = ? WHERE id = ?",
        (
            ticket.status,
            ticket.updated_at,
            ticket.first_response_at,
            ticket.closed_at,
            ticket.assignee,
            ticket.severity,
            ticket.id,
        ),
    )
