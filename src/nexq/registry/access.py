"""Who is calling the registry: a registry credential or an account API key, at login
(HTTP Basic) and then through short-lived bearer tokens the token endpoint issues.

A bearer token is sealed with the installation's master key (so every worker and node can
open it, and nobody can forge or read it) and names what it stands for, checked again on
every request: a credential revoked, rotated or expired, or an API key revoked, stops its
tokens at once rather than when they expire.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from nexq.core.crypto import SecretBox, hash_token
from nexq.core.generation import GenerationWatch
from nexq.core.identity import Authenticator, Unauthenticated, grants
from nexq.registry.model import WRITE
from nexq.registry.sqlite import SqlRegistry

TOKEN_SECONDS = 300  # what clients are told; each request checks the credential anyway
# What a caller without credentials is told (there are no public registries). Not the
# error code's default text, "authentication required", which clients drop as redundant.
ANONYMOUS = "authentication required: log in with a credential of this registry"
READ_SCOPE = "registry:read"
WRITE_SCOPE = "registry:write"
_CONTEXT = "registry-token"
# How often a credential's last use is recorded (it is informative, not a counter).
TOUCH_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, and what they reach."""

    account_id: str
    registry_id: str | None  # a credential's registry; None: every registry of the account
    can_write: bool
    credential_id: str | None = None
    api_key: str | None = None  # an API key login's key, only ever inside a sealed token
    username: str = ""


class RegistryAuth:
    """Logins and bearer tokens."""

    def __init__(
        self,
        store: SqlRegistry,
        box: SecretBox,
        api_keys: Authenticator,
        account_active: Callable[[str], bool],
        watch: GenerationWatch | None = None,
    ) -> None:
        self._store = store
        # Read once per request, as every protocol does: a limit or tier changed a moment
        # ago holds for this request already (the limits' cache is checked against it).
        self._watch = watch
        self._box = box
        self._api_keys = api_keys
        self._account_active = account_active
        self._touched: dict[str, float] = {}

    def login(self, username: str, password: str) -> Caller:
        """The caller behind Basic credentials: a registry credential (its username and
        token), or any username with an account API key holding a registry scope."""
        self._seen()
        credential = self._store.credential_named(username)
        if credential is not None:
            if not hmac.compare_digest(credential.token_hash, hash_token(password)):
                raise Unauthenticated("The username or token is not valid.")
            return self._credential_caller(credential.id, credential.token_hash)
        return self._api_key_caller(password, username)

    def _seen(self) -> None:
        if self._watch is not None:
            self._watch.read()

    def _credential_caller(self, credential_id: str, token_hash: str) -> Caller:
        credential = self._store.credential(credential_id)
        now = time.time()
        if credential is None or not hmac.compare_digest(credential.token_hash, token_hash):
            raise Unauthenticated("The credential was rotated or deleted; log in again.")
        if not credential.usable(now):
            raise Unauthenticated(
                f"The credential {credential.username} is {credential.status(now)}."
            )
        registry = self._store.registry_by_id(credential.registry_id)
        if registry is None or not self._account_active(registry.account_id):
            raise Unauthenticated("The registry's account is suspended or gone.")
        if now - self._touched.get(credential.id, 0.0) >= TOUCH_SECONDS:
            if len(self._touched) > 100_000:
                self._touched.clear()
            self._touched[credential.id] = now
            self._store.touch_credential(credential.id, now)
        return Caller(
            registry.account_id,
            registry.id,
            credential.access == WRITE,
            credential_id=credential.id,
            username=credential.username,
        )

    def _api_key_caller(self, token: str, username: str) -> Caller:
        try:
            principal = self._api_keys.principal(token)
        except Unauthenticated:
            raise Unauthenticated("The username or token is not valid.") from None
        if not grants(principal.scopes, READ_SCOPE):
            raise Unauthenticated(
                f"The API key lacks the scope {READ_SCOPE!r} (or {WRITE_SCOPE!r} to push)."
            )
        return Caller(
            principal.account.id,
            None,
            grants(principal.scopes, WRITE_SCOPE),
            api_key=token,
            username=username,
        )

    def issue(self, caller: Caller | None) -> str:
        """A bearer token standing for ``caller`` until it expires (None: an anonymous
        caller, whose token reaches nothing)."""
        claims: dict[str, object] = {"exp": time.time() + TOKEN_SECONDS}
        if caller is None:
            claims["anonymous"] = True
        elif caller.credential_id is not None:
            claims["sub"] = caller.username
            credential = self._store.credential(caller.credential_id)
            claims["cred"] = caller.credential_id
            claims["hash"] = credential.token_hash if credential else ""
        else:
            claims["sub"] = caller.username
            claims["key"] = caller.api_key
        sealed = self._box.seal(json.dumps(claims), _CONTEXT)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def bearer(self, token: str) -> Caller:
        """The caller a bearer token stands for, checked afresh; Unauthenticated otherwise."""
        self._seen()
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            claims = json.loads(self._box.open(sealed, _CONTEXT))
        except Exception:
            raise Unauthenticated("The bearer token is not valid.") from None
        if not isinstance(claims, dict) or float(claims.get("exp", 0)) < time.time():
            raise Unauthenticated("The bearer token has expired; log in again.")
        if claims.get("anonymous"):
            raise Unauthenticated(ANONYMOUS)
        if "cred" in claims:
            return self._credential_caller(str(claims["cred"]), str(claims.get("hash", "")))
        return self._api_key_caller(str(claims.get("key", "")), str(claims.get("sub", "")))
