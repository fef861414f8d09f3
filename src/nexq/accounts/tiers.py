"""Service tiers: limits and prices per tier, read from the operator's TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from nexq.core.errors import Invalid

LIMIT_NAMES: tuple[str, ...] = (
    "buckets",
    "storage_bytes",
    "access_keys",
    "api_keys",
    "s3_read_rps",
    "s3_write_rps",
    "api_rps",
)
PRICE_NAMES: tuple[str, ...] = (
    "storage_gb_month",
    "egress_gb",
    "class_a_million",
    "class_b_million",
)
ALLOWANCE_NAMES: tuple[str, ...] = ("storage_gb_month", "egress_gb", "class_a", "class_b")
UNLIMITED = -1


@dataclass(frozen=True, slots=True)
class Tier:
    """One service tier."""

    id: str
    name: str
    limits: dict[str, int | None]  # None = unlimited
    prices: dict[str, Decimal]
    allowances: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class TierCatalog:
    """Every tier of the installation, in order from the smallest."""

    currency: str
    default_tier: str
    operator_tier: str
    tiers: dict[str, Tier]

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


def _decimal(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"{where}: {value!r} is not a decimal number.") from None
    if not number.is_finite() or number < 0:
        raise Invalid(f"{where}: must be a number of 0 or more.")
    return number


def parse_tiers(data: dict[str, Any], where: str) -> TierCatalog:
    """Validate a decoded tier file."""
    tiers: dict[str, Tier] = {}
    raw_tiers = _field(data, "tiers", where)
    if not isinstance(raw_tiers, dict) or not raw_tiers:
        raise Invalid(f"{where}: tiers must name at least one tier.")
    for tier_id, raw in raw_tiers.items():
        at = f"{where}: tiers.{tier_id}"
        limits: dict[str, int | None] = {}
        raw_limits = _field(raw, "limits", at)
        for name in LIMIT_NAMES:
            value = _field(raw_limits, name, f"{at}.limits")
            if not isinstance(value, int) or value < UNLIMITED:
                raise Invalid(f"{at}.limits.{name}: an integer, or -1 for unlimited.")
            limits[name] = None if value == UNLIMITED else value
        prices = {
            n: _decimal(_field(_field(raw, "prices", at), n, f"{at}.prices"), f"{at}.prices.{n}")
            for n in PRICE_NAMES
        }
        allowances = {
            n: _decimal(
                _field(_field(raw, "allowances", at), n, f"{at}.allowances"),
                f"{at}.allowances.{n}",
            )
            for n in ALLOWANCE_NAMES
        }
        tiers[tier_id] = Tier(tier_id, str(raw.get("name", tier_id)), limits, prices, allowances)
    catalog = TierCatalog(
        currency=str(_field(data, "currency", where)),
        default_tier=str(_field(data, "default_tier", where)),
        operator_tier=str(data.get("operator_tier", _field(data, "default_tier", where))),
        tiers=tiers,
    )
    for name in ("default_tier", "operator_tier"):
        if getattr(catalog, name) not in tiers:
            raise Invalid(f"{where}: {name} names no tier.")
    return catalog
