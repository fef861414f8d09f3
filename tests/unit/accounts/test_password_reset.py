"""Password resets the operator issues: one-time, hashed, an hour long — through Accounts on
the in-memory account store."""

from __future__ import annotations

import time

import pytest

from nexq.accounts.errors import NoSuchResetLink
from nexq.accounts.model import RESET_PREFIX, RESET_SECONDS, TOKEN_LENGTH
from nexq.core.crypto import hash_token
from nexq.core.errors import Invalid
from nexq.core.identity import Unauthenticated
from tests.unit.accounts.conftest import AccountService

PASSWORD = "correct horse battery"
NEW_PASSWORD = "battery staple horse"


def test_a_reset_sets_the_password_once_and_ends_every_session(service: AccountService) -> None:
    made = service.accounts.create("ada@example.com", PASSWORD)
    old_session, _, _ = service.accounts.login("ada@example.com", PASSWORD)
    token, reset = service.accounts.issue_password_reset(made)
    assert token.startswith(RESET_PREFIX) and len(token) == len(RESET_PREFIX) + TOKEN_LENGTH
    assert reset.expires_at - reset.created_at == RESET_SECONDS == 3600
    # Only the hash is kept.
    assert service.store.find_password_reset(token) is None
    assert service.store.find_password_reset(hash_token(token)) == reset

    assert service.accounts.password_reset(token) == made
    service.accounts.reset_password(token, NEW_PASSWORD)

    with pytest.raises(Unauthenticated):
        service.accounts.session_principal(old_session)
    with pytest.raises(Unauthenticated):
        service.accounts.login("ada@example.com", PASSWORD)
    service.accounts.login("ada@example.com", NEW_PASSWORD)
    with pytest.raises(NoSuchResetLink, match="already been used"):
        service.accounts.password_reset(token)
    with pytest.raises(NoSuchResetLink):
        service.accounts.reset_password(token, "another long password")
    service.accounts.login("ada@example.com", NEW_PASSWORD)  # the second use changed nothing


def test_a_refused_password_leaves_the_link_usable(service: AccountService) -> None:
    made = service.accounts.create("ada@example.com", PASSWORD)
    token, _ = service.accounts.issue_password_reset(made)
    for bad in ("short", "ada@example.com"):
        with pytest.raises(Invalid, match="10 to 1024 characters"):
            service.accounts.reset_password(token, bad)
    service.accounts.reset_password(token, NEW_PASSWORD)
    service.accounts.login("ada@example.com", NEW_PASSWORD)


def test_a_reset_expires_after_an_hour(
    service: AccountService, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = service.accounts.create("ada@example.com", PASSWORD)
    token, reset = service.accounts.issue_password_reset(made)
    monkeypatch.setattr(time, "time", lambda: reset.created_at + RESET_SECONDS - 1)
    assert service.accounts.password_reset(token) == made
    monkeypatch.setattr(time, "time", lambda: reset.created_at + RESET_SECONDS)
    with pytest.raises(NoSuchResetLink, match="expired"):
        service.accounts.password_reset(token)
    with pytest.raises(NoSuchResetLink):
        service.accounts.reset_password(token, NEW_PASSWORD)
    monkeypatch.undo()
    service.accounts.login("ada@example.com", PASSWORD)  # unchanged


def test_unknown_tokens_and_inactive_accounts_are_refused(service: AccountService) -> None:
    with pytest.raises(NoSuchResetLink, match="unknown"):
        service.accounts.password_reset(RESET_PREFIX + "x" * TOKEN_LENGTH)
    made = service.accounts.create("ada@example.com", PASSWORD)
    token, _ = service.accounts.issue_password_reset(made)
    suspended = service.accounts.set_suspended(made, True)
    with pytest.raises(NoSuchResetLink, match="not active"):
        service.accounts.reset_password(token, NEW_PASSWORD)
    with pytest.raises(Invalid, match="suspended"):
        service.accounts.issue_password_reset(suspended)


def test_using_one_link_spends_the_others(service: AccountService) -> None:
    made = service.accounts.create("ada@example.com", PASSWORD)
    first, _ = service.accounts.issue_password_reset(made)
    second, _ = service.accounts.issue_password_reset(made)
    assert first != second
    assert service.accounts.password_reset(first) == made  # both usable until one is used
    service.accounts.reset_password(second, NEW_PASSWORD)
    with pytest.raises(NoSuchResetLink):
        service.accounts.reset_password(first, "a third long password")
    service.accounts.login("ada@example.com", NEW_PASSWORD)
