"""How the API writes values: times as ISO 8601 UTC with a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(timestamp: float) -> str:
    """``2026-11-27T23:16:55Z``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_or_none(timestamp: float | None) -> str | None:
    return None if timestamp is None else iso(timestamp)
