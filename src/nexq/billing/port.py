"""What billing needs from a metadata store. Every implementation passes tests/contract."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from nexq.billing.model import Budget, Invoice, MonthUsage, Notification, PaymentMethod


class BillingStore(Protocol):
    """Usage roll-ups, invoices, payment methods, budgets and notifications."""

    # usage
    def sample_storage(self, hour: int) -> None:
        """Record every bucket's stored bytes for ``hour`` (a second sample is ignored)."""

    def month_usage(self, account_id: str, from_hour: int, to_hour: int) -> MonthUsage: ...
    def daily_usage(self, account_id: str, from_hour: int, to_hour: int) -> dict[date, MonthUsage]:
        """The usage of each UTC day that has any."""

    def accounts_with_usage(self, from_hour: int, to_hour: int) -> list[str]: ...

    # invoices
    def add_invoice(self, invoice: Invoice) -> bool:
        """Insert unless the account already has an invoice for the month; whether inserted."""

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        """By id or by number."""

    def list_invoices(self, account_id: str) -> list[Invoice]:
        """Newest month first."""

    def set_invoice_status(self, invoice_id: str, status: str, paid_at: float | None) -> None: ...
    def month_closed(self, month: str) -> bool: ...
    def close_month(self, month: str, when: float) -> None: ...

    # payment methods
    def add_payment_method(self, method: PaymentMethod) -> None: ...
    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]: ...
    def update_payment_method(self, method: PaymentMethod) -> bool: ...
    def remove_payment_method(self, account_id: str, method_id: str) -> bool: ...
    def set_default_payment_method(self, account_id: str, method_id: str) -> bool:
        """Make it the only default of the account; False if it does not exist."""

    # budgets and notifications
    def get_budget(self, account_id: str) -> Budget | None: ...
    def set_budget(self, budget: Budget) -> None: ...
    def remove_budget(self, account_id: str) -> None: ...
    def budgeted_accounts(self) -> list[Budget]: ...
    def record_alert(self, account_id: str, month: str, threshold: int) -> bool:
        """Remember that a threshold was crossed; False if it was already."""

    def add_notification(self, notification: Notification) -> None: ...
    def list_notifications(self, account_id: str, limit: int) -> list[Notification]: ...
    def mark_notifications_read(self, account_id: str) -> None: ...
    def count_unread(self, account_id: str) -> int: ...
