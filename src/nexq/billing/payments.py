"""Taking payment: a small provider interface; offline, the operator confirms payments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nexq.billing.model import Invoice, PaymentMethod


@dataclass(frozen=True, slots=True)
class PaymentResult:
    paid: bool
    message: str


class PaymentProvider(Protocol):
    """Charges an invoice to a payment method (a card processor plugs in here)."""

    def charge(self, invoice: Invoice, method: PaymentMethod | None) -> PaymentResult: ...


class OperatorMarksPaid:
    """No processor: invoices stay open until the operator records the payment
    (`nexq admin billing set-status NUMBER paid`)."""

    def charge(self, invoice: Invoice, method: PaymentMethod | None) -> PaymentResult:
        if invoice.total == 0:
            return PaymentResult(True, "Nothing to pay.")
        return PaymentResult(False, "Awaiting payment; the operator records it.")
