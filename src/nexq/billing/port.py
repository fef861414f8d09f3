"""What billing needs from a metadata store. Every implementation passes tests/contract."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from nexq.accounts.port import TierChange
from nexq.billing.model import Budget, Invoice, Notification, PaymentMethod
from nexq.billing.pricing import PriceList
from nexq.core.identity import Account
from nexq.core.metering import UsageRecord


class BillingStore(Protocol):
    """Gauge samples, invoices, payment methods, budgets and notifications."""

    # samples of the services' gauges (stored bytes …), taken each hour
    def add_samples(self, samples: Iterable[UsageRecord]) -> None:
        """Keep each sample, unless one of its (service, meter, resource, hour) is kept
        already (every process samples; the first one's sample of an hour stands)."""

    def sampled(self, account_id: str, from_hour: int, to_hour: int) -> list[UsageRecord]:
        """The account's samples in [from_hour, to_hour), summed over its resources: one
        record per (hour, service, meter), resource ""."""

    def sampled_accounts(self, from_hour: int, to_hour: int) -> list[str]:
        """Every account with a sample above 0 in [from_hour, to_hour)."""

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


class Tiers(Protocol):
    """Each account's tier and its changes: the prices billing applies (accounts' Limits
    provides them)."""

    @property
    def currency(self) -> str: ...
    def tier(self, account: Account) -> PriceList: ...
    def tier_as(self, account: Account, chosen: str | None) -> PriceList:
        """The tier of the account had it chosen ``chosen`` (a tier id from its history;
        None: the installation's default)."""

    def tier_changes(self, account: Account, after: float) -> Sequence[TierChange]:
        """Its tier changes strictly after ``after`` (Unix time), oldest first."""
