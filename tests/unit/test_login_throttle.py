"""The login throttle's rule and its store: counted before the password is checked."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nexq.accounts.model import ANY_SOURCE, LoginState
from nexq.accounts.service import (
    ACCOUNT_FREE_ATTEMPTS,
    FREE_ATTEMPTS,
    _charge,
    login_source,
)
from nexq.accounts.sqlite import SqliteAccounts
from nexq.app import SCHEMAS
from nexq.core.db import Database
from nexq.core.identity import Account


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteAccounts]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    accounts = SqliteAccounts(db)
    accounts.add_account(Account("a1", "a@example.com", "customer", "active", 0.0), "hash")
    yield accounts
    db.close()


def charge(store: SqliteAccounts, source: str, now: float) -> float:
    return store.charge_login("a1", [source, ANY_SOURCE], _charge(source, now))


def test_sources_are_addresses_or_ipv6_subnets() -> None:
    assert login_source("203.0.113.9") == "203.0.113.9"
    assert login_source("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert login_source("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert login_source("::ffff:203.0.113.9") == "203.0.113.9"
    assert login_source(None) == login_source("not an address") == "unknown"


def test_the_attempt_that_reaches_the_limit_blocks_at_once(store: SqliteAccounts) -> None:
    now = 1_000.0
    assert [charge(store, "10.0.0.1", now) for _ in range(FREE_ATTEMPTS)] == [0.0] * 5
    assert charge(store, "10.0.0.1", now) == pytest.approx(10.0)
    assert charge(store, "10.0.0.2", now) == 0.0  # another address is not held up
    # After the wait one more try, and a failure doubles the wait.
    assert charge(store, "10.0.0.1", now + 10.5) == 0.0
    assert charge(store, "10.0.0.1", now + 10.6) == pytest.approx(19.9)


def test_a_success_forgets_the_address_and_takes_back_its_charge(store: SqliteAccounts) -> None:
    for _ in range(4):
        charge(store, "10.0.0.1", 1_000.0)
    store.login_succeeded("a1", "10.0.0.1", ANY_SOURCE)
    assert [charge(store, "10.0.0.1", 1_001.0) for _ in range(5)] == [0.0] * 5


def test_guesses_spread_over_many_addresses_meet_the_account_backstop(
    store: SqliteAccounts,
) -> None:
    now = 5_000.0
    for n in range(ACCOUNT_FREE_ATTEMPTS):
        assert charge(store, f"10.1.{n}.1", now) == 0.0
    assert charge(store, "10.2.0.1", now) > 0  # a new address, yet the account waits
    # The backstop counts recent failures: long after, every address starts afresh.
    assert charge(store, "10.2.0.1", now + 3600) == 0.0


def test_concurrent_charges_are_counted_one_by_one(store: SqliteAccounts) -> None:
    with ThreadPoolExecutor(16) as pool:
        waits = list(pool.map(lambda _: charge(store, "10.0.0.9", 2_000.0), range(32)))
    assert sum(w == 0.0 for w in waits) == FREE_ATTEMPTS


def test_a_blocked_attempt_changes_nothing() -> None:
    rule = _charge("s", 100.0)
    blocked = {"s": LoginState(5, 150.0, 99.0), ANY_SOURCE: LoginState(5, 0.0, 99.0)}
    assert rule(blocked) == pytest.approx(50.0)
