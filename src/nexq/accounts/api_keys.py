"""Use cases of platform API keys: create, list, revoke, regenerate, delete, authenticate."""

from __future__ import annotations

import time
from collections.abc import Iterable

from nexq.accounts.errors import NoSuchApiKey
from nexq.accounts.model import (
    API_KEY_PREFIX,
    MAX_DESCRIPTION,
    MAX_NAME,
    OWN_SCOPES,
    TOKEN_LENGTH,
    ApiKey,
)
from nexq.accounts.port import AccountStore
from nexq.core.crypto import hash_token
from nexq.core.errors import Invalid
from nexq.core.identity import (
    AccountSuspended,
    BeyondCallerScopes,
    Principal,
    ScopeCatalog,
    Unauthenticated,
    grants,
)
from nexq.core.ids import new_id, random_string
from nexq.core.quotas import NoQuotas, Quotas

# "Last used" is a day-to-day signal, so one write a minute per key is plenty and keeps
# authenticated requests free of database writes.
TOUCH_SECONDS = 60.0


def _new_token() -> str:
    return API_KEY_PREFIX + random_string(TOKEN_LENGTH)


def _within_reach(principal: Principal, scopes: Iterable[str], action: str) -> None:
    """BeyondCallerScopes unless ``principal`` holds every one of ``scopes``.

    The one rule for keys acting on keys: whoever creates, regenerates, revokes or deletes a
    key must hold every scope of that key. Otherwise a narrow key could mint itself a wide
    token (regenerate) or switch off the wider keys that watch over it (revoke, delete).
    Console sessions hold every scope of the account's role, so they reach every key.
    """
    beyond = sorted(s for s in scopes if not grants(principal.scopes, s))
    if beyond:
        raise BeyondCallerScopes(action, beyond)


class ApiKeys:
    """An account's API keys; tokens are returned once and only their hashes are stored."""

    def __init__(
        self,
        store: AccountStore,
        quotas: Quotas | None = None,
        scopes: ScopeCatalog = OWN_SCOPES,
    ) -> None:
        self._store = store
        self._quotas: Quotas = quotas or NoQuotas()
        self._scopes = scopes  # every service's (app.py); Account's own alone by default
        self._touched: dict[str, float] = {}

    def create(
        self,
        principal: Principal,
        name: str,
        description: str = "",
        scopes: Iterable[str] | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its token; without ``scopes``, every scope the caller holds."""
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise Invalid(f"name: must be 1-{MAX_NAME} characters.")
        if len(description) > MAX_DESCRIPTION:
            raise Invalid(f"description: must be at most {MAX_DESCRIPTION} characters.")
        wanted = frozenset(scopes) if scopes is not None else principal.scopes
        if not wanted:
            raise Invalid("scopes: a key needs at least one scope.")
        possible = frozenset(self._scopes.of_role(principal.account.role))
        unknown = sorted(wanted - possible)
        if unknown:
            raise Invalid(
                f"scopes: {', '.join(unknown)} cannot be granted; "
                f"choose from {', '.join(sorted(possible))}."
            )
        _within_reach(principal, wanted, "Creating this key")
        key = ApiKey(
            id=new_id(),
            account_id=principal.account.id,
            name=name,
            description=description,
            scopes=wanted,
            status="active",
            created_at=time.time(),
            last_used_at=None,
        )
        token = _new_token()
        limit = self._quotas.limit(key.account_id, "api_keys")
        self._store.add_api_key(key, hash_token(token), max_keys=limit)
        return key, token

    def list(self, account_id: str, after: tuple[float, str] | None, limit: int) -> list[ApiKey]:
        """The account's keys, oldest first."""
        return self._store.list_api_keys(account_id, after, limit)

    def get(self, account_id: str, key_id: str) -> ApiKey:
        """One key of the account."""
        key = self._store.get_api_key(account_id, key_id)
        if key is None:
            raise NoSuchApiKey(f"No API key {key_id} in this account.")
        return key

    def _reachable(self, principal: Principal, key_id: str, action: str) -> ApiKey:
        key = self.get(principal.account.id, key_id)
        _within_reach(principal, key.scopes, action)
        return key

    def revoke(self, principal: Principal, key_id: str) -> ApiKey:
        """Stop the key working at once; it stays listed as Revoked."""
        self._reachable(principal, key_id, "Revoking this key")
        if not self._store.set_api_key_status(principal.account.id, key_id, "revoked"):
            raise NoSuchApiKey(f"No API key {key_id} in this account.")
        return self.get(principal.account.id, key_id)

    def regenerate(self, principal: Principal, key_id: str) -> tuple[ApiKey, str]:
        """A new token for the same key; the old token stops working at once."""
        key = self._reachable(principal, key_id, "Regenerating this key")
        if not key.active:
            raise Invalid("A revoked key cannot be regenerated; create a new key.")
        token = _new_token()
        self._store.set_api_key_token(principal.account.id, key_id, hash_token(token))
        return key, token

    def delete(self, principal: Principal, key_id: str) -> None:
        """Remove the key permanently."""
        self._reachable(principal, key_id, "Deleting this key")
        if not self._store.remove_api_key(principal.account.id, key_id):
            raise NoSuchApiKey(f"No API key {key_id} in this account.")

    def principal(self, token: str) -> Principal:
        """Who an API key token belongs to; Unauthenticated when unknown or revoked."""
        key = self._store.find_api_key(hash_token(token))
        if key is None:
            raise Unauthenticated("The API key is not valid.")
        if not key.active:
            raise Unauthenticated("The API key has been revoked.")
        account = self._store.get_account(key.account_id)
        if account is None:
            raise Unauthenticated("The account of this API key no longer exists.")
        if not account.active:
            raise AccountSuspended("The account is suspended; contact the operator.")
        now = time.time()
        if now - self._touched.get(key.id, 0.0) >= TOUCH_SECONDS:
            if len(self._touched) > 100_000:
                self._touched.clear()
            self._touched[key.id] = now
            self._store.touch_api_key(key.id, now)
        # An operator demoted since creation keeps only what the role still allows.
        scopes = key.scopes & frozenset(self._scopes.of_role(account.role))
        return Principal(account, scopes, api_key_id=key.id)
