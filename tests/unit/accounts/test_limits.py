"""Limits by service: the Limits & Quotas report, overrides and tier changes show and check
whatever limits the services declare, valued per tier in tiers.toml (either format)."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from nexq.accounts.limits import AccountLimits, Limits
from nexq.accounts.sqlite import SqliteAccounts
from nexq.accounts.tiers import check_tiers, load_tiers, parse_tiers
from nexq.app import SCHEMAS
from nexq.core.db import Database
from nexq.core.errors import Conflict, Invalid
from nexq.core.generation import GenerationWatch
from nexq.core.identity import Account
from nexq.core.quotas import COUNT, PER_SECOND, Limit
from tests.unit.billing.test_figures import METERED_OLD, OLD_TIERS

QUEUES: dict[str, int] = {}  # what the made-up service counts, per account
QUEUE_LIMITS = (
    Limit("queues", "Queues", COUNT, "Message queues", lambda account: QUEUES.get(account, 0)),
    Limit("queue_rps", "Queue requests", PER_SECOND, "Messages sent per second"),
)
TIERS = """
currency = "USD"
default_tier = "small"

[tiers.small]
name = "Small"
limits.queue = { queues = 2, queue_rps = 10 }

[tiers.large]
name = "Large"
limits.queue = { queues = 50, queue_rps = -1 }
"""


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[SqliteAccounts]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    store = SqliteAccounts(db)
    store.add_account(Account("acc", "a@example.com", "customer", "active", time.time()), "h")
    yield store
    db.close()


def wired(store: SqliteAccounts, tiers: str) -> tuple[Limits, AccountLimits]:
    catalog = parse_tiers(tomllib.loads(tiers), "test tiers")
    declared: list[tuple[str, Limit]] = [("queue", limit) for limit in QUEUE_LIMITS]
    limits = Limits(store, catalog, lambda: declared)
    account_limits = AccountLimits(limits, store)
    declared += [("account", limit) for limit in account_limits.own()]
    return limits, account_limits


def test_a_made_up_service_s_limits_are_reported_overridden_and_checked(
    accounts: SqliteAccounts,
) -> None:
    limits, account_limits = wired(accounts, TIERS)
    account = accounts.get_account("acc")
    assert account is not None
    QUEUES["acc"] = 1
    report = account_limits.report(account)
    # Counted limits first, rates after; a service a tier says nothing of is unlimited.
    assert [(ln.service, ln.name, ln.limit, ln.used, ln.percent) for ln in report] == [
        ("queue", "queues", 2, 1, 50.0),
        ("account", "api_keys", None, 0, None),
        ("queue", "queue_rps", 10, None, None),
        ("account", "api_rps", None, None, None),
    ]
    assert report[0].declared.label == "Queues"
    assert limits.limit("acc", "queues") == 2

    with pytest.raises(
        Invalid, match="bucket: not a limit; choose from queues, queue_rps, api_keys"
    ):
        limits.override(account, {"bucket": "3"})
    limits.override(account, {"queues": "5", "api_keys": "1"})
    assert limits.effective(account) == {"queues": 5, "queue_rps": 10, "api_keys": 1}

    account_limits.change_tier(account, "large")
    QUEUES["acc"] = 6  # above the operator's 5: overridden limits stay, so they fit
    limits.override(account, {"queues": "default"})
    QUEUES["acc"] = 3
    with pytest.raises(Conflict, match=r"queues \(using 3, Small allows 2\)"):
        account_limits.change_tier(account, "small")


def test_the_first_format_still_loads(tmp_path: Path) -> None:
    """A tiers.toml written before services declared their own: flat limits, and prices and
    allowances that were Object Storage's (allowances of operations counted one by one)."""
    old = tmp_path / "tiers.toml"
    old.write_text(OLD_TIERS + METERED_OLD)
    free = load_tiers(old).tiers["free"]
    assert free.limits["buckets"] == 10 and free.limits["api_rps"] == 20
    assert free.price("storage", "class_a_million") == Decimal("4.50")
    assert free.allowance("storage", "class_a_million") == 1
    assert free.limit_sections["buckets"] == ""
    metered = load_tiers(old).tiers["metered"]
    assert str(metered.allowance("storage", "class_a_million")) == "0.000002"  # class_a = 2
    # The shipped file of today holds the very values of the old one (plus the limits,
    # prices and allowances of services built since: Support, the Container Registry,
    # Databases, Compute), but
    # for the S3 request rates, raised since to AWS's so that no client at its defaults meets
    # SlowDown (docs/billing.md).
    rates = ("s3_read_rps", "s3_write_rps")
    newer = ("support", "registry", "databases", "compute")
    for tier_id, shipped in load_tiers(None).tiers.items():
        before = load_tiers(old).tiers[tier_id]
        since = {
            k: v
            for k, v in shipped.limits.items()
            if shipped.limit_sections[k] not in newer and k not in rates
        }
        older_prices = {k: v for k, v in shipped.prices.items() if k not in newer}
        older_allowances = {k: v for k, v in shipped.allowances.items() if k not in newer}
        assert (since, older_prices, older_allowances) == (
            {k: v for k, v in before.limits.items() if k not in rates},
            before.prices,
            before.allowances,
        )
        expected = (None, None) if tier_id == "enterprise" else (5500, 3500)
        assert tuple(shipped.limits[rate] for rate in rates) == expected


def test_limits_are_checked_against_the_declaring_service() -> None:
    declared = [("queue", limit) for limit in QUEUE_LIMITS]
    catalog = parse_tiers(tomllib.loads(TIERS), "test tiers")
    assert check_tiers(catalog, declared, []) == []
    topics = Limit("topics", "Topics", COUNT, "Topics", lambda account: 0)
    with_other = [*declared, ("other", topics)]
    wrong = TIERS.replace(
        "limits.queue = { queues = 2,", "limits.other = { queues = 2 }\nlimits.queue = {"
    )
    with pytest.raises(Invalid, match=r"tiers\.small\.limits\.other\.queues: not a limit of other"):
        check_tiers(parse_tiers(tomllib.loads(wrong), "test tiers"), with_other, [])
    # A section of a service this installation does not run is noted and ignored.
    elsewhere = TIERS.replace(
        "limits.queue = { queues = 2,", "limits.gone = { x = 1 }\nlimits.queue = { queues = 2,"
    )
    notes = check_tiers(parse_tiers(tomllib.loads(elsewhere), "test tiers"), declared, [])
    assert notes == ["test tiers: tiers.small.limits.gone: no such service here; ignored."]
    partial = TIERS.replace("queues = 2, ", "")
    with pytest.raises(Invalid, match=r"tiers\.small\.limits\.queue\.queues is missing"):
        check_tiers(parse_tiers(tomllib.loads(partial), "test tiers"), declared, [])
    with pytest.raises(Invalid, match=r"tiers\.small\.limits\.queue\.queues: an integer"):
        parse_tiers(tomllib.loads(TIERS.replace("queues = 2", 'queues = "2"')), "test tiers")
    with pytest.raises(Invalid, match="limit queues: declared by queue and by other"):
        check_tiers(catalog, [*declared, ("other", QUEUE_LIMITS[0])], [])


def _generation(store: SqliteAccounts) -> int:
    # What storage's directory reads on each S3 request, and the token checks on each API one.
    row = store._db.reader().execute("SELECT value FROM generations WHERE name = 'auth'")
    return int(row.fetchone()[0])


def test_a_tier_change_or_override_holds_on_the_next_request_of_every_process(
    accounts: SqliteAccounts,
) -> None:
    """Two workers each cache the account's limits. One changes the tier, then an override:
    the other, which read its limits just before, sees each change on its next request
    (the 2 s cache used to keep the old tier's value meanwhile: a flaky console test)."""
    catalog = parse_tiers(tomllib.loads(TIERS), "test tiers")
    declared = [("queue", limit) for limit in QUEUE_LIMITS]
    workers = []
    for _ in range(2):
        watch = GenerationWatch(lambda: _generation(accounts))
        workers.append((watch, Limits(accounts, catalog, lambda: declared, watch=watch)))
    (_, limits_a), (watch_b, limits_b) = workers
    for watch, limits in workers:
        watch.read()
        assert limits.limit("acc", "queues") == 2  # cached now, on both

    AccountLimits(limits_a, accounts).change_tier(_acc(accounts), "large")
    watch_b.read()  # the next request of the other worker
    assert limits_b.limit("acc", "queues") == 50

    limits_a.override(_acc(accounts), {"queues": "7"})
    watch_b.read()
    assert limits_b.limit("acc", "queues") == 7
    # Without a new read (no request since), the cached value stands: no read per check.
    accounts.set_limit_override("acc", "queues", 9)
    assert limits_b.limit("acc", "queues") == 7


def _acc(store: SqliteAccounts) -> Account:
    found = store.get_account("acc")
    assert found is not None
    return found
