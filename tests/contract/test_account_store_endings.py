"""The AccountStore contract for password resets and deleted accounts."""

from __future__ import annotations

from nexq.accounts.model import PasswordReset, Session
from nexq.accounts.port import AccountStore
from nexq.core.identity import Account
from tests.contract.test_account_store import Stores, account, api_key
from tests.contract.test_account_store import store as store  # the fixture


def test_a_reset_is_found_by_hash_and_used_once(stores: Stores) -> None:
    _, store = stores
    made, other = account(store, "a"), account(store, "b")
    store.add_session("s-a", Session(made.id, 10.0, 1e12))
    store.add_session("s-b", Session(other.id, 10.0, 1e12))
    reset = PasswordReset(made.id, 100.0, 200.0)
    store.add_password_reset("r1", reset)
    store.add_password_reset("r2", PasswordReset(made.id, 100.0, 200.0))
    store.add_password_reset("r-b", PasswordReset(other.id, 100.0, 200.0))
    assert store.find_password_reset("r1") == reset
    assert store.find_password_reset("nope") is None

    assert store.use_password_reset("r1", "new-hash", 150.0) == made.id
    assert store.password_hash(made.id) == "new-hash"
    assert store.find_session("s-a") is None  # every session of the account ends
    assert store.find_session("s-b") is not None
    assert store.find_password_reset("r1") is None
    assert store.find_password_reset("r2") is None  # the account's other links are spent
    assert store.find_password_reset("r-b") is not None
    assert store.use_password_reset("r1", "other-hash", 150.0) is None
    assert store.password_hash(made.id) == "new-hash"


def test_an_expired_reset_sets_nothing(store: AccountStore) -> None:
    made = account(store)
    store.add_password_reset("r", PasswordReset(made.id, 100.0, 200.0))
    assert store.use_password_reset("r", "new-hash", 200.0) is None
    assert store.password_hash(made.id) == "hash-a"
    assert store.find_password_reset("r") is None  # spent all the same


def test_a_new_reset_drops_those_expired_before_it(store: AccountStore) -> None:
    made = account(store)
    store.add_password_reset("old", PasswordReset(made.id, 100.0, 200.0))
    store.add_password_reset("new", PasswordReset(made.id, 300.0, 400.0))
    assert store.find_password_reset("old") is None
    assert store.find_password_reset("new") is not None


def test_a_deleted_account_keeps_its_row_and_frees_its_email(stores: Stores) -> None:
    metadata, store = stores
    made, other = account(store, "a"), account(store, "b")
    store.add_session("s-a", Session(made.id, 10.0, 1e12))
    store.add_api_key(api_key(made, "k-a"), "t-a")
    store.add_api_key(api_key(other, "k-b"), "t-b")
    store.add_password_reset("r", PasswordReset(made.id, 100.0, 1e12))
    before = metadata.auth_generation()

    store.delete_account(made.id, "deleted:acc-a:a@example.com", "deleted")

    kept = store.get_account(made.id)
    assert kept is not None and kept.status == "deleted" and not kept.active
    assert kept.email == "deleted:acc-a:a@example.com"
    assert store.find_account("a@example.com") is None
    assert store.password_hash(made.id) != "hash-a"
    assert store.find_session("s-a") is None
    assert store.find_api_key("t-a") is None and store.count_api_keys(made.id) == 0
    assert store.find_api_key("t-b") is not None
    assert store.find_password_reset("r") is None
    assert metadata.auth_generation() > before
    again = Account("acc-a2", "A@example.com", "customer", "active", 2.0)
    store.add_account(again, "hash-a2")  # the email may sign up again
    assert store.find_account("a@example.com") == again
