"""Deleting an account through Accounts on the in-memory store, with services that answer
through the seam (core.holdings.Departure) as the descriptors do."""

from __future__ import annotations

import pytest

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.errors import AccountHolds
from nexq.accounts.memory import MemoryAccounts
from nexq.accounts.service import Accounts
from nexq.core.errors import Invalid
from nexq.core.holdings import Departure, Held, held_of, refusal
from nexq.core.identity import NoSuchAccount, Principal, Unauthenticated
from tests.unit.accounts.conftest import CATALOG
from tests.unit.quotas import TierLimits

PASSWORD = "correct horse battery"


class FakeService:
    """A service holding named things per account, and what it settled."""

    def __init__(self, one: str, many: str) -> None:
        self.one, self.many = one, many
        self.things: dict[str, list[str]] = {}
        self.settled: list[str] = []

    def departure(self) -> Departure:
        def held(owner: Principal) -> list[Held]:
            return held_of(self.one, self.many, self.things.get(owner.account.id, []))

        return Departure(held, lambda owner: self.settled.append(owner.account.id))


def test_a_refusal_names_what_is_left_until_nothing_is() -> None:
    store = MemoryAccounts()
    buckets, databases = FakeService("bucket", "buckets"), FakeService("database", "databases")
    accounts = Accounts(store, CATALOG, lambda: [buckets.departure(), databases.departure()])
    api_keys = ApiKeys(store, TierLimits(), CATALOG)
    made = accounts.create("ada@example.com", PASSWORD)
    owner = accounts.principal(made)
    _, key = api_keys.create(owner, "ci", "", None)
    session, _, _ = accounts.login("ada@example.com", PASSWORD)
    buckets.things[made.id] = ["photos", "logs"]
    databases.things[made.id] = ["shop"]

    with pytest.raises(Invalid, match="password is wrong"):
        accounts.delete(owner, "not the password")
    with pytest.raises(AccountHolds) as refused:
        accounts.delete(owner, PASSWORD)
    assert refused.value.message == (
        "The account still has 2 buckets (photos, logs) and 1 database (shop); delete them first."
    )
    assert buckets.settled == [] and accounts.get_by_id(made.id).active

    buckets.things[made.id], databases.things[made.id] = [], []
    accounts.delete(owner, PASSWORD)
    assert buckets.settled == databases.settled == [made.id]
    with pytest.raises(Unauthenticated):
        api_keys.principal(key)
    with pytest.raises(Unauthenticated):
        accounts.session_principal(session)
    with pytest.raises(Unauthenticated):
        accounts.login("ada@example.com", PASSWORD)
    kept = accounts.get_by_id(made.id)
    assert kept.status == "deleted" and kept.email == f"deleted:{made.id}:ada@example.com"
    with pytest.raises(NoSuchAccount):
        accounts.remove(kept)
    again = accounts.create("Ada@example.com", PASSWORD)  # the email is free
    assert again.id != made.id


def test_the_only_operator_stays() -> None:
    accounts = Accounts(MemoryAccounts(), CATALOG)
    first = accounts.create("op@example.com", PASSWORD, "operator")
    with pytest.raises(Invalid, match="only active operator"):
        accounts.remove(first)
    second = accounts.create("op2@example.com", PASSWORD, "operator")
    accounts.remove(first)
    assert accounts.get_by_id(second.id).active


def test_long_lists_are_cut() -> None:
    many = held_of("bucket", "buckets", [f"b{n}" for n in range(8)])
    assert refusal(many) == (
        "The account still has 8 buckets (b0, b1, b2, b3, b4 and 3 more); delete them first."
    )
    assert held_of("bucket", "buckets", []) == []
