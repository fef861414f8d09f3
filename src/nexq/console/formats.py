"""How the console writes numbers and times for people (the API keeps exact values)."""

from __future__ import annotations

from datetime import UTC, datetime

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
