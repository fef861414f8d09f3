"""The SQL billing store (SQLite or PostgreSQL), in the metadata database."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from nexq.billing.model import Budget, Invoice, LineItem, Notification, PaymentMethod
from nexq.core.metering import UsageRecord
from nexq.core.sql import Connection, Database

_INVOICE = "id, number, account_id, month, status, currency, total, lines, created_at, paid_at"
_METHOD = "id, account_id, brand, last4, exp_month, exp_year, holder, is_default, created_at"


def _line_json(ln: LineItem) -> list[object]:
    kept: list[object] = [
        ln.service,
        ln.resource,
        ln.unit,
        str(ln.quantity),
        str(ln.included),
        str(ln.unit_price),
        str(ln.amount),
    ]
    # A line of a month split between tiers also keeps its tier and period; the others are
    # kept as invoices always were.
    if ln.tier:
        kept += [ln.tier, ln.period_start, ln.period_end]
    return kept


def _lines_json(lines: list[LineItem]) -> str:
    return json.dumps([_line_json(ln) for ln in lines])


def _line(kept: list[Any]) -> LineItem:
    s, r, u, q, i, p, a = kept[:7]
    tier, start, end = kept[7:] if len(kept) > 7 else ("", None, None)
    return LineItem(s, r, u, Decimal(q), Decimal(i), Decimal(p), Decimal(a), tier, start, end)


def _invoice(row: tuple[Any, ...]) -> Invoice:
    lines = [_line(kept) for kept in json.loads(row[7])]
    return Invoice(
        row[0], row[1], row[2], row[3], row[4], row[5], Decimal(row[6]), lines, row[8], row[9]
    )


def _method(row: tuple[Any, ...]) -> PaymentMethod:
    return PaymentMethod(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8]
    )


class SqliteBilling:
    """:class:`BillingStore` on a SQL :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._db.reader().execute(sql, args).fetchall()
        return rows

    def _changed(self, sql: str, *args: object) -> bool:
        return self._db.write(lambda conn: conn.execute(sql, args).rowcount > 0)

    # gauge samples ------------------------------------------------------------------------
    def add_samples(self, samples: Iterable[UsageRecord]) -> None:
        rows = [(r.service, r.meter, r.resource, r.hour, r.account_id, r.quantity) for r in samples]
        if not rows:
            return

        def write(conn: Connection) -> None:
            conn.executemany(
                "INSERT INTO usage_samples(service, meter, resource, hour, account_id, "
                "quantity) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                rows,
            )

        self._db.write(write)

    def sampled(self, account_id: str, from_hour: int, to_hour: int) -> list[UsageRecord]:
        rows = self._rows(
            "SELECT hour, service, meter, sum(quantity) FROM usage_samples "
            "WHERE account_id = ? AND hour >= ? AND hour < ? GROUP BY hour, service, meter "
            "ORDER BY hour",
            account_id,
            from_hour,
            to_hour,
        )
        return [UsageRecord(account_id, s, "", m, hour, int(q)) for hour, s, m, q in rows]

    def sampled_accounts(self, from_hour: int, to_hour: int) -> list[str]:
        rows = self._rows(
            "SELECT DISTINCT account_id FROM usage_samples "
            "WHERE hour >= ? AND hour < ? AND quantity > 0 ORDER BY account_id",
            from_hour,
            to_hour,
        )
        return [str(r[0]) for r in rows]

    # invoices -----------------------------------------------------------------------------
    def add_invoice(self, invoice: Invoice) -> bool:
        return self._changed(
            f"INSERT INTO invoices({_INVOICE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 - fixed column names
            "ON CONFLICT DO NOTHING",
            invoice.id,
            invoice.number,
            invoice.account_id,
            invoice.month,
            invoice.status,
            invoice.currency,
            str(invoice.total),
            _lines_json(invoice.lines),
            invoice.created_at,
            invoice.paid_at,
        )

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        rows = self._rows(
            f"SELECT {_INVOICE} FROM invoices WHERE id = ? OR number = ?",  # noqa: S608 - fixed column names
            invoice_id,
            invoice_id,
        )
        return _invoice(rows[0]) if rows else None

    def list_invoices(self, account_id: str) -> list[Invoice]:
        rows = self._rows(
            f"SELECT {_INVOICE} FROM invoices WHERE account_id = ? ORDER BY month DESC",  # noqa: S608 - fixed column names
            account_id,
        )
        return [_invoice(r) for r in rows]

    def set_invoice_status(self, invoice_id: str, status: str, paid_at: float | None) -> None:
        self._changed(
            "UPDATE invoices SET status = ?, paid_at = ? WHERE id = ?", status, paid_at, invoice_id
        )

    def month_closed(self, month: str) -> bool:
        return bool(self._rows("SELECT 1 FROM closed_months WHERE month = ?", month))

    def close_month(self, month: str, when: float) -> None:
        self._changed(
            "INSERT INTO closed_months(month, closed_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            month,
            when,
        )

    # payment methods ----------------------------------------------------------------------
    def add_payment_method(self, method: PaymentMethod) -> None:
        def write(conn: Connection) -> None:
            first = not conn.execute(
                "SELECT 1 FROM payment_methods WHERE account_id = ?", (method.account_id,)
            ).fetchone()
            conn.execute(
                f"INSERT INTO payment_methods({_METHOD}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - fixed column names
                (
                    method.id,
                    method.account_id,
                    method.brand,
                    method.last4,
                    method.exp_month,
                    method.exp_year,
                    method.holder,
                    method.is_default or first,  # the first card is the default
                    method.created_at,
                ),
            )

        self._db.write(write)

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]:
        rows = self._rows(
            f"SELECT {_METHOD} FROM payment_methods WHERE account_id = ? ORDER BY created_at, id",  # noqa: S608 - fixed column names
            account_id,
        )
        return [_method(r) for r in rows]

    def update_payment_method(self, method: PaymentMethod) -> bool:
        return self._changed(
            "UPDATE payment_methods SET exp_month = ?, exp_year = ?, holder = ? "
            "WHERE id = ? AND account_id = ?",
            method.exp_month,
            method.exp_year,
            method.holder,
            method.id,
            method.account_id,
        )

    def remove_payment_method(self, account_id: str, method_id: str) -> bool:
        return self._changed(
            "DELETE FROM payment_methods WHERE id = ? AND account_id = ?", method_id, account_id
        )

    def set_default_payment_method(self, account_id: str, method_id: str) -> bool:
        def write(conn: Connection) -> bool:
            if not conn.execute(
                "SELECT 1 FROM payment_methods WHERE id = ? AND account_id = ?",
                (method_id, account_id),
            ).fetchone():
                return False
            conn.execute(
                "UPDATE payment_methods SET is_default = (id = ?) WHERE account_id = ?",
                (method_id, account_id),
            )
            return True

        return self._db.write(write)

    # budgets and notifications ------------------------------------------------------------
    def get_budget(self, account_id: str) -> Budget | None:
        rows = self._rows(
            "SELECT account_id, amount, thresholds, email, webhook_url FROM budgets "
            "WHERE account_id = ?",
            account_id,
        )
        return _budget(rows[0]) if rows else None

    def set_budget(self, budget: Budget) -> None:
        self._changed(
            "INSERT INTO budgets(account_id, amount, thresholds, email, webhook_url) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET "
            "amount = excluded.amount, thresholds = excluded.thresholds, "
            "email = excluded.email, webhook_url = excluded.webhook_url",
            budget.account_id,
            str(budget.amount),
            json.dumps(budget.thresholds),
            budget.email,
            budget.webhook_url,
        )

    def remove_budget(self, account_id: str) -> None:
        self._changed("DELETE FROM budgets WHERE account_id = ?", account_id)

    def budgeted_accounts(self) -> list[Budget]:
        rows = self._rows("SELECT account_id, amount, thresholds, email, webhook_url FROM budgets")
        return [_budget(r) for r in rows]

    def record_alert(self, account_id: str, month: str, threshold: int) -> bool:
        return self._changed(
            "INSERT INTO budget_alerts(account_id, month, threshold) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            account_id,
            month,
            threshold,
        )

    def add_notification(self, notification: Notification) -> None:
        self._changed(
            "INSERT INTO notifications(id, account_id, created_at, kind, message, read) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            notification.id,
            notification.account_id,
            notification.created_at,
            notification.kind,
            notification.message,
            notification.read,
        )

    def list_notifications(self, account_id: str, limit: int) -> list[Notification]:
        rows = self._rows(
            "SELECT id, account_id, created_at, kind, message, read FROM notifications "
            "WHERE account_id = ? ORDER BY created_at DESC, id LIMIT ?",
            account_id,
            limit,
        )
        return [Notification(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    def count_unread(self, account_id: str) -> int:
        rows = self._rows(
            "SELECT count(*) FROM notifications WHERE account_id = ? AND read = 0", account_id
        )
        return int(rows[0][0])

    def mark_notifications_read(self, account_id: str) -> None:
        self._changed("UPDATE notifications SET read = 1 WHERE account_id = ?", account_id)


def _budget(row: tuple[Any, ...]) -> Budget:
    return Budget(row[0], Decimal(row[1]), list(json.loads(row[2])), row[3], row[4])
