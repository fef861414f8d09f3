"""API keys: what a key may hold, tokens kept as hashes, the one scope rule (a key never
obtains or affects a wider key), revocation, the limit — through ApiKeys in memory."""

from __future__ import annotations

import pytest

from nexq.accounts.errors import NoSuchApiKey
from nexq.accounts.model import API_KEY_PREFIX, ApiKey
from nexq.core.crypto import hash_token
from nexq.core.errors import Invalid, QuotaExceeded
from nexq.core.identity import (
    Account,
    AccountSuspended,
    BeyondCallerScopes,
    Principal,
    Unauthenticated,
)
from tests.unit.accounts.conftest import CATALOG, AccountService

EVERYTHING = frozenset(CATALOG.of_role("customer"))


def session(account: Account) -> Principal:
    """A console session: every scope of the account's role."""
    return Principal(account, frozenset(CATALOG.of_role(account.role)), session_hash="h")


def make(
    service: AccountService, caller: Principal, *scopes: str, name: str = "key"
) -> tuple[ApiKey, str, Principal]:
    """A key with ``scopes``, its token, and the caller it authenticates."""
    key, token = service.api_keys.create(caller, name, scopes=scopes)
    return key, token, service.api_keys.principal(token)


def test_a_key_holds_the_callers_scopes_unless_told(service: AccountService) -> None:
    ada = session(service.account("ada"))
    key, token = service.api_keys.create(ada, "  deploy  ", "CI")
    assert (key.name, key.description, key.scopes, key.status) == (
        "deploy",
        "CI",
        EVERYTHING,
        "active",
    )
    assert token.startswith(API_KEY_PREFIX)
    assert service.store.find_api_key(token) is None  # only its hash is kept
    assert service.store.find_api_key(hash_token(token)) == key
    caller = service.api_keys.principal(token)
    assert caller.api_key_id == key.id and caller.scopes == EVERYTHING
    assert caller.account == ada.account and caller.session_hash is None


@pytest.mark.parametrize(
    ("name", "description", "scopes"),
    [
        ("", "", None),
        ("x" * 101, "", None),
        ("ok", "x" * 501, None),
        ("ok", "", ()),
        ("ok", "", ("storage:read", "no:such")),
        ("ok", "", ("admin:read",)),  # operators only
    ],
)
def test_key_rules(
    service: AccountService, name: str, description: str, scopes: tuple[str, ...] | None
) -> None:
    ada = session(service.account("ada"))
    with pytest.raises(Invalid):
        service.api_keys.create(ada, name, description, scopes)
    assert service.api_keys.list(ada.account.id, None, 10) == []


def test_an_operator_may_grant_the_admin_scopes(service: AccountService) -> None:
    op = session(service.account("op", role="operator"))
    key, _, caller = make(service, op, "admin:read")
    assert key.scopes == {"admin:read"} and caller.scopes == {"admin:read"}


def test_a_key_never_mints_a_wider_key(service: AccountService) -> None:
    ada = session(service.account("ada"))
    _, _, reader = make(service, ada, "storage:read", "account:write")
    with pytest.raises(BeyondCallerScopes) as refused:
        service.api_keys.create(reader, "wider", scopes=["storage:write"])
    assert refused.value.scopes == ["storage:write"]
    same, _ = service.api_keys.create(reader, "same")  # its own scopes are within reach
    assert same.scopes == {"storage:read", "account:write"}
    with pytest.raises(BeyondCallerScopes):
        service.api_keys.create(reader, "plus", scopes=["storage:read", "storage:write"])
    assert len(service.api_keys.list(ada.account.id, None, 10)) == 2  # reader and "same"


def test_a_narrow_key_cannot_revoke_regenerate_or_delete_a_wider_one(
    service: AccountService,
) -> None:
    ada = session(service.account("ada"))
    wide, wide_token, _ = make(service, ada, *EVERYTHING, name="admin")
    _, _, narrow = make(service, ada, "account:write", name="narrow")
    for act in (service.api_keys.revoke, service.api_keys.regenerate, service.api_keys.delete):
        with pytest.raises(BeyondCallerScopes):
            act(narrow, wide.id)
    still = service.api_keys.principal(wide_token)  # the same token, still working
    assert still.api_key_id == wide.id and still.scopes == EVERYTHING


def test_a_write_scope_reaches_keys_holding_the_read_scope(service: AccountService) -> None:
    ada = session(service.account("ada"))
    reader, reader_token, _ = make(service, ada, "storage:read", name="reader")
    _, _, writer = make(service, ada, "storage:write", "account:write", name="writer")
    assert service.api_keys.revoke(writer, reader.id).status == "revoked"
    with pytest.raises(Unauthenticated):
        service.api_keys.principal(reader_token)


def test_regenerating_replaces_the_token(service: AccountService) -> None:
    ada = session(service.account("ada"))
    key, old, _ = make(service, ada, "storage:read")
    same, new = service.api_keys.regenerate(ada, key.id)
    assert same.id == key.id and new != old
    assert service.api_keys.principal(new).api_key_id == key.id
    with pytest.raises(Unauthenticated):
        service.api_keys.principal(old)
    service.api_keys.revoke(ada, key.id)
    with pytest.raises(Invalid):  # a revoked key stays revoked
        service.api_keys.regenerate(ada, key.id)
    with pytest.raises(Unauthenticated):
        service.api_keys.principal(new)


def test_another_accounts_key_is_not_found(service: AccountService) -> None:
    ada, bob = session(service.account("ada")), session(service.account("bob"))
    key, token, _ = make(service, ada, "storage:read")
    with pytest.raises(NoSuchApiKey):
        service.api_keys.get(bob.account.id, key.id)
    for act in (service.api_keys.revoke, service.api_keys.regenerate, service.api_keys.delete):
        with pytest.raises(NoSuchApiKey):
            act(bob, key.id)
    assert service.api_keys.principal(token).account == ada.account


def test_a_deleted_key_is_gone(service: AccountService) -> None:
    ada = session(service.account("ada"))
    key, token, _ = make(service, ada, "storage:read")
    service.api_keys.delete(ada, key.id)
    with pytest.raises(NoSuchApiKey):
        service.api_keys.get(ada.account.id, key.id)
    with pytest.raises(Unauthenticated):
        service.api_keys.principal(token)
    with pytest.raises(NoSuchApiKey):
        service.api_keys.delete(ada, key.id)


def test_a_suspended_accounts_keys_are_refused(service: AccountService) -> None:
    ada = session(service.account("ada"))
    _, token, _ = make(service, ada, "storage:read")
    service.store.set_account_status(ada.account.id, "suspended")
    with pytest.raises(AccountSuspended):
        service.api_keys.principal(token)
    with pytest.raises(Unauthenticated):
        service.api_keys.principal(API_KEY_PREFIX + "0" * 40)


def test_the_api_key_limit_counts_revoked_keys(service: AccountService) -> None:
    service.limits.values["api_keys"] = 2
    ada = session(service.account("ada"))
    first, _, _ = make(service, ada, "storage:read", name="one")
    make(service, ada, "storage:read", name="two")
    service.api_keys.revoke(ada, first.id)
    with pytest.raises(QuotaExceeded) as refused:
        service.api_keys.create(ada, "three")
    assert refused.value.limit == "api_keys"
    service.api_keys.delete(ada, first.id)
    service.api_keys.create(ada, "three")
    names = [k.name for k in service.api_keys.list(ada.account.id, None, 10)]
    assert sorted(names) == ["three", "two"]


def test_last_use_is_written_at_most_once_a_minute(service: AccountService) -> None:
    ada = session(service.account("ada"))
    key, token, _ = make(service, ada, "storage:read")
    first = service.api_keys.get(ada.account.id, key.id).last_used_at
    assert first is not None
    service.store.touch_api_key(key.id, 1.0)  # as if the write were old
    service.api_keys.principal(token)
    assert service.api_keys.get(ada.account.id, key.id).last_used_at == 1.0


def test_keys_are_listed_oldest_first_and_paged(service: AccountService) -> None:
    ada = session(service.account("ada"))
    made = [make(service, ada, "storage:read", name=f"k{i}")[0] for i in range(3)]
    order = sorted(made, key=lambda k: (k.created_at, k.id))
    page = service.api_keys.list(ada.account.id, None, 2)
    assert page == service.api_keys.list(ada.account.id, None, 10)[:2]
    assert [k.id for k in page] == [k.id for k in order[:2]]
    rest = service.api_keys.list(ada.account.id, (page[-1].created_at, page[-1].id), 2)
    assert [k.id for k in rest] == [order[2].id]
