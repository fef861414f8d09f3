# ruff: noqa: E501 - tier files are written as operators write them, one tier a line
"""Billing by (service, meter) gives the very figures billing by four storage fields gave.

A data directory is made as the code before the change made it (the single migration list,
storage's samples in ``storage_hourly``), with a month of usage: several accounts on every
tier, buckets, Class A/B operations, Data Out and stored bytes over the hours. A frozen copy
of the old pricing reads a copy of it; today's billing opens it (its migration moves the
samples) and prices it through Object Storage's meter provider. Every statement (lines,
totals, the charge of each day) and every invoice must match, Decimal for Decimal and
digit for digit, with the operator's old tier file and with the new one.
"""

from __future__ import annotations

import calendar
import random
import shutil
import sqlite3
import tomllib
from collections.abc import Iterator
from dataclasses import astuple, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from nexq.accounts.limits import AccountLimits, Limits
from nexq.accounts.sqlite import SqliteAccounts
from nexq.accounts.tiers import check_tiers, default_tiers_text, load_tiers
from nexq.app import SCHEMAS
from nexq.billing.model import LineItem, Statement
from nexq.billing.service import Billing
from nexq.billing.sqlite import SqliteBilling
from nexq.core.db import Database, connect
from nexq.core.identity import Account
from nexq.core.metering import Metered
from nexq.storage.limits import limits as storage_limits
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.meters import METERS, StorageMeters
from tests.legacy_schema import legacy_database

# The tier file Nexq shipped before prices were per service and meter (frozen copy), plus a
# tier whose prices make every operation and byte cost something and whose allowances are
# tiny, so that rounding and allowances are exercised at every scale.
OLD_TIERS = """
currency = "USD"
default_tier = "free"
operator_tier = "enterprise"

[tiers.free]
name = "Free"
limits = { buckets = 10, storage_bytes = 10_000_000_000, access_keys = 10, api_keys = 10, s3_read_rps = 200, s3_write_rps = 50, api_rps = 20 }
prices = { storage_gb_month = "0.015", egress_gb = "0.01", class_a_million = "4.50", class_b_million = "0.36" }
allowances = { storage_gb_month = "10", egress_gb = "10", class_a = 1_000_000, class_b = 10_000_000 }

[tiers.developer]
name = "Developer"
limits = { buckets = 100, storage_bytes = 1_000_000_000_000, access_keys = 50, api_keys = 25, s3_read_rps = 1000, s3_write_rps = 300, api_rps = 50 }
prices = { storage_gb_month = "0.015", egress_gb = "0.01", class_a_million = "4.50", class_b_million = "0.36" }
allowances = { storage_gb_month = "10", egress_gb = "10", class_a = 1_000_000, class_b = 10_000_000 }

[tiers.professional]
name = "Professional"
limits = { buckets = 1000, storage_bytes = 100_000_000_000_000, access_keys = 500, api_keys = 100, s3_read_rps = 5000, s3_write_rps = 2000, api_rps = 200 }
prices = { storage_gb_month = "0.012", egress_gb = "0.008", class_a_million = "4.00", class_b_million = "0.30" }
allowances = { storage_gb_month = "100", egress_gb = "100", class_a = 5_000_000, class_b = 50_000_000 }

[tiers.enterprise]
name = "Enterprise"
limits = { buckets = -1, storage_bytes = -1, access_keys = -1, api_keys = -1, s3_read_rps = -1, s3_write_rps = -1, api_rps = -1 }
prices = { storage_gb_month = "0.010", egress_gb = "0.005", class_a_million = "3.50", class_b_million = "0.25" }
allowances = { storage_gb_month = "1000", egress_gb = "1000", class_a = 10_000_000, class_b = 100_000_000 }
"""
METERED_OLD = """
[tiers.metered]
name = "Metered"
limits = { buckets = 10, storage_bytes = 10_000_000_000, access_keys = 10, api_keys = 10, s3_read_rps = 200, s3_write_rps = 50, api_rps = 20 }
prices.storage_gb_month = "1000.3"
prices.egress_gb = "2000"
prices.class_a_million = "3000000"
prices.class_b_million = "1000000.7"
allowances = { storage_gb_month = "0.0001", egress_gb = "0.000001", class_a = 2, class_b = 3 }
"""
# The same tier in the new format (allowances of operations in millions).
METERED_NEW = """
[tiers.metered]
name = "Metered"
limits.storage = { buckets = 10, storage_bytes = 10_000_000_000, access_keys = 10, s3_read_rps = 200, s3_write_rps = 50 }
limits.account = { api_keys = 10, api_rps = 20 }
prices.storage = { storage_gb_month = "1000.3", egress_gb = "2000", class_a_million = "3000000", class_b_million = "1000000.7" }
allowances.storage = { storage_gb_month = "0.0001", egress_gb = "0.000001", class_a_million = "0.000002", class_b_million = "0.000003" }
"""
MONTH = date(2026, 1, 1)  # the month closed and invoiced
NOW = datetime(2026, 2, 15, 10, 30, tzinfo=UTC).timestamp()  # mid-February: month to date


# --- the old code path, frozen (billing/pricing.py, service.py and sqlite.py before) ----------
CENT = Decimal("0.01")
GB = Decimal(10**9)
MILLION = Decimal(10**6)


@dataclass(frozen=True)
class OldUsage:
    byte_hours: int = 0
    data_out: int = 0
    class_a: int = 0
    class_b: int = 0


@dataclass(frozen=True)
class OldTier:
    name: str
    prices: dict[str, Decimal]
    allowances: dict[str, Decimal]


def old_tiers(text: str) -> dict[str, OldTier]:
    data = tomllib.loads(text)
    return {
        tier_id: OldTier(
            raw["name"],
            {k: Decimal(str(v)) for k, v in raw["prices"].items()},
            {k: Decimal(str(v)) for k, v in raw["allowances"].items()},
        )
        for tier_id, raw in data["tiers"].items()
    }


def old_hours_in(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1] * 24


def old_line(resource: str, unit: str, q: Decimal, included: Decimal, price: Decimal) -> LineItem:
    covered = min(q, included)
    amount = ((q - covered) * price).quantize(CENT, rounding=ROUND_HALF_UP)
    return LineItem("Object Storage", resource, unit, q, covered, price, amount)


def old_price(tier: OldTier, month: date, usage: OldUsage) -> list[LineItem]:
    prices, free = tier.prices, tier.allowances
    gb_months = Decimal(usage.byte_hours) / GB / Decimal(old_hours_in(month))
    return [
        old_line(
            "Storage", "GB-month", gb_months, free["storage_gb_month"], prices["storage_gb_month"]
        ),
        old_line(
            "Egress", "GB", Decimal(usage.data_out) / GB, free["egress_gb"], prices["egress_gb"]
        ),
        old_line(
            "Class A operations",
            "million operations",
            Decimal(usage.class_a) / MILLION,
            free["class_a"] / MILLION,
            prices["class_a_million"],
        ),
        old_line(
            "Class B operations",
            "million operations",
            Decimal(usage.class_b) / MILLION,
            free["class_b"] / MILLION,
            prices["class_b_million"],
        ),
    ]


def old_total(lines: list[LineItem]) -> Decimal:
    return sum((line.amount for line in lines), Decimal("0.00"))


def hour_of(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) // 3600


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def old_daily_usage(
    db: sqlite3.Connection, account_id: str, from_hour: int, to_hour: int
) -> dict[date, OldUsage]:
    def day_of(hour: int) -> date:
        return datetime.fromtimestamp(hour * 3600, UTC).date()

    days: dict[date, list[int]] = {}
    for hour, out, a, b in db.execute(
        "SELECT hour, sum(data_out), sum(class_a), sum(class_b) FROM usage_hourly "
        "WHERE account_id = ? AND hour >= ? AND hour < ? GROUP BY hour",
        (account_id, from_hour, to_hour),
    ):
        day = days.setdefault(day_of(hour), [0, 0, 0, 0])
        day[1] += out
        day[2] += a
        day[3] += b
    for hour, stored in db.execute(
        "SELECT hour, sum(bytes) FROM storage_hourly "
        "WHERE account_id = ? AND hour >= ? AND hour < ? GROUP BY hour",
        (account_id, from_hour, to_hour),
    ):
        days.setdefault(day_of(hour), [0, 0, 0, 0])[0] += stored
    return {d: OldUsage(*v) for d, v in sorted(days.items())}


def old_accounts_with_usage(db: sqlite3.Connection, from_hour: int, to_hour: int) -> list[str]:
    rows = db.execute(
        "SELECT account_id FROM usage_hourly WHERE hour >= ? AND hour < ? "
        "UNION SELECT account_id FROM storage_hourly "
        "WHERE hour >= ? AND hour < ? AND bytes > 0",
        (from_hour, to_hour, from_hour, to_hour),
    )
    return sorted(str(r[0]) for r in rows)


def old_statement(
    db: sqlite3.Connection, tiers: dict[str, OldTier], account: Account, month: date, now: float
) -> Statement:
    tier_id = db.execute("SELECT tier FROM accounts WHERE id = ?", (account.id,)).fetchone()[0]
    if tier_id is None:
        tier_id = "enterprise" if account.role == "operator" else "free"
    tier = tiers[tier_id]
    end = next_month(month)
    to_hour = min(hour_of(end), int(now) // 3600 + 1)
    days = old_daily_usage(db, account.id, hour_of(month), to_hour)
    running = OldUsage()
    before = Decimal("0.00")
    daily: list[tuple[date, Decimal]] = []
    day = month
    while day < end and hour_of(day) < to_hour:
        used = days.get(day)
        if used is not None:
            running = OldUsage(
                running.byte_hours + used.byte_hours,
                running.data_out + used.data_out,
                running.class_a + used.class_a,
                running.class_b + used.class_b,
            )
        so_far = old_total(old_price(tier, month, running))
        daily.append((day, so_far - before))
        before = so_far
        day += timedelta(days=1)
    lines = old_price(tier, month, running)
    return Statement(account.id, month, "USD", tier.name, lines, old_total(lines), daily)


# --- the data directory: a month (and a half) of usage ----------------------------------------
@dataclass
class Installation:
    path: Path
    accounts: list[Account] = field(default_factory=list)


ACCOUNTS = [  # id, role, tier (None: the default of its role), what it does
    ("a-free", "customer", "free", "busy"),
    ("a-default", "customer", None, "busy"),
    ("a-dev", "customer", "developer", "busy"),
    ("a-pro", "customer", "professional", "huge"),
    ("a-ent", "customer", "enterprise", "huge"),
    ("a-operator", "operator", None, "busy"),
    ("a-metered", "customer", "metered", "busy"),
    ("a-metered-light", "customer", "metered", "light"),
    ("a-deletes", "customer", "free", "deletes only"),  # counted, never billed: a 0 invoice
    ("a-stores", "customer", "developer", "stores only"),  # samples, no requests
    ("a-idle", "customer", "free", "nothing"),
]


def _usage_rows(rng: random.Random, account_id: str, kind: str, buckets: list[str]) -> list[Any]:
    rows = []
    start, end = hour_of(MONTH) - 5, int(NOW) // 3600 + 3  # a little past both ends
    scale = {"busy": 1, "huge": 400, "light": 0}.get(kind)
    for hour in range(start, end):
        for bucket in buckets:
            if kind == "deletes only":
                if rng.random() < 0.01:
                    rows.append((account_id, hour, bucket, bucket, 0, 0, 0, 0, rng.randint(1, 9)))
                continue
            if scale is None or rng.random() < 0.4:
                continue
            if scale == 0:  # a handful of requests in the whole month
                if rng.random() < 0.002:
                    rows.append((account_id, hour, bucket, bucket, 10, 3, 1, 1, 0))
                continue
            rows.append(
                (
                    account_id,
                    hour,
                    bucket,
                    bucket,
                    rng.randint(0, 10**8) * scale,
                    rng.randint(0, 7 * 10**7) * scale,  # Data Out
                    rng.randint(0, 3_000) * scale,  # Class A
                    rng.randint(0, 30_000) * scale,  # Class B
                    rng.randint(0, 50),
                )
            )
    return rows


def _samples(rng: random.Random, account_id: str, kind: str, buckets: list[str]) -> list[Any]:
    rows = []
    if kind in ("nothing", "deletes only"):
        return rows
    start, end = hour_of(MONTH) - 5, int(NOW) // 3600 + 1
    scale = {"huge": 10**4, "light": 1}.get(kind, 30)
    for bucket in buckets:
        level = rng.randint(0, 10**9) * scale
        for hour in range(start, end):
            if rng.random() < 0.05:  # no process ran that hour: no sample
                continue
            level = max(0, level + rng.randint(-(10**7), 2 * 10**7) * scale)
            rows.append((bucket, hour, account_id, level))
        rows.append((f"{bucket}-empty", start + 3, account_id, 0))
    return rows


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    """Made as main made it; a copy for the old code path (today's code migrates it)."""
    path = tmp_path_factory.mktemp("figures") / "meta.db"
    conn = connect(path)
    legacy_database(conn)
    rng = random.Random(11)
    made = Installation(path)
    for n, (account_id, role, tier, kind) in enumerate(ACCOUNTS):
        conn.execute(
            "INSERT INTO accounts(id, email, password_hash, role, status, created_at, tier) "
            "VALUES (?, ?, 'h', ?, 'active', ?, ?)",
            (account_id, f"{account_id}@example.com", role, n, tier),
        )
        made.accounts.append(Account(account_id, f"{account_id}@example.com", role, "active", n))
        buckets = [f"{account_id}-b{i}" for i in range(rng.randint(1, 3))]
        for bucket in buckets:
            conn.execute(
                "INSERT INTO buckets(id, name, account_id, created_at, stored_bytes) "
                "VALUES (?, ?, ?, 0, ?)",
                (bucket, bucket, account_id, rng.randint(0, 10**10)),
            )
        conn.executemany(
            "INSERT INTO usage_hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _usage_rows(rng, account_id, kind, buckets),
        )
        conn.executemany(
            "INSERT INTO storage_hourly VALUES (?, ?, ?, ?)",
            _samples(rng, account_id, kind, buckets),
        )
    conn.commit()
    conn.close()
    shutil.copy(path, path.with_name("old.db"))
    return made


@dataclass
class Today:
    billing: Billing
    db: Database


@pytest.fixture(scope="module", params=["old tier file", "new tier file"])
def today(
    request: pytest.FixtureRequest,
    installation: Installation,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Today]:
    """Today's billing on a copy of the data directory, with the operator's old tiers.toml
    or with the shipped one of today (plus the metered tier, written in the new format)."""
    folder = tmp_path_factory.mktemp("today")
    shutil.copy(installation.path, folder / "meta.db")
    tiers = folder / "tiers.toml"
    if request.param == "old tier file":
        tiers.write_text(OLD_TIERS + METERED_OLD)
    else:
        tiers.write_text(default_tiers_text() + METERED_NEW)
    db = Database(folder / "meta.db", SCHEMAS)
    accounts = SqliteAccounts(db)
    storage = Metered("storage", "Object Storage", METERS, StorageMeters(SqliteMetadata(db)))
    catalog = load_tiers(tiers)
    declared = [("storage", limit) for limit in storage_limits(SqliteMetadata(db))]
    declared += [
        ("account", limit) for limit in AccountLimits(Limits(accounts, catalog), accounts).own()
    ]
    # Every tier of either file sets every limit and prices every meter.
    notes = check_tiers(catalog, declared, [storage])
    # Only Object Storage and Account are built here: the sections of the services that are
    # not (Support's open tickets) are noted and ignored.
    assert all("no such service here" in note for note in notes), notes
    billing = Billing(
        SqliteBilling(db), accounts, Limits(accounts, catalog), lambda: [storage], clock=lambda: NOW
    )
    yield Today(billing, db)
    db.close()


def _exact(lines: list[LineItem]) -> list[tuple[str, ...]]:
    """Each line as the strings an invoice stores: equal values written alike."""
    return [tuple(str(value) for value in astuple(line)) for line in lines]


def _old(installation: Installation) -> sqlite3.Connection:
    return sqlite3.connect(installation.path.with_name("old.db"))


@pytest.mark.parametrize("month", [MONTH, date(2026, 2, 1)], ids=["closed month", "month to date"])
def test_every_statement_is_identical(
    installation: Installation, today: Today, month: date
) -> None:
    tiers = old_tiers(OLD_TIERS + METERED_OLD)
    with _old(installation) as old_db:
        for account in installation.accounts:
            before = old_statement(old_db, tiers, account, month, NOW)
            after = today.billing.statement(account, month)
            assert _exact(after.lines) == _exact(before.lines), account.id
            assert after.lines == before.lines
            assert (after.total, str(after.total)) == (before.total, str(before.total))
            assert after.daily == before.daily, account.id
            assert [str(a) for _, a in after.daily] == [str(a) for _, a in before.daily]
            assert (after.tier, after.currency) == (before.tier, before.currency)


def test_every_invoice_is_identical(installation: Installation, today: Today) -> None:
    tiers = old_tiers(OLD_TIERS + METERED_OLD)
    start, end = hour_of(MONTH), hour_of(next_month(MONTH))
    by_id = {a.id: a for a in installation.accounts}
    with _old(installation) as old_db:
        invoiced = old_accounts_with_usage(old_db, start, end)
        expected = {
            account_id: old_statement(old_db, tiers, by_id[account_id], MONTH, NOW)
            for account_id in invoiced
        }
    made = today.billing.close_month(MONTH)
    assert sorted(i.account_id for i in made) == invoiced
    # Who is invoiced: every kind of account but the idle one (a 0 invoice for deletes only).
    assert set(invoiced) == {a for a, *_ in ACCOUNTS} - {"a-idle"}
    for invoice in made:
        before = expected[invoice.account_id]
        assert _exact(invoice.lines) == _exact(before.lines)
        assert str(invoice.total) == str(before.total)
        stored = today.billing.invoice(None, invoice.id)  # as read back from the database
        assert _exact(stored.lines) == _exact(before.lines)
    totals = {i.account_id: i.total for i in made}
    assert totals["a-deletes"] == Decimal("0.00")
    assert totals["a-metered"] > Decimal(1000) and totals["a-pro"] > 0


def test_the_samples_moved_to_billings_table_unchanged(
    installation: Installation, today: Today
) -> None:
    with _old(installation) as old_db:
        before = sorted(
            old_db.execute("SELECT bucket_id, hour, account_id, bytes FROM storage_hourly")
        )
    after = sorted(
        today.db.reader().execute(
            "SELECT resource, hour, account_id, quantity FROM usage_samples "
            "WHERE service = 'storage' AND meter = 'storage_gb_month'"
        )
    )
    assert after == before and len(before) > 10_000
    tables = {r[0] for r in today.db.reader().execute("SELECT name FROM sqlite_master")}
    assert "storage_hourly" not in tables
