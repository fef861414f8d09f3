"""How the console writes numbers and times for people (the API keeps exact values)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

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


def money(amount: Decimal, currency: str) -> str:
    """``6.00 USD``: the exact decimal as billing computed it (never through a float)."""
    return f"{amount:f} {currency}"


# Quantities are exact decimals with up to 28 digits (GB-months of a few bytes); people read
# nine decimal places at most, and the exact value is kept for a title attribute.
_QUANTUM = Decimal("0.000000001")


def quantity(value: Decimal) -> str:
    """``4``, ``0.000004``, ``< 0.000000001``: fixed notation, no exponent, nine places at most."""
    rounded = value.quantize(_QUANTUM, rounding=ROUND_HALF_UP)
    if rounded == 0 and value > 0:
        return f"< {_QUANTUM:f}"
    text = f"{rounded:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


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
