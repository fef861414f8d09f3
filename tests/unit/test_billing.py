"""Pricing arithmetic and budget alerts on a real database, without a server."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from nexq.accounts.limits import Limits
from nexq.accounts.sqlite import SqliteAccounts
from nexq.accounts.tiers import load_tiers
from nexq.app import SCHEMAS
from nexq.billing.budgets import Budgets
from nexq.billing.model import Budget
from nexq.billing.pricing import hours_in, price, total
from nexq.billing.service import Billing
from nexq.billing.sqlite import SqliteBilling
from nexq.core.db import Database
from nexq.core.errors import Invalid
from nexq.core.identity import Account
from nexq.core.metering import Metered, NothingCounted
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.meters import METERS, StorageMeters
from nexq.storage.model import Counters, UsageRow

FREE = load_tiers(None).tiers["free"]
STORAGE = Metered("storage", "Object Storage", METERS, NothingCounted())


def storage_billed(db: Database) -> Callable[[], list[Metered]]:
    """Object Storage as billing is given it, reading the usage rows of ``db``."""
    return lambda: [Metered("storage", "Object Storage", METERS, StorageMeters(SqliteMetadata(db)))]


def test_allowances_come_first_and_amounts_round_half_up() -> None:
    november = date(2026, 11, 1)
    assert hours_in(november) == 720
    usage = {
        ("storage", "storage_gb_month"): 20 * 10**9 * 720,  # 20 GB all month: 10 included
        ("storage", "egress_gb"): 10 * 10**9 + 500_000_000,  # 10.5 GB: 0.5 billed
        ("storage", "class_a_million"): 1_000_001,  # one beyond the allowance
        ("storage", "class_b_million"): 10_000_000,  # exactly the allowance
    }
    lines = {line.resource: line for line in price(FREE, november, [STORAGE], usage)}
    assert lines["Storage"].quantity == Decimal(20)
    assert lines["Storage"].amount == Decimal("0.15")  # 10 x 0.015
    assert lines["Egress"].amount == Decimal("0.01")  # 0.5 x 0.01 = 0.005 → half up
    assert lines["Class A operations"].amount == Decimal("0.00")  # 4.50 per million x 1e-6
    assert lines["Class B operations"].billable == 0
    assert total(list(lines.values())) == Decimal("0.16")


def test_a_month_with_no_usage_costs_nothing() -> None:
    assert total(price(FREE, date(2026, 2, 1), [STORAGE], {})) == Decimal("0.00")


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[tuple[Database, Account]]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    account = Account("acc", "a@example.com", "customer", "active", time.time())
    SqliteAccounts(db).add_account(account, "hash")
    yield db, account
    db.close()


def test_budget_alerts_fire_once_per_threshold(installation: tuple[Database, Account]) -> None:
    db, account = installation
    accounts, store = SqliteAccounts(db), SqliteBilling(db)
    catalog = load_tiers(None)
    accounts.set_account_tier(account.id, "free")
    limits = Limits(accounts, catalog)
    billing = Billing(store, accounts, limits, storage_billed(db))
    delivered: list[dict[str, object]] = []
    budgets = Budgets(store, accounts, billing, post=lambda url, body: delivered.append(body))
    budgets.set(account.id, "0.02", [50, 100, 200], None, "http://hooks.invalid/x")
    hour = int(time.time()) // 3600
    # 2 GB beyond the free 10 GB of egress: 0.02, i.e. 100 % of the budget.
    SqliteMetadata(db).add_usage(
        [UsageRow(account.id, hour, "b", "bucket", Counters(data_out=12 * 10**9))]
    )
    assert budgets.check() == 2
    assert budgets.check() == 0
    assert [d["threshold_percent"] for d in delivered] == [50, 100]
    assert len(budgets.notifications(account.id)) == 2


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.5/hook", "10.0.0.5 is a private address"),
        ("http://169.254.169.254/latest", "169.254.169.254 is a link-local address"),
        ("http://[::1]:9000/", "::1 is a loopback address"),
        ("http://localhost:8080/", "localhost is a loopback name"),
    ],
)
def test_a_budget_refuses_a_webhook_the_server_must_not_reach(
    installation: tuple[Database, Account], url: str, reason: str
) -> None:
    db, account = installation
    accounts, store = SqliteAccounts(db), SqliteBilling(db)
    budgets = Budgets(
        store,
        accounts,
        Billing(store, accounts, Limits(accounts, load_tiers(None)), storage_billed(db)),
    )
    with pytest.raises(Invalid) as refused:
        budgets.set(account.id, "5", None, None, url)
    assert refused.value.message == (f"webhook_url: {reason}; Nexq only posts to public addresses.")
    assert budgets.get(account.id) is None
    with pytest.raises(Invalid, match="at most 2048 characters"):
        budgets.set(account.id, "5", None, None, "https://hooks.example/" + "x" * 2048)


def test_a_webhook_stored_before_the_rule_is_not_posted_to(
    installation: tuple[Database, Account], caplog: pytest.LogCaptureFixture
) -> None:
    db, account = installation
    accounts, store = SqliteAccounts(db), SqliteBilling(db)
    accounts.set_account_tier(account.id, "free")
    billing = Billing(store, accounts, Limits(accounts, load_tiers(None)), storage_billed(db))
    budgets = Budgets(store, accounts, billing)  # the real sender, public addresses only
    # As an older Nexq saved it, before URLs were checked.
    secret_url = "http://127.0.0.1:1/hook?token=s3cr3t-t0ken"
    store.set_budget(Budget(account.id, Decimal("0.02"), [50], None, secret_url))
    hour = int(time.time()) // 3600
    SqliteMetadata(db).add_usage(
        [UsageRow(account.id, hour, "b", "bucket", Counters(data_out=12 * 10**9))]
    )
    with caplog.at_level(logging.WARNING, logger="nexq.billing"):
        assert budgets.check() == 1
    assert "50% of your budget" in budgets.notifications(account.id)[0].message
    assert "127.0.0.1 is a loopback address" in caplog.text
    assert "s3cr3t" not in caplog.text and "/hook" not in caplog.text
