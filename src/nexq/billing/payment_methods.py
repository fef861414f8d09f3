"""Payment methods: only what is safe to keep (brand, last four digits, expiry, holder)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

from nexq.billing.model import PaymentMethod
from nexq.billing.port import BillingStore
from nexq.core.errors import Invalid, NotFound
from nexq.core.ids import new_id

_BRANDS = (
    ("4", "Visa"),
    ("51", "Mastercard"),
    ("52", "Mastercard"),
    ("53", "Mastercard"),
    ("54", "Mastercard"),
    ("55", "Mastercard"),
    ("2", "Mastercard"),
    ("34", "Amex"),
    ("37", "Amex"),
    ("6", "Discover"),
)


class NoSuchPaymentMethod(NotFound):
    """The specified payment method does not exist."""


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _check_expiry(month: int, year: int, now: float) -> None:
    if not 1 <= month <= 12:
        raise Invalid("exp_month: 1 to 12.")
    today = datetime.fromtimestamp(now, UTC)
    if (year, month) < (today.year, today.month) or year > today.year + 30:
        raise Invalid("exp_year: the card has expired or the year is not plausible.")


class PaymentMethods:
    """Add, edit, remove, choose the default."""

    def __init__(self, store: BillingStore) -> None:
        self._store = store

    def add(
        self, account_id: str, number: str, exp_month: int, exp_year: int, holder: str
    ) -> PaymentMethod:
        """Keep a card: the number is checked and reduced to brand + last four, never stored."""
        digits = number.replace(" ", "").replace("-", "")
        if not digits.isdigit() or not 12 <= len(digits) <= 19 or not _luhn(digits):
            raise Invalid("number: not a valid card number.")
        holder = holder.strip()
        if not 1 <= len(holder) <= 100:
            raise Invalid("holder: 1-100 characters.")
        now = time.time()
        _check_expiry(exp_month, exp_year, now)
        brand = next((b for prefix, b in _BRANDS if digits.startswith(prefix)), "Card")
        method = PaymentMethod(
            new_id(), account_id, brand, digits[-4:], exp_month, exp_year, holder, False, now
        )
        self._store.add_payment_method(method)
        return self.get(account_id, method.id)

    def list(self, account_id: str) -> list[PaymentMethod]:
        return self._store.list_payment_methods(account_id)

    def get(self, account_id: str, method_id: str) -> PaymentMethod:
        for method in self.list(account_id):
            if method.id == method_id:
                return method
        raise NoSuchPaymentMethod(f"No payment method {method_id} in this account.")

    def edit(
        self,
        account_id: str,
        method_id: str,
        exp_month: int | None,
        exp_year: int | None,
        holder: str | None,
    ) -> PaymentMethod:
        """Change the expiry or the holder (a new number is a new payment method)."""
        method = self.get(account_id, method_id)
        changed = replace(
            method,
            exp_month=exp_month if exp_month is not None else method.exp_month,
            exp_year=exp_year if exp_year is not None else method.exp_year,
            holder=holder.strip() if holder is not None else method.holder,
        )
        _check_expiry(changed.exp_month, changed.exp_year, time.time())
        if not 1 <= len(changed.holder) <= 100:
            raise Invalid("holder: 1-100 characters.")
        self._store.update_payment_method(changed)
        return self.get(account_id, method_id)

    def remove(self, account_id: str, method_id: str) -> None:
        if not self._store.remove_payment_method(account_id, method_id):
            raise NoSuchPaymentMethod(f"No payment method {method_id} in this account.")

    def make_default(self, account_id: str, method_id: str) -> PaymentMethod:
        if not self._store.set_default_payment_method(account_id, method_id):
            raise NoSuchPaymentMethod(f"No payment method {method_id} in this account.")
        return self.get(account_id, method_id)
