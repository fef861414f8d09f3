"""Prices applied to a month's usage: exact decimals, allowances first, cents at the end.

Billing knows no service: each one declares its meters (``core.metering.Meter``) and the
tier prices them per (service, meter); a line per meter, in the order the services and
their meters are given. A month in which the account changed tier is priced in periods, one
per tier (:func:`price_periods`).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from nexq.billing.model import CENT, LineItem, Usage
from nexq.core.metering import Meter, Metered, MeterKind


class PriceList(Protocol):
    """A tier's prices, as billing reads them (accounts' tiers provide them)."""

    @property
    def name(self) -> str: ...
    def price(self, service: str, meter: str) -> Decimal:
        """Per unit of the meter (0 when the tier does not price it)."""

    def allowance(self, service: str, meter: str) -> Decimal:
        """Units of the meter included each month."""


def hours_in(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1] * 24


def quantity(meter: Meter, used: int, month: date) -> Decimal:
    """The month's quantity in the meter's unit, exact.

    A counter's counted units over its scale (bytes → GB, operations → millions). A gauge's
    hourly samples summed, over its scale and the hours of the whole month: 1 GB kept all
    month is 1 GB-month.
    """
    amount = Decimal(used) / Decimal(meter.scale)
    if meter.kind is MeterKind.GAUGE:
        amount /= Decimal(hours_in(month))
    return amount


def _line(
    title: str, meter: Meter, quantity: Decimal, included: Decimal, price: Decimal
) -> LineItem:
    covered = min(quantity, included)
    amount = ((quantity - covered) * price).quantize(CENT, rounding=ROUND_HALF_UP)
    return LineItem(title, meter.label, meter.unit, quantity, covered, price, amount)


def price(tier: PriceList, month: date, services: Sequence[Metered], used: Usage) -> list[LineItem]:
    """One line per meter of every service: the quantity beyond the tier's monthly
    allowance times its unit price, rounded half-up to the cent. Quantities are exact."""
    return [
        _line(
            s.title,
            meter,
            quantity(meter, used.get((s.service, meter.name), 0), month),
            tier.allowance(s.service, meter.name),
            tier.price(s.service, meter.name),
        )
        for s in services
        for meter in s.meters
    ]


@dataclass(frozen=True, slots=True)
class TierPeriod:
    """The hours [start_hour, end_hour) of a month (hours since the epoch, UTC) during which
    the account had ``tier``."""

    tier: PriceList
    start_hour: int
    end_hour: int


def price_periods(
    periods: Sequence[TierPeriod], month: date, services: Sequence[Metered], used: Sequence[Usage]
) -> list[LineItem]:
    """The month's lines when ``used[i]`` is what was used during ``periods[i]``.

    One period (no tier change): :func:`price`, the lines as they always were. Several: per
    meter, a line for each period the meter was used in (the last period's when it was used
    in none), in period order, each naming its tier and period. A line prices the period's
    usage at its tier's price, beyond what its tier's monthly allowance leaves once the
    earlier periods took theirs: an allowance is of the month, so moving from 10 included
    to 100 after 8 were used covers 92 more, moving down from 100 after 50 covers none, and
    no month covers more than its largest allowance. A gauge's quantity is already a share
    of the month (its samples over the month's hours), so the periods' quantities add up
    to what a single tier's line would show.
    """
    if len(periods) == 1:
        return price(periods[0].tier, month, services, used[0])
    lines = []
    for s in services:
        for meter in s.meters:
            covered = Decimal(0)  # of the month's usage of the meter, what allowances took
            per_period = []
            for period, usage in zip(periods, used, strict=True):
                line = _line(
                    s.title,
                    meter,
                    quantity(meter, usage.get((s.service, meter.name), 0), month),
                    max(period.tier.allowance(s.service, meter.name) - covered, Decimal(0)),
                    period.tier.price(s.service, meter.name),
                )
                covered += line.included
                per_period.append(
                    replace(
                        line,
                        tier=period.tier.name,
                        period_start=period.start_hour * 3600.0,
                        period_end=period.end_hour * 3600.0,
                    )
                )
            lines += [ln for ln in per_period if ln.quantity] or per_period[-1:]
    return lines


def breakdown(lines: list[LineItem], key: str) -> dict[str, Decimal]:
    """Line amounts summed by ``key`` (``service`` or ``resource``), in line order."""
    sums: dict[str, Decimal] = {}
    for line in lines:
        name = str(getattr(line, key))
        sums[name] = sums.get(name, Decimal("0.00")) + line.amount
    return sums


def total(lines: list[LineItem]) -> Decimal:
    return sum((line.amount for line in lines), Decimal("0.00"))
