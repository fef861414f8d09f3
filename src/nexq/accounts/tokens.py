"""The authenticators the web kits are given: bearer tokens and console sessions."""

from __future__ import annotations

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.model import API_KEY_PREFIX, SESSION_PREFIX
from nexq.accounts.service import Accounts
from nexq.core.generation import GenerationWatch
from nexq.core.identity import Principal, Unauthenticated


def _seen(watch: GenerationWatch | None) -> None:
    # Read at the start of each request, so that what the request is checked against
    # (limits and tiers, cached per generation) is at least as new as the request.
    if watch is not None:
        watch.read()


class BearerTokens:
    """An API key (``nxq_…``) or a session (``nxs_…``) sent as a bearer token."""

    def __init__(
        self, accounts: Accounts, api_keys: ApiKeys, watch: GenerationWatch | None = None
    ) -> None:
        self._accounts = accounts
        self._api_keys = api_keys
        self._watch = watch

    def principal(self, token: str) -> Principal:
        _seen(self._watch)
        if token.startswith(API_KEY_PREFIX):
            return self._api_keys.principal(token)
        if token.startswith(SESSION_PREFIX):
            return self._accounts.session_principal(token)
        raise Unauthenticated("The token is not a Nexq API key or session.")


class SessionTokens:
    """A console session cookie: sessions only (an API key is no console login)."""

    def __init__(self, accounts: Accounts, watch: GenerationWatch | None = None) -> None:
        self._accounts = accounts
        self._watch = watch

    def principal(self, token: str) -> Principal:
        _seen(self._watch)
        return self._accounts.session_principal(token)
