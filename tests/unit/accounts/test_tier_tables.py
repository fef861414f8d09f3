"""The operator's tiers as the user guide's tables (accounts/tier_tables.py): every tier,
each limit in its unit, each price with what a month includes, the operator's words as text."""

from __future__ import annotations

from decimal import Decimal

from nexq.accounts.tier_tables import (
    amount,
    fragments,
    limit_meanings,
    size,
    text,
    tier_limits,
    tier_list,
    tier_prices,
)
from nexq.accounts.tiers import load_tiers, parse_tiers
from nexq.core.metering import Meter, Metered, MeterKind
from nexq.core.quotas import BYTES, COUNT, PER_SECOND, Limit

BUCKETS = Limit("buckets", "Buckets", COUNT, "Buckets of the account")
STORED = Limit("storage_bytes", "Storage", BYTES, "Bytes stored by all objects")
READS = Limit("s3_read_rps", "S3 reads", PER_SECOND, "GET, HEAD and LIST requests per second")
DECLARED = [("storage", BUCKETS), ("storage", STORED), ("storage", READS)]
STORAGE = Metered(
    "storage",
    "Object Storage",
    (Meter("storage_gb_month", "Storage", "GB-month", MeterKind.GAUGE, 10**9),),
    None,  # type: ignore[arg-type]  # the tables read no quantity
)


def test_sizes_are_exact_in_the_largest_unit_that_divides_them() -> None:
    assert size(10_000_000_000) == "10 GB"
    assert size(100_000_000_000_000) == "100 TB"
    assert size(536_870_912) == "512 MiB"
    assert size(2_199_023_255_552) == "2 TiB"
    assert size(1_500_000_000) == "1,500 MB"
    assert size(1_234) == "1,234 bytes"


def test_a_limit_reads_in_its_unit() -> None:
    assert amount(BUCKETS, 1000) == "1,000"
    assert amount(STORED, 10**12) == "1 TB"
    assert amount(READS, 5500) == "5,500/s"
    assert amount(BUCKETS, None) == "unlimited"


def test_the_operators_words_are_text_in_a_cell() -> None:
    assert text("Gold | *best* [x](javascript:1) <b>") == (
        "Gold \\| \\*best\\* \\[x\\](javascript:1) \\<b\\>"
    )
    assert text("two\nlines") == "two lines"


def test_the_tables_of_the_shipped_tiers() -> None:
    catalog = load_tiers(None)
    assert tier_list(catalog).splitlines()[2:4] == [
        "| **Free** | `free` | new accounts start on it |",
        "| **Developer** | `developer` |  |",
    ]
    limits = tier_limits(catalog, DECLARED).splitlines()
    assert limits[0] == "|  | Free | Developer | Professional | Enterprise |"
    assert limits[2:] == [
        "| Buckets `buckets` | 10 | 100 | 1,000 | unlimited |",
        "| Storage `storage_bytes` | 10 GB | 1 TB | 100 TB | unlimited |",
        "| S3 reads `s3_read_rps` | 5,500/s | 5,500/s | 5,500/s | unlimited |",
    ]
    prices = tier_prices(catalog, [STORAGE]).splitlines()
    assert prices[0].startswith("In USD, per unit;")
    assert prices[-1] == (
        "| Object Storage: Storage, per GB-month | 0.015 (10 included) | 0.015 (10 included) "
        "| 0.012 (100 included) | 0.010 (1,000 included) |"
    )
    assert limit_meanings(DECLARED).splitlines()[2:] == [
        "| Buckets `buckets` | Buckets of the account | a number |",
        "| Storage `storage_bytes` | Bytes stored by all objects | bytes |",
        "| S3 reads `s3_read_rps` | GET, HEAD and LIST requests per second | requests a second |",
    ]


def test_a_tier_without_a_price_or_allowance_shows_what_it_costs() -> None:
    catalog = parse_tiers(
        {
            "currency": "EUR",
            "default_tier": "gold",
            "tiers": {
                "gold": {"name": "Gold", "prices": {"storage": {"storage_gb_month": "1234.5"}}},
                "free": {"name": "Free"},
            },
        },
        "test",
    )
    rows = tier_prices(catalog, [STORAGE]).splitlines()
    assert rows[0].startswith("In EUR")
    assert rows[-1] == "| Object Storage: Storage, per GB-month | 1,234.5 | 0 |"
    assert (
        tier_limits(catalog, DECLARED).splitlines()[2]
        == "| Buckets `buckets` | unlimited | unlimited |"
    )
    assert catalog.tiers["gold"].allowance("storage", "storage_gb_month") == Decimal(0)


def test_each_fragment_reads_its_sources_when_it_is_made() -> None:
    catalogs = [load_tiers(None)]
    made = fragments(lambda: catalogs[-1], lambda: DECLARED, lambda: [STORAGE])
    assert sorted(made) == ["limit-meanings", "tier-limits", "tier-list", "tier-prices"]
    assert "Professional" in made["tier-list"]()
    catalogs.append(
        parse_tiers({"currency": "USD", "default_tier": "solo", "tiers": {"solo": {}}}, "t")
    )
    assert "Professional" not in made["tier-list"]() and "`solo`" in made["tier-list"]()
