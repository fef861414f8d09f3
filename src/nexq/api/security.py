"""Who is calling: bearer tokens (API keys or console sessions) and the scopes they need."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from nexq.accounts.api_keys import ApiKeys
from nexq.accounts.errors import MissingScope, Unauthenticated
from nexq.accounts.model import API_KEY_PREFIX, SESSION_PREFIX, Principal, grants
from nexq.accounts.service import Accounts

_bearer = HTTPBearer(auto_error=False, description="An API key (nxq_…) or a session (nxs_…).")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class Authorizer:
    """Builds the dependencies that authenticate a request and check its scopes."""

    def __init__(self, accounts: Accounts, api_keys: ApiKeys) -> None:
        self._accounts = accounts
        self._api_keys = api_keys

    def principal(self, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        """The caller behind a bearer token."""
        if credentials is None:
            raise Unauthenticated("Send an API key as 'Authorization: Bearer <token>'.")
        token = credentials.credentials
        if token.startswith(API_KEY_PREFIX):
            return self._api_keys.principal(token)
        if token.startswith(SESSION_PREFIX):
            return self._accounts.session_principal(token)
        raise Unauthenticated("The token is not a Nexq API key or session.")

    def check(self, caller: Principal, scope: str) -> None:
        """MissingScope unless ``caller`` holds ``scope`` (for scopes that depend on the body)."""
        if not grants(caller.scopes, scope):
            raise MissingScope(scope)

    def require(self, *any_of: str) -> Callable[..., Principal]:
        """A dependency: the caller, who must hold one of ``any_of`` (or just be known)."""

        def dependency(request: Request, credentials: Bearer) -> Principal:
            caller = self.principal(credentials)
            if any_of and not any(grants(caller.scopes, scope) for scope in any_of):
                raise MissingScope(" or ".join(any_of))
            return caller

        return dependency
