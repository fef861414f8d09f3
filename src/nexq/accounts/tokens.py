"""The authenticators the web kits are given: bearer tokens and console sessions."""

from __future__ import annotations

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.model import API_KEY_PREFIX, SESSION_PREFIX
from nexq.accounts.service import Accounts
from nexq.core.identity import Principal, Unauthenticated


class BearerTokens:
    """An API key (``nxq_…``) or a session (``nxs_…``) sent as a bearer token."""

    def __init__(self, accounts: Accounts, api_keys: ApiKeys) -> None:
        self._accounts = accounts
        self._api_keys = api_keys

    def principal(self, token: str) -> Principal:
        if token.startswith(API_KEY_PREFIX):
            return self._api_keys.principal(token)
        if token.startswith(SESSION_PREFIX):
            return self._accounts.session_principal(token)
        raise Unauthenticated("The token is not a Nexq API key or session.")


class SessionTokens:
    """A console session cookie: sessions only (an API key is no console login)."""

    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts

    def principal(self, token: str) -> Principal:
        return self._accounts.session_principal(token)
