"""Billing's pure types: usage by meter, priced lines, statements and invoices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

CENT = Decimal("0.01")
# What an account used in a period, per (service, meter), in the meters' counted units:
# counters summed, gauges' hourly samples summed.
Usage = dict[tuple[str, str], int]


@dataclass(frozen=True, slots=True)
class LineItem:
    """One priced line (one meter of one service): quantity beyond the free allowance times
    the unit price."""

    service: str  # the service's title: Object Storage
    resource: str  # the meter's label: Storage, Egress, Class A operations …
    unit: str  # the meter's unit: GB-month, GB, million operations …
    quantity: Decimal
    included: Decimal  # of the quantity, what the tier's allowance covers
    unit_price: Decimal
    amount: Decimal
    # Set only when the account changed tier during the month: the line then prices what was
    # used from ``period_start`` to ``period_end`` (Unix times, whole UTC hours) at ``tier``
    # (its name), ``included`` being what its monthly allowance left after earlier periods.
    tier: str = ""
    period_start: float | None = None
    period_end: float | None = None

    @property
    def billable(self) -> Decimal:
        return max(self.quantity - self.included, Decimal(0))


@dataclass(frozen=True, slots=True)
class Statement:
    """The charges of an account for a month: month-to-date until the month is closed."""

    account_id: str
    month: date  # the first day
    currency: str
    tier: str
    lines: list[LineItem]
    total: Decimal
    daily: list[tuple[date, Decimal]] = field(default_factory=list)  # charge added each day


@dataclass(frozen=True, slots=True)
class Invoice:
    """A closed month's statement, with its payment status."""

    id: str
    number: str
    account_id: str
    month: str  # YYYY-MM
    status: str  # open | paid | void
    currency: str
    total: Decimal
    lines: list[LineItem]
    created_at: float
    paid_at: float | None = None


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """A card as far as it is safe to keep: never its number, only brand and last four."""

    id: str
    account_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder: str
    is_default: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class Budget:
    """A monthly budget and the percentages of it that notify the account."""

    account_id: str
    amount: Decimal
    thresholds: list[int]
    email: str | None
    webhook_url: str | None


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    account_id: str
    created_at: float
    kind: str
    message: str
    read: bool
