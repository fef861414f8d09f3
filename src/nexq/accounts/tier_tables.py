"""The operator's tiers as Markdown tables, for the user guide's Service Tiers and Limits &
Quotas pages (``<!-- fragment: NAME -->`` in src/nexq/accounts/guide/*.md).

Made at each request from the catalog ``nexq serve`` read at its start and from what the
services declare, so that the guide shows this installation's tiers, limits and prices, not
the ones Nexq ships. The tables name no service: limits and meters come with their labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal

from nexq.accounts.limits import Declared
from nexq.accounts.tiers import Tier, TierCatalog
from nexq.core.metering import Metered
from nexq.core.quotas import BYTES, PER_SECOND, Limit

UNLIMITED = "unlimited"
# Sizes as they are written in tiers.toml: round decimal units (10 GB) or binary ones
# (512 MiB), whichever divides the value exactly; otherwise every byte.
_SIZES = (
    ("PB", 10**15),
    ("PiB", 2**50),
    ("TB", 10**12),
    ("TiB", 2**40),
    ("GB", 10**9),
    ("GiB", 2**30),
    ("MB", 10**6),
    ("MiB", 2**20),
)
_KINDS = {BYTES: "bytes", PER_SECOND: "requests a second"}
# What Markdown would read as markup in a cell: tier names are the operator's words.
_MARKUP = re.compile(r"([\\`*_\[\]<>|#])")


def text(value: str) -> str:
    """``value`` as plain text in a Markdown table cell."""
    return _MARKUP.sub(r"\\\1", " ".join(value.split()))


def size(n: int) -> str:
    """``10 GB``, ``512 MiB``, ``1,234 bytes``: exact, in the largest unit that divides it."""
    for unit, scale in _SIZES:
        if n >= scale and n % scale == 0:
            return f"{n // scale:,} {unit}"
    return f"{n:,} bytes"


def amount(limit: Limit, value: int | None) -> str:
    """A tier's value of ``limit`` as people read it."""
    if value is None:
        return UNLIMITED
    if limit.unit == BYTES:
        return size(value)
    if limit.unit == PER_SECOND:
        return f"{value:,}/s"
    return f"{value:,}"


def decimal(value: Decimal) -> str:
    """Every digit, as tiers.toml has it, with thousands separators and no exponent."""
    return f"{value:,f}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def tier_list(catalog: TierCatalog) -> str:
    """Every tier, with the id that ``dcp account tier`` and the API take."""
    rows = [_row(["tier", "id", ""]), _row(["---", "---", "---"])]
    for tier in catalog.tiers.values():
        note = "new accounts start on it" if tier.id == catalog.default_tier else ""
        rows.append(_row([f"**{text(tier.name)}**", f"`{tier.id}`", note]))
    return "\n".join(rows)


def _tier_heads(tiers: Sequence[Tier]) -> list[str]:
    return [
        _row(["", *(text(t.name) for t in tiers)]),
        _row(["---", *("--:" for _ in tiers)]),
    ]


def tier_limits(catalog: TierCatalog, declared: Declared) -> str:
    """Each limit the services declare, with each tier's value of it."""
    tiers = list(catalog.tiers.values())
    rows = _tier_heads(tiers)
    for _, limit in declared:
        values = [amount(limit, t.limits.get(limit.name)) for t in tiers]
        rows.append(_row([f"{text(limit.label)} `{limit.name}`", *values]))
    return "\n".join(rows)


def tier_prices(catalog: TierCatalog, priced: Sequence[Metered]) -> str:
    """Each priced meter of every service, with each tier's price and monthly allowance."""
    tiers = list(catalog.tiers.values())
    rows = [
        f"In {text(catalog.currency)}, per unit; in brackets, what each month includes before "
        "the price applies.",
        "",
        *_tier_heads(tiers),
    ]
    for service in priced:
        for meter in service.meters:
            cells = []
            for tier in tiers:
                price = decimal(tier.price(service.service, meter.name))
                included = tier.allowance(service.service, meter.name)
                cells.append(f"{price} ({decimal(included)} included)" if included else price)
            head = f"{text(service.title)}: {text(meter.label)}, per {text(meter.unit)}"
            rows.append(_row([head, *cells]))
    return "\n".join(rows)


def limit_meanings(declared: Declared) -> str:
    """What each limit bounds and how it is counted."""
    rows = [_row(["limit", "what it bounds", "counted in"]), _row(["---", "---", "---"])]
    for _, limit in declared:
        kind = _KINDS.get(limit.unit, "a number")
        rows.append(_row([f"{text(limit.label)} `{limit.name}`", text(limit.description), kind]))
    return "\n".join(rows)


def fragments(
    catalog: Callable[[], TierCatalog],
    declared: Callable[[], Declared],
    priced: Callable[[], Sequence[Metered]],
) -> dict[str, Callable[[], str]]:
    """The guide's fragments, by the names its pages use; each reads its sources when the
    page is served (the services that declare limits and meters are built after this)."""
    return {
        "tier-list": lambda: tier_list(catalog()),
        "tier-limits": lambda: tier_limits(catalog(), declared()),
        "tier-prices": lambda: tier_prices(catalog(), priced()),
        "limit-meanings": lambda: limit_meanings(declared()),
    }
