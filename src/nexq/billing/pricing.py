"""Prices applied to a month's usage: exact decimals, allowances first, cents at the end."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from nexq.accounts.tiers import Tier
from nexq.billing.model import CENT, GB, MILLION, SERVICE_STORAGE, LineItem, MonthUsage


def hours_in(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1] * 24


def _line(
    resource: str, unit: str, quantity: Decimal, included: Decimal, price: Decimal
) -> LineItem:
    covered = min(quantity, included)
    amount = ((quantity - covered) * price).quantize(CENT, rounding=ROUND_HALF_UP)
    return LineItem(SERVICE_STORAGE, resource, unit, quantity, covered, price, amount)


def price(tier: Tier, month: date, usage: MonthUsage) -> list[LineItem]:
    """The Object Storage lines of a month.

    Storage is billed per GB-month: the hourly samples of stored bytes, summed, over the
    hours of the whole month (so 1 GB kept all month is 1 GB-month). Egress per GB of Data
    Out; Class A and B per million operations. Quantities are exact; each line's amount is
    rounded half-up to the cent.
    """
    prices, free = tier.prices, tier.allowances
    gb_months = Decimal(usage.byte_hours) / GB / Decimal(hours_in(month))
    return [
        _line(
            "Storage", "GB-month", gb_months, free["storage_gb_month"], prices["storage_gb_month"]
        ),
        _line("Egress", "GB", Decimal(usage.data_out) / GB, free["egress_gb"], prices["egress_gb"]),
        _line(
            "Class A operations",
            "million operations",
            Decimal(usage.class_a) / MILLION,
            free["class_a"] / MILLION,
            prices["class_a_million"],
        ),
        _line(
            "Class B operations",
            "million operations",
            Decimal(usage.class_b) / MILLION,
            free["class_b"] / MILLION,
            prices["class_b_million"],
        ),
    ]


def breakdown(lines: list[LineItem], key: str) -> dict[str, Decimal]:
    """Line amounts summed by ``key`` (``service`` or ``resource``), in line order."""
    sums: dict[str, Decimal] = {}
    for line in lines:
        name = str(getattr(line, key))
        sums[name] = sums.get(name, Decimal("0.00")) + line.amount
    return sums


def total(lines: list[LineItem]) -> Decimal:
    return sum((line.amount for line in lines), Decimal("0.00"))
