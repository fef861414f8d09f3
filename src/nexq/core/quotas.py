"""Limits: what a service declares it enforces, and how it asks for an account's values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# How a limit's values read (the console formats them by it): a count of things, a size in
# bytes, or a rate. Rates have no standing usage.
COUNT = "count"
BYTES = "bytes"
PER_SECOND = "per second"
# What a limit's name ends with when it is a size or a rate (Limit checks it).
BYTE_SUFFIX = "_bytes"
RATE_SUFFIX = "_rps"


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit a service enforces; each tier of tiers.toml gives it a value.

    ``name`` is unique on the platform: refusals, operator overrides
    (``nexq admin account limits --set NAME=…``) and the API name the limit by it.
    """

    name: str  # buckets
    label: str  # as people read it: "Buckets"
    unit: str  # COUNT, BYTES or PER_SECOND
    description: str  # what it bounds: "Buckets of the account"
    # What the account uses of it now (read from the declaring service's own tables);
    # None for rates, which have nothing to count between requests.
    usage: Callable[[str], int] | None = None

    def __post_init__(self) -> None:
        # The name says the unit (``storage_bytes``, ``api_rps``): clients that have only
        # the names (dcp's limits table) read sizes and rates by it.
        if (self.unit == BYTES) != self.name.endswith(BYTE_SUFFIX) or (
            self.unit == PER_SECOND
        ) != self.name.endswith(RATE_SUFFIX):
            raise ValueError(
                f"limit {self.name}: a size's name ends in {BYTE_SUFFIX}, a rate's in "
                f"{RATE_SUFFIX}, and no other's"
            )


class Quotas(Protocol):
    """The effective limits of an account (tier defaults with operator overrides)."""

    def limit(self, account_id: str, name: str) -> int | None:
        """The limit ``name`` (buckets, storage_bytes, api_keys, api_rps, …); None = unlimited."""


class NoQuotas:
    """Everything unlimited (tests of a service alone, tools)."""

    def limit(self, account_id: str, name: str) -> int | None:
        return None
