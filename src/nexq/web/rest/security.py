"""Who is calling: bearer tokens (API keys or console sessions) and the scopes they need."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from nexq.core.errors import RateLimited
from nexq.core.identity import Authenticator, MissingScope, Principal, Unauthenticated, grants
from nexq.core.quotas import Quotas
from nexq.core.ratelimit import RateLimiter

_bearer = HTTPBearer(auto_error=False, description="An API key (nxq_…) or a session (nxs_…).")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


# The OpenAPI name of the bearer scheme, as FastAPI derives it from HTTPBearer.
SCHEME = "HTTPBearer"


class Authorizer:
    """Builds the dependencies that authenticate a request and check its scopes.

    Every dependency it builds is remembered with the scopes it demands, so that the
    OpenAPI document states each operation's scopes (``security``) from the same source that
    enforces them, and tests can derive the authorization matrix from the document.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        limits: Quotas | None = None,
        rates: RateLimiter | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._limits = limits
        self._rates = rates
        # dependency -> alternatives, each a set of scopes that must all be held
        self.requirements: dict[Callable[..., Principal], list[tuple[str, ...]]] = {}

    def principal(self, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        """The caller behind a bearer token."""
        if credentials is None:
            raise Unauthenticated("Send an API key as 'Authorization: Bearer <token>'.")
        return self._authenticator.principal(credentials.credentials)

    def _check_rate(self, caller: Principal) -> None:
        if self._limits is None or self._rates is None:
            return
        account_id = caller.account.id
        wait = self._rates.take(f"{account_id}/api_rps", self._limits.limit(account_id, "api_rps"))
        if wait:
            raise RateLimited("api_rps", wait)

    def check(self, caller: Principal, scope: str) -> None:
        """MissingScope unless ``caller`` holds ``scope`` (for scopes that depend on the body)."""
        if not grants(caller.scopes, scope):
            raise MissingScope(scope)

    def require(self, *any_of: str) -> Callable[..., Principal]:
        """A dependency: the caller, who must hold one of ``any_of`` (or just be known)."""

        def dependency(request: Request, credentials: Bearer) -> Principal:
            caller = self.principal(credentials)
            request.scope["nexq.account"] = caller.account.id  # for web.observe
            self._check_rate(caller)
            if any_of and not any(grants(caller.scopes, scope) for scope in any_of):
                raise MissingScope(" or ".join(any_of))
            return caller

        self.requirements[dependency] = [(scope,) for scope in any_of] or [()]
        return dependency

    def require_all(self, *all_of: str) -> Callable[..., Principal]:
        """A dependency: the caller, who must hold every one of ``all_of``."""

        def dependency(request: Request, credentials: Bearer) -> Principal:
            caller = self.principal(credentials)
            request.scope["nexq.account"] = caller.account.id  # for web.observe
            self._check_rate(caller)
            for scope in all_of:
                if not grants(caller.scopes, scope):
                    raise MissingScope(scope)
            return caller

        self.requirements[dependency] = [tuple(all_of)]
        return dependency

    def security_of(self, dependencies: list[Callable[..., object]]) -> list[dict[str, list[str]]]:
        """The OpenAPI ``security`` of an operation whose dependencies are ``dependencies``.

        OpenAPI 3.1 lets a bearer requirement list role names: alternatives are separate
        objects (any of them), the names in one object are all needed.
        """
        for call in dependencies:
            alternatives = self.requirements.get(call)  # type: ignore[arg-type]
            if alternatives is not None:
                return [{SCHEME: list(scopes)} for scopes in alternatives]
        return []
