"""The AccountStore contract: every implementation passes these."""

from __future__ import annotations

import threading
import time

import pytest

from nexq.accounts.errors import EmailTaken
from nexq.accounts.model import ApiKey, LoginState, Session
from nexq.accounts.port import AccountStore, TierChange
from nexq.core.errors import Conflict, QuotaExceeded
from nexq.core.identity import Account
from nexq.storage.metadata.port import MetadataStore

Stores = tuple[MetadataStore, AccountStore]


@pytest.fixture
def store(stores: Stores) -> AccountStore:
    return stores[1]


def account(store: AccountStore, name: str = "a", created_at: float = 1.0) -> Account:
    made = Account(f"acc-{name}", f"{name}@example.com", "customer", "active", created_at)
    store.add_account(made, f"hash-{name}")
    return made


def peek(store: AccountStore, account_id: str, sources: list[str]) -> dict[str, LoginState]:
    """The login states kept for ``sources``, read through a charge that stores nothing."""
    seen: list[dict[str, LoginState]] = []

    def look(states: dict[str, LoginState]) -> float:
        seen.append(dict(states))
        return 1.0

    assert store.charge_login(account_id, sources, look) == 1.0
    return seen[0]


def api_key(owner: Account, key_id: str, created_at: float = 1.0) -> ApiKey:
    return ApiKey(
        key_id,
        owner.id,
        f"key {key_id}",
        "",
        frozenset({"storage:read"}),
        "active",
        created_at,
        None,
    )


# accounts -------------------------------------------------------------------------------


def test_an_account_reads_back_by_id_and_by_email(store: AccountStore) -> None:
    made = account(store)
    assert store.get_account(made.id) == made
    assert store.find_account("a@example.com") == made
    assert store.password_hash(made.id) == "hash-a"
    assert store.get_account("nobody") is None
    assert store.find_account("nobody@example.com") is None
    assert store.password_hash("nobody") is None


def test_emails_are_unique_and_found_regardless_of_ascii_case(store: AccountStore) -> None:
    made = account(store)
    assert store.find_account("A@Example.COM") == made
    with pytest.raises(EmailTaken) as refused:
        store.add_account(Account("acc-2", "A@EXAMPLE.com", "customer", "active", 2.0), "h")
    assert isinstance(refused.value, Conflict)
    assert store.get_account("acc-2") is None


def test_only_ascii_letters_fold(store: AccountStore) -> None:
    # The contract (SQLite's NOCASE): É and é are two emails, as the port says.
    upper = Account("acc-u", "\u00c9@example.com", "customer", "active", 1.0)
    lower = Account("acc-l", "\u00e9@example.com", "customer", "active", 1.0)
    store.add_account(upper, "h")
    store.add_account(lower, "h")
    assert store.find_account("\u00c9@example.com") == upper
    assert store.find_account("\u00e9@EXAMPLE.com") == lower


def test_accounts_list_by_creation_then_id(store: AccountStore) -> None:
    for name, created_at in [("c", 2.0), ("b", 1.0), ("z", 1.0), ("a", 1.0)]:
        account(store, name, created_at)
    everyone = [a.id for a in store.list_accounts(None, 10)]
    assert everyone == ["acc-a", "acc-b", "acc-z", "acc-c"]
    assert [a.id for a in store.list_accounts((1.0, "acc-b"), 10)] == ["acc-z", "acc-c"]
    assert [a.id for a in store.list_accounts((1.0, "acc-b"), 1)] == ["acc-z"]
    assert store.list_accounts((2.0, "acc-c"), 10) == []
    assert store.count_accounts() == {("customer", "active"): 4}
    store.set_account_status("acc-z", "suspended")
    assert store.count_accounts() == {("customer", "active"): 3, ("customer", "suspended"): 1}


def test_status_changes_move_the_auth_generation(stores: Stores) -> None:
    metadata, store = stores
    made = account(store)
    before = metadata.auth_generation()
    store.set_account_status(made.id, "suspended")
    suspended = store.get_account(made.id)
    assert suspended is not None and suspended.status == "suspended" and not suspended.active
    assert metadata.get_account(made.id) == suspended  # the same account, seen by storage
    assert metadata.auth_generation() > before
    store.set_account_status(made.id, "active")
    resumed = store.get_account(made.id)
    assert resumed is not None and resumed.active


def test_storage_finds_an_account_by_email_as_accounts_do(stores: Stores) -> None:
    """An ACL grant by email: ASCII letters match whatever their case, nothing else does."""
    metadata, store = stores
    made = account(store, "Mixed")
    assert metadata.find_account("mixed@EXAMPLE.com") == made
    assert metadata.find_account("acc-Mixed@example.com") is None
    assert metadata.find_account("nobody@example.com") is None


def test_password_hash_is_replaced(store: AccountStore) -> None:
    made = account(store)
    store.set_password_hash(made.id, "new-hash")
    assert store.password_hash(made.id) == "new-hash"


# the login throttle ---------------------------------------------------------------------


def test_charge_login_reads_defaults_and_stores_what_the_rule_returns(
    store: AccountStore,
) -> None:
    made = account(store)
    assert peek(store, made.id, ["10.0.0.1", "*"]) == {
        "10.0.0.1": LoginState(),
        "*": LoginState(),
    }

    def count(states: dict[str, LoginState]) -> dict[str, LoginState]:
        return {s: LoginState(st.failures + 1, 5.0, 1.0) for s, st in states.items()}

    assert store.charge_login(made.id, ["10.0.0.1", "*"], count) == 0.0
    assert store.charge_login(made.id, ["10.0.0.1"], count) == 0.0
    assert peek(store, made.id, ["10.0.0.1", "*"]) == {
        "10.0.0.1": LoginState(2, 5.0, 1.0),
        "*": LoginState(1, 5.0, 1.0),
    }
    assert peek(store, "acc-other", ["10.0.0.1"]) == {"10.0.0.1": LoginState()}


def test_a_wait_stores_nothing(store: AccountStore) -> None:
    made = account(store)
    store.charge_login(made.id, ["s"], lambda states: {"s": LoginState(3, 9.0, 1.0)})
    assert store.charge_login(made.id, ["s"], lambda states: 7.5) == 7.5
    assert peek(store, made.id, ["s"]) == {"s": LoginState(3, 9.0, 1.0)}


def test_charges_are_atomic_across_threads(store: AccountStore) -> None:
    made = account(store)

    def one_more(states: dict[str, LoginState]) -> dict[str, LoginState]:
        return {"s": LoginState(states["s"].failures + 1, 0.0, 0.0)}

    threads = [
        threading.Thread(target=store.charge_login, args=(made.id, ["s"], one_more))
        for _ in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peek(store, made.id, ["s"])["s"].failures == 16


def test_a_success_forgets_the_source_and_takes_one_back_from_the_account(
    store: AccountStore,
) -> None:
    made = account(store)
    store.charge_login(
        made.id,
        ["s", "*"],
        lambda _: {"s": LoginState(4, 9.0, 1.0), "*": LoginState(4, 8.0, 1.0)},
    )
    store.login_succeeded(made.id, "s", "*")
    assert peek(store, made.id, ["s", "*"]) == {"s": LoginState(), "*": LoginState(3, 8.0, 1.0)}
    store.charge_login(made.id, ["*"], lambda _: {"*": LoginState(0, 0.0, 1.0)})
    store.login_succeeded(made.id, "s", "*")  # never below zero
    assert peek(store, made.id, ["*"]) == {"*": LoginState(0, 0.0, 1.0)}


# tiers and limits -----------------------------------------------------------------------


def test_tier_and_limit_overrides(store: AccountStore) -> None:
    made = account(store)
    assert store.account_tier(made.id) is None
    store.set_account_tier(made.id, "pro")
    assert store.account_tier(made.id) == "pro"
    assert store.limit_overrides(made.id) == {}
    store.set_limit_override(made.id, "buckets", 5)
    store.set_limit_override(made.id, "api_keys", None)  # unlimited
    store.set_limit_override(made.id, "buckets", 7)
    assert store.limit_overrides(made.id) == {"buckets": 7, "api_keys": None}
    store.clear_limit_override(made.id, "buckets")
    store.clear_limit_override(made.id, "never-set")
    assert store.limit_overrides(made.id) == {"api_keys": None}
    other = account(store, "b")
    assert store.limit_overrides(other.id) == {} and store.account_tier(other.id) is None


def test_tier_changes_are_recorded_with_their_time(store: AccountStore) -> None:
    made, other = account(store), account(store, "b")
    assert store.tier_changes(made.id, 0.0) == []
    store.set_account_tier(made.id, "pro", at=100.0)
    store.set_account_tier(made.id, "pro", at=150.0)  # no change: nothing recorded
    store.set_account_tier(made.id, "free", at=200.5)
    store.set_account_tier(other.id, "big", at=120.0)
    assert store.tier_changes(made.id, 0.0) == [
        TierChange(100.0, None, "pro"),
        TierChange(200.5, "pro", "free"),
    ]
    assert store.tier_changes(made.id, 100.0) == [TierChange(200.5, "pro", "free")]  # after
    assert store.account_tier(made.id) == "free"
    # Two changes at one instant are one change: from where it was to where it ended.
    store.set_account_tier(made.id, "dev", at=300.0)
    store.set_account_tier(made.id, "big", at=300.0)
    assert store.tier_changes(made.id, 250.0) == [TierChange(300.0, "free", "big")]
    assert store.account_tier(made.id) == "big"
    assert store.tier_changes(other.id, 0.0) == [TierChange(120.0, None, "big")]
    before = time.time()
    store.set_account_tier(other.id, "pro")  # now
    [latest] = store.tier_changes(other.id, 120.0)
    assert latest.from_tier == "big" and before <= latest.at <= time.time()
    assert store.tier_changes("nobody", 0.0) == []


# sessions -------------------------------------------------------------------------------


def test_sessions_are_found_by_hash_and_removed(store: AccountStore) -> None:
    made = account(store)
    session = Session(made.id, 100.0, 200.0)
    store.add_session("h1", session)
    assert store.find_session("h1") == session
    assert store.find_session("h2") is None
    store.remove_session("h1")
    assert store.find_session("h1") is None


def test_removing_sessions_keeps_the_one_named_and_other_accounts(store: AccountStore) -> None:
    a, b = account(store, "a"), account(store, "b")
    for token_hash, owner in [("a1", a), ("a2", a), ("a3", a), ("b1", b)]:
        store.add_session(token_hash, Session(owner.id, 100.0, 200.0))
    store.remove_sessions(a.id, keep="a2")
    assert [h for h in ("a1", "a2", "a3", "b1") if store.find_session(h)] == ["a2", "b1"]
    store.remove_sessions(a.id, keep=None)
    assert [h for h in ("a2", "b1") if store.find_session(h)] == ["b1"]


def test_a_new_session_drops_those_expired_before_it(store: AccountStore) -> None:
    made = account(store)
    store.add_session("old", Session(made.id, 0.0, 50.0))
    store.add_session("edge", Session(made.id, 0.0, 100.0))
    store.add_session("new", Session(made.id, 100.0, 200.0))
    assert store.find_session("old") is None
    assert store.find_session("edge") is not None  # expires at that very instant: kept
    assert store.find_session("new") is not None


# API keys -------------------------------------------------------------------------------


def test_api_keys_read_back_by_account_and_by_token(store: AccountStore) -> None:
    a, b = account(store, "a"), account(store, "b")
    key = api_key(a, "k1")
    store.add_api_key(key, "token-1")
    assert store.get_api_key(a.id, "k1") == key
    assert store.get_api_key(b.id, "k1") is None  # another account's key is not found
    assert store.find_api_key("token-1") == key
    assert store.find_api_key("token-2") is None
    assert store.count_api_keys(a.id) == 1 and store.count_api_keys(b.id) == 0


def test_the_key_quota_counts_revoked_keys_too(store: AccountStore) -> None:
    made = account(store)
    store.add_api_key(api_key(made, "k1"), "t1", max_keys=2)
    store.add_api_key(api_key(made, "k2"), "t2", max_keys=2)
    assert store.set_api_key_status(made.id, "k2", "revoked") is True
    with pytest.raises(QuotaExceeded) as refused:
        store.add_api_key(api_key(made, "k3"), "t3", max_keys=2)
    assert refused.value.limit == "api_keys"
    assert store.count_api_keys(made.id) == 2 and store.find_api_key("t3") is None
    store.add_api_key(api_key(made, "k3"), "t3")  # no limit given: no limit


def test_api_keys_list_by_creation_then_id(store: AccountStore) -> None:
    made, other = account(store, "a"), account(store, "b")
    for key_id, created_at in [("c", 2.0), ("b", 1.0), ("z", 1.0), ("a", 1.0)]:
        store.add_api_key(api_key(made, key_id, created_at), f"t-{key_id}")
    store.add_api_key(api_key(other, "o", 0.0), "t-o")
    assert [k.id for k in store.list_api_keys(made.id, None, 10)] == ["a", "b", "z", "c"]
    assert [k.id for k in store.list_api_keys(made.id, (1.0, "b"), 1)] == ["z"]
    assert [k.id for k in store.list_api_keys(made.id, (1.0, "z"), 10)] == ["c"]


def test_status_token_and_removal_are_scoped_to_the_account(store: AccountStore) -> None:
    a, b = account(store, "a"), account(store, "b")
    store.add_api_key(api_key(a, "k1"), "old-token")
    assert store.set_api_key_status(b.id, "k1", "revoked") is False
    assert store.set_api_key_token(b.id, "k1", "stolen") is False
    assert store.remove_api_key(b.id, "k1") is False
    assert store.find_api_key("old-token") is not None
    assert store.set_api_key_token(a.id, "k1", "new-token") is True
    assert store.find_api_key("old-token") is None
    found = store.find_api_key("new-token")
    assert found is not None and found.id == "k1"
    assert store.set_api_key_status(a.id, "k1", "revoked") is True
    revoked = store.get_api_key(a.id, "k1")
    assert revoked is not None and revoked.status == "revoked" and not revoked.active
    assert store.remove_api_key(a.id, "k1") is True
    assert store.remove_api_key(a.id, "k1") is False
    assert store.get_api_key(a.id, "k1") is None and store.find_api_key("new-token") is None
    assert store.set_api_key_status(a.id, "missing", "revoked") is False


def test_touch_records_the_last_use(store: AccountStore) -> None:
    made = account(store)
    store.add_api_key(api_key(made, "k1"), "t1")
    store.touch_api_key("k1", 1234.5)
    touched = store.get_api_key(made.id, "k1")
    assert touched is not None and touched.last_used_at == 1234.5
    store.touch_api_key("missing", 1.0)  # nothing to record, nothing raised
