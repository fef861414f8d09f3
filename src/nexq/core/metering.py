"""Metering shared by every service: what a service counts, and how billing reads it.

A service declares its :class:`Meter`\\ s (what it measures and the unit it is priced in)
and implements a :class:`MeterProvider` over its own tables. Billing prices any service's
meters through these types alone: it never reads another service's tables, and never
names a service.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class MeterKind(StrEnum):
    """How a meter's quantities add up over a month."""

    # Counted as it happens (requests, bytes sent): the month's quantity is the sum.
    COUNTER = "counter"
    # A level (bytes stored) that billing samples once an hour: the month's quantity is the
    # average level over the whole month, so 1 GB kept all month is 1 GB-month. Hours with
    # no sample (no Nexq process ran) count as nothing.
    GAUGE = "gauge"


@dataclass(frozen=True, slots=True)
class Meter:
    """One priced quantity of a service.

    ``name`` is the key of its price and allowance in tiers.toml and is unique on the
    platform (the API lists prices by it). Records count in small whole units (bytes,
    operations); ``scale`` of them make one priced ``unit`` (10**9 bytes per GB, 10**6
    operations per million), so quantities stay exact integers until billing divides.
    """

    name: str  # storage_gb_month
    label: str  # what invoices and the console call it: "Storage"
    unit: str  # what a price is per: "GB-month"
    kind: MeterKind
    scale: int = 1
    counts: str = ""  # what a record's quantity is, for people: "bytes stored, each hour"


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """A quantity a service measured for an account: (account, service, resource, meter,
    period, quantity)."""

    account_id: str
    service: str
    resource: str  # the resource measured (a bucket id); "" for the account as a whole
    meter: str
    hour: int  # the period: a UTC hour, as Unix time // 3600
    quantity: int  # in the meter's counted units (see Meter.scale)


class MeterProvider(Protocol):
    """What a service counted, read from its own tables (billing asks; it never reads them)."""

    def counted(self, account_id: str, from_hour: int, to_hour: int) -> Iterable[UsageRecord]:
        """The account's counters in the hours [from_hour, to_hour): records of its counter
        meters, each for one hour (per resource, or for the account as a whole)."""

    def accounts(self, from_hour: int, to_hour: int) -> Iterable[str]:
        """Every account the service counted anything for in [from_hour, to_hour), even
        what is not priced (such an account is invoiced, if only for 0)."""

    def gauges(self, hour: int) -> Iterable[UsageRecord]:
        """The level of each gauge meter now, for every account and resource, as the
        sample of ``hour`` (billing keeps the samples in its own tables)."""


@dataclass(frozen=True, slots=True)
class Metered:
    """A service as billing sees it: its name, title, meters and their provider."""

    service: str  # Service.name: storage
    title: str  # Service.title, as invoices group lines: "Object Storage"
    meters: tuple[Meter, ...]
    provider: MeterProvider


class NothingCounted:
    """A provider that has counted nothing (pricing tests, tools)."""

    def counted(self, account_id: str, from_hour: int, to_hour: int) -> Sequence[UsageRecord]:
        return ()

    def accounts(self, from_hour: int, to_hour: int) -> Sequence[str]:
        return ()

    def gauges(self, hour: int) -> Sequence[UsageRecord]:
        return ()
