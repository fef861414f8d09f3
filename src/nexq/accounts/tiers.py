"""Service tiers: limits, prices and allowances per tier, read from the operator's TOML file.

Values are grouped per service, by the names the services declare (docs/billing.md):

    [tiers.free]
    name = "Free"
    limits.storage = { buckets = 10, … }
    prices.storage = { storage_gb_month = "0.015", … }
    allowances.storage = { storage_gb_month = "10", … }

The file is read without knowing the services; :func:`check_tiers` then holds it against
what the services declare (unknown names and incomplete sections stop the start).

Files of the first format keep loading: their flat ``limits`` are read by name (limit
names are unique on the platform), their flat ``prices`` and ``allowances`` as Object
Storage's — it was the only priced service then.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from nexq.core.errors import Invalid
from nexq.core.metering import Metered
from nexq.core.quotas import Limit

UNLIMITED = -1
# The first format's flat prices and allowances: the storage service's meters. Its
# allowances of operations were counted one by one; they are now in the meters' unit
# (millions), as prices are.
_FIRST_FORMAT_SERVICE = "storage"
_FIRST_FORMAT_ALLOWANCES = {
    "class_a": ("class_a_million", 10**6),
    "class_b": ("class_b_million", 10**6),
}
_NOTHING = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tier:
    """One service tier."""

    id: str
    name: str
    limits: dict[str, int | None]  # by limit name; None = unlimited
    prices: dict[str, dict[str, Decimal]]  # service → meter → price per unit
    allowances: dict[str, dict[str, Decimal]]  # service → meter → units included each month
    # limit name → the service whose section holds it ("" in a first-format file)
    limit_sections: dict[str, str] = field(default_factory=dict)

    def price(self, service: str, meter: str) -> Decimal:
        """Per unit of the meter; a meter the tier does not price is free."""
        return self.prices.get(service, {}).get(meter, _NOTHING)

    def allowance(self, service: str, meter: str) -> Decimal:
        return self.allowances.get(service, {}).get(meter, _NOTHING)


@dataclass(frozen=True, slots=True)
class TierCatalog:
    """Every tier of the installation, in order from the smallest."""

    currency: str
    default_tier: str
    operator_tier: str
    tiers: dict[str, Tier]
    source: str = "the default tiers"  # where it was read, for messages

    def get(self, tier_id: str) -> Tier:
        try:
            return self.tiers[tier_id]
        except KeyError:
            raise Invalid(
                f"tier: {tier_id!r} is not a tier; choose from {', '.join(self.tiers)}."
            ) from None


def default_tiers_text() -> str:
    """The tier file shipped with Nexq (copied into a new data directory)."""
    return resources.files("nexq.accounts").joinpath("tiers.toml").read_text()


def load_tiers(path: Path | None) -> TierCatalog:
    """The catalog in ``path`` (the shipped defaults when None); errors name the field."""
    text = path.read_text() if path is not None else default_tiers_text()
    where = str(path) if path is not None else "the default tiers"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Invalid(f"{where}: {exc}") from None
    return parse_tiers(data, where)


def _field(table: dict[str, Any], name: str, where: str) -> Any:
    if name not in table:
        raise Invalid(f"{where}: {name} is missing.")
    return table[name]


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{where}: must be a table.")
    return value


def _decimal(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"{where}: {value!r} is not a decimal number.") from None
    if not number.is_finite() or number < 0:
        raise Invalid(f"{where}: must be a number of 0 or more.")
    return number


def _limit(value: Any, where: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < UNLIMITED:
        raise Invalid(f"{where}: an integer, or -1 for unlimited.")
    return None if value == UNLIMITED else value


def _limits(raw: dict[str, Any], at: str) -> tuple[dict[str, int | None], dict[str, str]]:
    """``limits.<service>.<name>``, or a first-format flat ``limits.<name>``."""
    values: dict[str, int | None] = {}
    sections: dict[str, str] = {}
    for key, value in _table(raw, f"{at}.limits").items():
        group = value if isinstance(value, dict) else {key: value}
        service = key if isinstance(value, dict) else ""
        for name, number in group.items():
            where = f"{at}.limits.{service + '.' if service else ''}{name}"
            if name in values:
                raise Invalid(f"{where}: {name} is given twice.")
            values[name] = _limit(number, where)
            sections[name] = service
    return values, sections


def _priced(
    raw: dict[str, Any], at: str, first_format: dict[str, tuple[str, int]]
) -> dict[str, dict[str, Decimal]]:
    """``<kind>.<service>.<meter>`` decimals, or a first-format flat ``<kind>.<name>`` read
    as Object Storage's (``first_format`` renames and rescales the old names)."""
    priced: dict[str, dict[str, Decimal]] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            group = priced.setdefault(key, {})
            for meter, number in value.items():
                group[meter] = _decimal(number, f"{at}.{key}.{meter}")
            continue
        meter, scale = first_format.get(key, (key, 1))
        number = _decimal(value, f"{at}.{key}")
        priced.setdefault(_FIRST_FORMAT_SERVICE, {})[meter] = (
            number / Decimal(scale) if scale != 1 else number
        )
    return priced


def parse_tiers(data: dict[str, Any], where: str) -> TierCatalog:
    """Validate a decoded tier file (its shape; :func:`check_tiers` checks the names)."""
    tiers: dict[str, Tier] = {}
    raw_tiers = _field(data, "tiers", where)
    if not isinstance(raw_tiers, dict) or not raw_tiers:
        raise Invalid(f"{where}: tiers must name at least one tier.")
    for tier_id, raw in raw_tiers.items():
        at = f"{where}: tiers.{tier_id}"
        _table(raw, at)
        limits, sections = _limits(raw.get("limits", {}), at)
        prices = _priced(_table(raw.get("prices", {}), f"{at}.prices"), f"{at}.prices", {})
        allowances = _priced(
            _table(raw.get("allowances", {}), f"{at}.allowances"),
            f"{at}.allowances",
            _FIRST_FORMAT_ALLOWANCES,
        )
        tiers[tier_id] = Tier(
            tier_id, str(raw.get("name", tier_id)), limits, prices, allowances, sections
        )
    catalog = TierCatalog(
        currency=str(_field(data, "currency", where)),
        default_tier=str(_field(data, "default_tier", where)),
        operator_tier=str(data.get("operator_tier", _field(data, "default_tier", where))),
        tiers=tiers,
        source=where,
    )
    for name in ("default_tier", "operator_tier"):
        if getattr(catalog, name) not in tiers:
            raise Invalid(f"{where}: {name} names no tier.")
    return catalog


def _unique(kind: str, names: Sequence[tuple[str, str]]) -> dict[str, str]:
    """name → declaring service; Invalid if two services declare one name."""
    owners: dict[str, str] = {}
    for service, name in names:
        if name in owners:
            raise Invalid(f"{kind} {name}: declared by {owners[name]} and by {service}.")
        owners[name] = service
    return owners


def check_tiers(
    catalog: TierCatalog, limits: Sequence[tuple[str, Limit]], services: Sequence[Metered]
) -> list[str]:
    """Hold the tiers against the limits and meters the services declare.

    A name no service declares, or a service's section that leaves out one of its names,
    stops the start (Invalid, naming the field). A service a tier says nothing of — one
    added after the operator's file was written — is unlimited and free in that tier: the
    notes returned say so, for the operator to add its section.
    """
    limit_owner = _unique("limit", [(service, limit.name) for service, limit in limits])
    meter_owner = _unique("meter", [(s.service, m.name) for s in services for m in s.meters])
    by_service: dict[str, list[str]] = {}
    for service, limit in limits:
        by_service.setdefault(service, []).append(limit.name)
    meters = {s.service: [m.name for m in s.meters] for s in services}
    notes: list[str] = []
    for tier in catalog.tiers.values():
        at = f"{catalog.source}: tiers.{tier.id}"
        for name, section in tier.limit_sections.items():
            if section and section not in by_service:
                # A service this installation does not run (yet, or any more).
                notes.append(f"{at}.limits.{section}: no such service here; ignored.")
                continue
            owner = limit_owner.get(name)
            if owner is None or section not in ("", owner):
                choices = ", ".join(by_service.get(section, limit_owner))
                raise Invalid(
                    f"{at}.limits.{section + '.' if section else ''}{name}: not a limit "
                    f"of {section or 'any service'}; choose from {choices}."
                )
        for service, names in by_service.items():
            given = [n for n in names if n in tier.limits]
            if not given:
                notes.append(f"{at}: no limits for {service}; they are unlimited.")
            for name in names:
                if given and name not in tier.limits:
                    raise Invalid(f"{at}.limits.{service}.{name} is missing.")
        for kind, table in (("prices", tier.prices), ("allowances", tier.allowances)):
            for service, group in table.items():
                if service not in meters:
                    notes.append(f"{at}.{kind}.{service}: no such service here; ignored.")
                    continue
                for meter in group:
                    if meter_owner.get(meter) != service:
                        choices = ", ".join(meters.get(service, meter_owner))
                        raise Invalid(
                            f"{at}.{kind}.{service}.{meter}: not a meter of {service}; "
                            f"choose from {choices}."
                        )
        for service, names in meters.items():
            priced = tier.prices.get(service, {})
            if not priced:
                notes.append(f"{at}: no prices for {service}; its meters are free.")
            for name in names:
                if priced and name not in priced:
                    raise Invalid(f"{at}.prices.{service}.{name} is missing.")
    return notes
