# ruff: noqa: E501 - tier files are written as operators write them, one tier a line
"""Billing knows no service: a made-up service's meters are priced, sampled, invoiced and
analysed from what it declares and the tiers' prices for it, beside Object Storage's."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from nexq.accounts.limits import Limits
from nexq.accounts.sqlite import SqliteAccounts
from nexq.accounts.tiers import check_tiers, parse_tiers
from nexq.app import SCHEMAS
from nexq.billing.pricing import breakdown, price, total
from nexq.billing.service import Billing, hour_of
from nexq.billing.sqlite import SqliteBilling
from nexq.core.db import Database
from nexq.core.errors import Invalid
from nexq.core.identity import Account
from nexq.core.metering import Meter, Metered, MeterKind, NothingCounted, UsageRecord
from nexq.storage.meters import METERS as STORAGE_METERS

MESSAGES = Meter("messages_million", "Messages", "million messages", MeterKind.COUNTER, 10**6)
RETAINED = Meter("retained_gb_month", "Retained messages", "GB-month", MeterKind.GAUGE, 10**9)
TIERS = """
currency = "EUR"
default_tier = "small"

[tiers.small]
name = "Small"
prices.storage = { storage_gb_month = "1", egress_gb = "1", class_a_million = "1", class_b_million = "1" }
prices.queue = { messages_million = "0.40", retained_gb_month = "0.10" }
allowances.queue = { messages_million = "1" }
"""
JANUARY = date(2026, 1, 1)
AFTER_JANUARY = datetime(2026, 2, 3, tzinfo=UTC).timestamp()


@dataclass
class Queue:
    """A service Nexq does not have: messages sent (per queue and hour) and bytes retained."""

    sent: list[UsageRecord] = field(default_factory=list)
    retained: dict[tuple[str, str], int] = field(default_factory=dict)  # (account, queue)

    def counted(self, account_id: str, from_hour: int, to_hour: int) -> list[UsageRecord]:
        return [
            r for r in self.sent if r.account_id == account_id and from_hour <= r.hour < to_hour
        ]

    def accounts(self, from_hour: int, to_hour: int) -> set[str]:
        return {r.account_id for r in self.sent if from_hour <= r.hour < to_hour}

    def gauges(self, hour: int) -> list[UsageRecord]:
        return [
            UsageRecord(account, "queue", queue, RETAINED.name, hour, size)
            for (account, queue), size in self.retained.items()
        ]


def test_a_made_up_service_is_priced_from_its_own_meters() -> None:
    tier = parse_tiers(tomllib.loads(TIERS), "test tiers").tiers["small"]
    queue = Metered("queue", "Message Queue", (MESSAGES, RETAINED), NothingCounted())
    storage = Metered("storage", "Object Storage", STORAGE_METERS, NothingCounted())
    used = {
        ("queue", "messages_million"): 3_500_001,  # 3.500001 million, 1 included
        ("queue", "retained_gb_month"): 5 * 10**9 * 744,  # 5 GB all January
        ("storage", "egress_gb"): 10**9,
    }
    lines = price(tier, JANUARY, [storage, queue], used)
    assert [(ln.service, ln.resource) for ln in lines] == [
        ("Object Storage", "Storage"),
        ("Object Storage", "Egress"),
        ("Object Storage", "Class A operations"),
        ("Object Storage", "Class B operations"),
        ("Message Queue", "Messages"),
        ("Message Queue", "Retained messages"),
    ]
    messages, retained = lines[4], lines[5]
    assert messages.quantity == Decimal("3.500001") and messages.included == Decimal(1)
    assert messages.unit == "million messages" and messages.unit_price == Decimal("0.40")
    assert messages.amount == Decimal("1.00")  # 2.500001 x 0.40 = 1.0000004
    assert retained.quantity == Decimal(5) and retained.included == 0
    assert retained.amount == Decimal("0.50")
    assert lines[1].amount == Decimal("1.00")
    assert total(lines) == Decimal("2.50")
    assert breakdown(lines, "service") == {
        "Object Storage": Decimal("1.00"),
        "Message Queue": Decimal("1.50"),
    }


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[tuple[Database, SqliteAccounts]]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    accounts = SqliteAccounts(db)
    for account_id in ("sender", "keeper", "idle"):
        accounts.add_account(
            Account(account_id, f"{account_id}@example.com", "customer", "active", time.time()),
            "hash",
        )
    yield db, accounts
    db.close()


def test_billing_samples_invoices_and_analyses_any_service(
    installation: tuple[Database, SqliteAccounts],
) -> None:
    db, accounts = installation
    queue = Queue()
    start = hour_of(JANUARY)
    # 2 million messages on Jan 1st, 1.5 million on Jan 31st, over two queues.
    queue.sent += [UsageRecord("sender", "queue", "q1", MESSAGES.name, start, 2_000_000)]
    queue.sent += [
        UsageRecord("sender", "queue", "q2", MESSAGES.name, start + 30 * 24 + 5, 1_500_000)
    ]
    queue.sent += [UsageRecord("sender", "queue", "q1", MESSAGES.name, start - 1, 10**9)]
    now = [float(start * 3600)]
    tiers = parse_tiers(tomllib.loads(TIERS), "test tiers")
    metered = Metered("queue", "Message Queue", (MESSAGES, RETAINED), queue)
    store = SqliteBilling(db)
    billing = Billing(
        store, accounts, Limits(accounts, tiers), lambda: [metered], clock=lambda: now[0]
    )
    # 10 GB retained by "keeper" for the first 372 hours of January: half of the month.
    queue.retained[("keeper", "big")] = 10 * 10**9
    for hour in range(start, start + 372):
        now[0] = hour * 3600.0 + 10
        billing.sample_gauges()
        billing.sample_gauges()  # once per hour and process
    assert len(store.sampled("keeper", start, start + 744)) == 372

    now[0] = AFTER_JANUARY
    sent = billing.statement(accounts.get_account("sender"), JANUARY)  # type: ignore[arg-type]
    assert [(ln.resource, ln.quantity, ln.amount) for ln in sent.lines] == [
        ("Messages", Decimal("3.5"), Decimal("1.00")),  # 2.5 beyond the allowance x 0.40
        ("Retained messages", Decimal(0), Decimal("0.00")),
    ]
    assert sent.currency == "EUR" and sent.tier == "Small"
    assert sent.daily[0] == (JANUARY, Decimal("0.40")) and sent.daily[30][1] == Decimal("0.60")
    kept = billing.statement(accounts.get_account("keeper"), JANUARY)  # type: ignore[arg-type]
    assert kept.lines[1].quantity == Decimal(5) and kept.total == Decimal("0.50")

    invoices = {i.account_id: i for i in billing.close_month(JANUARY)}
    assert sorted(invoices) == ["keeper", "sender"]
    assert invoices["sender"].total == Decimal("1.00")
    assert invoices["keeper"].lines[1].service == "Message Queue"


def test_tiers_are_held_against_what_the_services_declare() -> None:
    queue = Metered("queue", "Message Queue", (MESSAGES, RETAINED), NothingCounted())
    storage = Metered("storage", "Object Storage", STORAGE_METERS, NothingCounted())
    tiers = parse_tiers(tomllib.loads(TIERS), "test tiers")
    assert check_tiers(tiers, [], [storage, queue]) == []
    # A service a tier says nothing of is free there (an operator's file written before it).
    later = Metered("later", "Later", (Meter("x", "X", "x", MeterKind.COUNTER),), NothingCounted())
    assert check_tiers(tiers, [], [storage, queue, later]) == [
        "test tiers: tiers.small: no prices for later; its meters are free."
    ]
    missing = TIERS.replace(', retained_gb_month = "0.10"', "")
    with pytest.raises(Invalid, match=r"tiers\.small\.prices\.queue\.retained_gb_month is missing"):
        check_tiers(parse_tiers(tomllib.loads(missing), "test tiers"), [], [storage, queue])
    typo = TIERS.replace('messages_million = "0.40"', 'mesages_million = "0.40"')
    with pytest.raises(Invalid, match=r"prices\.queue\.mesages_million: not a meter of queue"):
        check_tiers(parse_tiers(tomllib.loads(typo), "test tiers"), [], [storage, queue])
    twice = Metered("copy", "Copy", (MESSAGES,), NothingCounted())
    with pytest.raises(Invalid, match="meter messages_million: declared by queue and by copy"):
        check_tiers(tiers, [], [queue, twice])
