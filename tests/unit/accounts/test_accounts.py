"""Sign-up, login and its throttle, sessions, passwords, suspension — through Accounts on the
in-memory account store."""

from __future__ import annotations

import time

import pytest

from nexq.accounts.errors import EmailTaken
from nexq.accounts.model import SESSION_PREFIX, SESSION_SECONDS, TOKEN_LENGTH, Session
from nexq.accounts.service import FREE_ATTEMPTS
from nexq.core.crypto import hash_token
from nexq.core.errors import Invalid
from nexq.core.identity import (
    AccountSuspended,
    NoSuchAccount,
    Principal,
    TooManyAttempts,
    Unauthenticated,
)
from tests.unit.accounts.conftest import AccountService

PASSWORD = "correct horse battery"


@pytest.mark.parametrize(
    ("email", "password", "role"),
    [
        ("not-an-email", PASSWORD, "customer"),
        ("a@example.com", "short", "customer"),
        ("longer.name@example.com", "LONGER.NAME@example.com", "customer"),  # the email
        ("a@example.com", PASSWORD, "superuser"),
    ],
)
def test_sign_up_rules(service: AccountService, email: str, password: str, role: str) -> None:
    with pytest.raises(Invalid):
        service.accounts.create(email, password, role)
    assert service.accounts.list(None, 10) == []


def test_an_email_is_taken_in_any_case(service: AccountService) -> None:
    made = service.accounts.create("  Ada@Example.com ", PASSWORD)
    assert made.email == "Ada@Example.com" and made.active and made.role == "customer"
    with pytest.raises(EmailTaken):
        service.accounts.create("ada@EXAMPLE.com", PASSWORD)
    assert service.accounts.get("ADA@example.com") == made
    assert service.accounts.get_by_id(made.id) == made
    with pytest.raises(NoSuchAccount):
        service.accounts.get("nobody@example.com")
    with pytest.raises(NoSuchAccount):
        service.accounts.get_by_id("nobody")
    assert service.store.password_hash(made.id) != PASSWORD  # only a hash is kept


def test_a_login_opens_a_session_kept_only_as_a_hash(service: AccountService) -> None:
    made = service.accounts.create("ada@example.com", PASSWORD)
    token, session, account = service.accounts.login("ada@example.com", PASSWORD, "10.0.0.1")
    assert account == made
    assert token.startswith(SESSION_PREFIX) and len(token) == len(SESSION_PREFIX) + TOKEN_LENGTH
    assert session.expires_at - session.created_at == SESSION_SECONDS
    assert service.store.find_session(token) is None
    assert service.store.find_session(hash_token(token)) == session
    caller = service.accounts.session_principal(token)
    assert caller.account == made and caller.session_hash == hash_token(token)
    assert caller.api_key_id is None
    assert caller.scopes == {"account:read", "account:write", "storage:read", "storage:write"}


def test_an_operators_session_holds_the_admin_scopes(service: AccountService) -> None:
    service.accounts.create("op@example.com", PASSWORD, role="operator")
    token, _, _ = service.accounts.login("op@example.com", PASSWORD)
    assert {"admin:read", "admin:write"} <= service.accounts.session_principal(token).scopes


def test_a_wrong_password_or_unknown_email_is_one_refusal(service: AccountService) -> None:
    service.accounts.create("ada@example.com", PASSWORD)
    with pytest.raises(Unauthenticated) as wrong:
        service.accounts.login("ada@example.com", "not the password")
    with pytest.raises(Unauthenticated) as unknown:
        service.accounts.login("who@example.com", PASSWORD)
    assert wrong.value.message == unknown.value.message


def test_the_throttle_blocks_an_address_not_the_owner(service: AccountService) -> None:
    service.accounts.create("ada@example.com", PASSWORD)
    for _ in range(FREE_ATTEMPTS):
        with pytest.raises(Unauthenticated):
            service.accounts.login("ada@example.com", "guess", "203.0.113.9")
    with pytest.raises(TooManyAttempts) as blocked:  # even the right password now waits
        service.accounts.login("ada@example.com", PASSWORD, "203.0.113.9")
    assert 0 < blocked.value.retry_after <= 10
    service.accounts.login("ada@example.com", PASSWORD, "198.51.100.7")  # the owner, elsewhere


def test_a_session_ends_at_logout_or_expiry(service: AccountService) -> None:
    made = service.accounts.create("ada@example.com", PASSWORD)
    token, _, _ = service.accounts.login("ada@example.com", PASSWORD)
    service.accounts.logout(service.accounts.session_principal(token))
    with pytest.raises(Unauthenticated):
        service.accounts.session_principal(token)
    now = time.time()
    service.store.add_session(hash_token("nxs_expired"), Session(made.id, now - 60, now - 1))
    with pytest.raises(Unauthenticated):
        service.accounts.session_principal("nxs_expired")
    with pytest.raises(Unauthenticated):
        service.accounts.session_principal("nxs_never_issued")
    with pytest.raises(Invalid):  # an API key is revoked, not logged out
        service.accounts.logout(Principal(made, frozenset(), api_key_id="k1"))


def test_a_password_change_ends_every_other_session(service: AccountService) -> None:
    service.accounts.create("ada@example.com", PASSWORD)
    here, _, _ = service.accounts.login("ada@example.com", PASSWORD)
    elsewhere, _, _ = service.accounts.login("ada@example.com", PASSWORD)
    caller = service.accounts.session_principal(here)
    with pytest.raises(Invalid):
        service.accounts.change_password(caller, "wrong current", "a new password")
    with pytest.raises(Invalid):
        service.accounts.change_password(caller, PASSWORD, "short")
    service.accounts.session_principal(elsewhere)  # refusals change nothing
    service.accounts.change_password(caller, PASSWORD, "a new password")
    assert service.accounts.session_principal(here).account == caller.account
    with pytest.raises(Unauthenticated):
        service.accounts.session_principal(elsewhere)
    with pytest.raises(Unauthenticated):
        service.accounts.login("ada@example.com", PASSWORD)
    service.accounts.login("ada@example.com", "a new password")


def test_suspension_refuses_logins_and_sessions_until_resumed(service: AccountService) -> None:
    operator = service.accounts.create("op@example.com", PASSWORD, role="operator")
    made = service.accounts.create("ada@example.com", PASSWORD)
    token, _, _ = service.accounts.login("ada@example.com", PASSWORD)
    op = Principal(operator, frozenset({"admin:write"}))
    with pytest.raises(Invalid):
        service.accounts.administer(op, operator.id, suspended=True)
    assert service.accounts.administer(op, made.id, suspended=True).status == "suspended"
    with pytest.raises(AccountSuspended):
        service.accounts.session_principal(token)
    with pytest.raises(AccountSuspended):  # after the password check: it says nothing new
        service.accounts.login("ada@example.com", PASSWORD)
    assert service.accounts.administer(op, made.id, suspended=False).active
    assert service.accounts.session_principal(token).account.active


def test_accounts_are_listed_oldest_first(service: AccountService) -> None:
    first = service.account("first")
    second = service.account("second")
    listed = service.accounts.list(None, 10)
    assert listed == sorted([first, second], key=lambda a: (a.created_at, a.id))
    assert service.accounts.list((listed[0].created_at, listed[0].id), 10) == listed[1:]
