"""How the console writes numbers and times for people (the API keeps exact values)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from nexq import display

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: float) -> str:
    """``0 B``, ``512 B``, ``1.5 KiB``, ``20.0 MiB``, ``120 GiB``: binary units, as tools show."""
    if n < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


_DECIMAL_UNITS = ("kB", "MB", "GB", "TB", "PB")


def decimal_size(n: float) -> str:
    """``0 B``, ``3.1 kB``, ``10 GB``: decimal units (1 GB = 10^9 bytes), as storage is
    billed and as tiers set its quota."""
    if n < 1000:
        return f"{int(n)} B"
    value = float(n)
    for unit in _DECIMAL_UNITS:
        value /= 1000
        if value < 1000 or unit == _DECIMAL_UNITS[-1]:
            if value == int(value):
                return f"{int(value)} {unit}"
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def size_as_set(n: float, setting: float | None) -> str:
    """``n`` bytes in the units a limit of ``setting`` bytes was written in: binary when it
    is a whole number of MiB that no decimal unit divides (memory: 512 MiB), decimal
    otherwise (storage quotas: 10 GB), so that a usage and its limit read alike."""
    binary = setting is not None and setting % 2**20 == 0 and setting % 10**6 != 0
    return size(n) if binary else decimal_size(n)


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
