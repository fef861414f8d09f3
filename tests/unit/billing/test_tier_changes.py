"""A month in which the account changed tier is priced in periods: what was used on each
tier at that tier's prices, each tier's monthly allowance less what the month's earlier
periods took; estimate and invoice alike."""

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
from nexq.accounts.tiers import parse_tiers
from nexq.app import SCHEMAS
from nexq.billing.service import Billing, hour_of
from nexq.billing.sqlite import SqliteBilling
from nexq.core.db import Database
from nexq.core.identity import Account
from nexq.core.metering import Meter, Metered, MeterKind, UsageRecord

MESSAGES = Meter("messages_million", "Messages", "million messages", MeterKind.COUNTER, 10**6)
RETAINED = Meter("retained_gb_month", "Retained messages", "GB-month", MeterKind.GAUGE, 10**9)
TIERS = """
currency = "EUR"
default_tier = "small"

[tiers.small]
name = "Small"
prices.queue = { messages_million = "1.00", retained_gb_month = "0.10" }
allowances.queue = { messages_million = "1" }

[tiers.big]
name = "Big"
prices.queue = { messages_million = "0.50", retained_gb_month = "0.05" }
allowances.queue = { messages_million = "10" }
"""
JANUARY = date(2026, 1, 1)
START = hour_of(JANUARY)  # January has 744 hours
AFTER_JANUARY = datetime(2026, 2, 3, tzinfo=UTC).timestamp()
# Small -> Big half an hour into January's 241st hour: Big from that hour (START + 240) on.
CHANGED_AT = (START + 240) * 3600.0 + 1800


@dataclass
class Queue:
    """A made-up service: messages sent, per hour."""

    sent: list[UsageRecord] = field(default_factory=list)

    def counted(self, account_id: str, from_hour: int, to_hour: int) -> list[UsageRecord]:
        return [
            r for r in self.sent if r.account_id == account_id and from_hour <= r.hour < to_hour
        ]

    def accounts(self, from_hour: int, to_hour: int) -> set[str]:
        return {r.account_id for r in self.sent if from_hour <= r.hour < to_hour}

    def gauges(self, hour: int) -> list[UsageRecord]:
        return []


@dataclass
class Installation:
    accounts: SqliteAccounts
    store: SqliteBilling
    billing: Billing
    queue: Queue
    account: Account
    now: list[float]


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Installation]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    accounts = SqliteAccounts(db)
    account = Account("acc", "a@example.com", "customer", "active", time.time())
    accounts.add_account(account, "hash")
    queue = Queue()
    now = [AFTER_JANUARY]
    tiers = Limits(accounts, parse_tiers(tomllib.loads(TIERS), "test tiers"))
    store = SqliteBilling(db)
    metered = Metered("queue", "Message Queue", (MESSAGES, RETAINED), queue)
    billing = Billing(store, accounts, tiers, lambda: [metered], clock=lambda: now[0])
    yield Installation(accounts, store, billing, queue, account, now)
    db.close()


def use(made: Installation) -> None:
    """Messages on both sides of the change, and 10 GB retained all January."""
    for hour, million in ((START + 5, 3), (START + 240, 2), (START + 241, 4)):
        made.queue.sent.append(
            UsageRecord(made.account.id, "queue", "q", MESSAGES.name, hour, million * 10**6)
        )
    made.store.add_samples(
        UsageRecord(made.account.id, "queue", "q", RETAINED.name, hour, 10 * 10**9)
        for hour in range(START, START + 744)
    )


def test_each_tier_prices_what_was_used_while_the_account_had_it(
    installation: Installation,
) -> None:
    made = installation
    use(made)
    made.accounts.set_account_tier(made.account.id, "big", at=CHANGED_AT)
    statement = made.billing.statement(made.account, JANUARY)
    small_from, big_from, end = START * 3600.0, (START + 240) * 3600.0, (START + 744) * 3600.0
    assert [
        (ln.resource, ln.tier, ln.period_start, ln.period_end, ln.amount) for ln in statement.lines
    ] == [
        # 3 million while Small, 1 included: 2 x 1.00. 6 million while Big (the hour of the
        # change is Big's), whose 10 included less the 1 Small covered leave 9.
        ("Messages", "Small", small_from, big_from, Decimal("2.00")),
        ("Messages", "Big", big_from, end, Decimal("0.00")),
        # 10 GB for 240 hours at 0.10 (0.3226), for 504 hours at 0.05 (0.3387).
        ("Retained messages", "Small", small_from, big_from, Decimal("0.32")),
        ("Retained messages", "Big", big_from, end, Decimal("0.34")),
    ]
    small_messages, big_messages = statement.lines[0], statement.lines[1]
    assert small_messages.quantity == Decimal(3) and big_messages.quantity == Decimal(6)
    assert small_messages.included == Decimal(1) and small_messages.unit_price == Decimal("1.00")
    assert big_messages.included == Decimal(6) and big_messages.unit_price == Decimal("0.50")
    assert statement.lines[2].quantity + statement.lines[3].quantity == Decimal(10)
    # The whole month at Big's prices would be 0.50: the change no longer reprices it.
    assert statement.total == Decimal("2.66") and statement.tier == "Big"
    assert sum((amount for _, amount in statement.daily), Decimal(0)) == statement.total

    [invoice] = made.billing.close_month(JANUARY)
    assert invoice.total == Decimal("2.66") and invoice.lines == statement.lines
    assert made.billing.invoice(made.account, invoice.id).lines == statement.lines  # kept


def test_a_month_without_a_change_is_priced_as_always(installation: Installation) -> None:
    made = installation
    use(made)
    # Changes before and after January: it was Big all month (the tier it changed from).
    made.accounts.set_account_tier(made.account.id, "big", at=START * 3600.0 - 1)
    made.accounts.set_account_tier(made.account.id, "small", at=(START + 744) * 3600.0 + 5)
    statement = made.billing.statement(made.account, JANUARY)
    assert [(ln.resource, ln.tier, ln.period_start, ln.amount) for ln in statement.lines] == [
        ("Messages", "", None, Decimal("0.00")),  # 9 million, 10 included
        ("Retained messages", "", None, Decimal("0.50")),
    ]
    assert statement.tier == "Big"
    # February: the change back 5 s into it counts from its first hour, and a move to Big
    # and back within one hour prices nothing at Big: Small all month, lines as always.
    february = START + 744
    for hour, million in ((february, 2), (february + 15, 3)):
        made.queue.sent.append(
            UsageRecord(made.account.id, "queue", "q", MESSAGES.name, hour, million * 10**6)
        )
    made.accounts.set_account_tier(made.account.id, "big", at=(february + 10) * 3600.0 + 100)
    made.accounts.set_account_tier(made.account.id, "small", at=(february + 10) * 3600.0 + 160)
    made.now[0] = (february + 20) * 3600.0
    whole = made.billing.statement(made.account, date(2026, 2, 1))
    assert [(ln.resource, ln.tier, ln.period_start, ln.amount) for ln in whole.lines] == [
        ("Messages", "", None, Decimal("4.00")),  # 5 million, 1 included
        ("Retained messages", "", None, Decimal("0.00")),
    ]
    assert whole.tier == "Small"


def test_a_change_on_the_hour_and_one_a_second_into_it_count_that_hour_at_the_new_tier(
    installation: Installation,
) -> None:
    made = installation
    use(made)
    made.accounts.set_account_tier(made.account.id, "big", at=(START + 241) * 3600.0)
    made.accounts.set_account_tier(made.account.id, "small", at=(START + 743) * 3600.0 + 1)
    lines = made.billing.statement(made.account, JANUARY).lines
    assert [(ln.resource, ln.tier, ln.period_start, ln.period_end) for ln in lines] == [
        ("Messages", "Small", START * 3600.0, (START + 241) * 3600.0),
        ("Messages", "Big", (START + 241) * 3600.0, (START + 743) * 3600.0),
        # Nothing sent in the last hour, back on Small: no line for it, as other periods
        # have one; 10 GB were kept in it.
        ("Retained messages", "Small", START * 3600.0, (START + 241) * 3600.0),
        ("Retained messages", "Big", (START + 241) * 3600.0, (START + 743) * 3600.0),
        ("Retained messages", "Small", (START + 743) * 3600.0, (START + 744) * 3600.0),
    ]


def test_a_move_in_the_month_s_first_hour_prices_the_month_at_the_new_tier(
    installation: Installation,
) -> None:
    made = installation
    made.accounts.set_account_tier(made.account.id, "big", at=START * 3600.0 + 60)
    use(made)  # 10 GB retained from the first hour on, messages from the sixth
    lines = made.billing.statement(made.account, JANUARY).lines
    assert [(ln.resource, ln.tier, ln.quantity, ln.included, ln.amount) for ln in lines] == [
        ("Messages", "", 9, 9, Decimal("0.00")),  # Big's whole allowance
        ("Retained messages", "", 10, 0, Decimal("0.50")),
    ]
