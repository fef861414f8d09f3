"""How the console writes numbers and times for people (the API keeps exact values)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from nexq import display

# Sizes read by one rule in the console and in dcp (nexq.display): an amount of data in
# decimal units, as storage and transfer are billed (``size``, the default, so that a new
# page reads as the bill does); binary ones only for what is set in them (``binary_size``:
# a plan's memory, a part size), and a usage in the units of its limit (``size_as_set``).
size = display.size
binary_size = display.binary_size
size_as_set = display.size_as_set
# The storage pages' older name for ``size``, kept until they move to it.
decimal_size = display.size


def count(n: float) -> str:
    """Exact, with thousands separators: the spec wants N requests shown as N."""
    return f"{int(n):,}"


def when(timestamp: float | None) -> str:
    """``2026-11-27 23:16 UTC``, or ``Never``."""
    if timestamp is None:
        return "Never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(timestamp: float | None) -> str:
    """The machine-readable time for ``<time datetime=…>``."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


CENT = Decimal("0.01")


def money(amount: Decimal, currency: str) -> str:
    """``6.00 USD``: an amount to the cent, as invoices charge it (never through a float)."""
    return f"{amount.quantize(CENT, rounding=ROUND_HALF_UP):f} {currency}"


def price(amount: Decimal, currency: str) -> str:
    """``0.015 USD``, ``4.50 USD``: a unit price as the tier sets it, two places at least
    (a price per GB may hold fractions of a cent; the amounts it makes never do)."""
    whole_cents = amount == amount.quantize(CENT)
    return f"{amount.quantize(CENT) if whole_cents else amount:f} {currency}"


# Quantities are exact decimals with up to 28 digits (GB-months of a few bytes); people read
# them rounded, the same way dcp prints them. The exact value stays in a title attribute,
# and in the API's JSON.
quantity = display.quantity


def exact(value: Decimal) -> str:
    """The decimal in fixed notation, every digit (for titles and data attributes)."""
    return f"{value:f}"


def month(value: str | date) -> str:
    """``2026-11`` (or a date in it) → ``November 2026``."""
    day = value if isinstance(value, date) else datetime.strptime(value, "%Y-%m").date()
    return day.strftime("%B %Y")


def duration(seconds: float) -> str:
    """A span of time as people say it: 15 minutes, 4 hours, 2 days."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(seconds)} seconds"
