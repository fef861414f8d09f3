"""Use cases of the Container Registry's control plane: registries, their credentials, and
what the console and API show of repositories and tags."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from nexq.core.crypto import hash_token
from nexq.core.errors import Invalid, NotFound
from nexq.core.identity import Principal
from nexq.core.ids import LOWER_ALNUM, new_id, random_string
from nexq.core.quotas import NoQuotas, Quotas
from nexq.registry.access import Caller
from nexq.registry.content import Content
from nexq.registry.errors import ManifestUnknown, NameUnknown
from nexq.registry.model import (
    ACCESS,
    WRITE,
    Credential,
    Registry,
    Repository,
    Tag,
    check_registry_name,
    check_tag,
)
from nexq.registry.sqlite import SqlRegistry

REGISTRIES_LIMIT = "registries"
CREDENTIALS_LIMIT = "registry_credentials"
MAX_LABEL = 100


class NoSuchCredential(NotFound):
    """The credential does not exist in this registry."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A credential with its token, which is shown this once and never again."""

    credential: Credential
    token: str


def _new_token() -> str:
    return "nxr_" + random_string(40)


def _username(registry: str) -> str:
    return f"{registry}+{random_string(8, LOWER_ALNUM)}"


def _check_label(label: str) -> str:
    label = label.strip()
    if not 1 <= len(label) <= MAX_LABEL:
        raise Invalid(f"label: 1 to {MAX_LABEL} characters.")
    return label


def _check_access(access: str) -> str:
    if access not in ACCESS:
        raise Invalid(f"access: {access!r} is not one of {', '.join(ACCESS)}.")
    return access


class Registries:
    """Create, list and delete registries; manage their credentials; browse their content."""

    def __init__(
        self,
        store: SqlRegistry,
        content: Content,
        quotas: Quotas | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._content = content
        self._quotas: Quotas = quotas or NoQuotas()
        self._clock = clock

    # registries --------------------------------------------------------------------------

    def create(self, principal: Principal, name: str) -> tuple[Registry, Issued]:
        """A new registry with its default (read-write) credential."""
        account_id = principal.account.id
        registry = Registry(new_id(), account_id, check_registry_name(name), self._clock())
        issued = self._issue(registry, "default", WRITE, None)
        self._store.add_registry(
            registry, issued.credential, self._quotas.limit(account_id, REGISTRIES_LIMIT)
        )
        return registry, issued

    def all(self, principal: Principal) -> list[Registry]:
        return self._store.registries(principal.account.id)

    def get(self, principal: Principal, name: str) -> Registry:
        return self._content.registry(_owner(principal), name)

    def delete(self, principal: Principal, name: str) -> None:
        """Delete the registry with every repository, image and credential in it."""
        registry = self.get(principal, name)
        self._content.discard(self._store.delete_registry(registry))

    def stored_bytes(self, registry: Registry) -> int:
        return self._store.stored_bytes(registry.id)

    def registries_of(self, account_id: str) -> int:
        """How many registries the account has (its ``registries`` limit's use)."""
        return self._store.count_registries(account_id)

    def credentials_of(self, account_id: str) -> int:
        """How many registry credentials the account has (its limit's use)."""
        return self._store.count_credentials(account_id)

    # credentials -------------------------------------------------------------------------

    def credentials(self, principal: Principal, name: str) -> list[Credential]:
        return self._store.credentials(self.get(principal, name).id)

    def add_credential(
        self,
        principal: Principal,
        name: str,
        label: str,
        access: str = WRITE,
        expires_at: float | None = None,
    ) -> Issued:
        registry = self.get(principal, name)
        if expires_at is not None and expires_at <= self._clock():
            raise Invalid("expires_at: a time in the future.")
        issued = self._issue(registry, _check_label(label), _check_access(access), expires_at)
        self._store.add_credential(
            issued.credential, self._quotas.limit(registry.account_id, CREDENTIALS_LIMIT)
        )
        return issued

    def _issue(
        self, registry: Registry, label: str, access: str, expires_at: float | None
    ) -> Issued:
        token = _new_token()
        credential = Credential(
            new_id(),
            registry.id,
            label,
            _username(registry.name),
            hash_token(token),
            access,
            self._clock(),
            expires_at,
        )
        return Issued(credential, token)

    def _credential(self, principal: Principal, name: str, credential_id: str) -> Credential:
        registry = self.get(principal, name)
        credential = self._store.credential(credential_id)
        if credential is None or credential.registry_id != registry.id:
            raise NoSuchCredential(f"No credential {credential_id} in registry {name}.")
        return credential

    def rotate(self, principal: Principal, name: str, credential_id: str) -> Issued:
        """A new token for the credential; the old one stops working at once."""
        credential = self._credential(principal, name, credential_id)
        token = _new_token()
        rotated = replace(credential, token_hash=hash_token(token), revoked_at=None)
        self._store.update_credential(rotated)
        return Issued(rotated, token)

    def revoke(self, principal: Principal, name: str, credential_id: str) -> Credential:
        credential = self._credential(principal, name, credential_id)
        revoked = replace(credential, revoked_at=credential.revoked_at or self._clock())
        self._store.update_credential(revoked)
        return revoked

    def delete_credential(self, principal: Principal, name: str, credential_id: str) -> None:
        self._credential(principal, name, credential_id)
        self._store.delete_credential(credential_id)

    # content, as the console and API show it --------------------------------------------

    def repositories(self, principal: Principal, name: str) -> list[Repository]:
        registry = self.get(principal, name)
        return self._store.repositories(registry.id, "", 10_000)

    def tags(self, principal: Principal, name: str, repository: str) -> list[Tag]:
        registry = self.get(principal, name)
        if not self._store.repository_exists(registry.id, repository):
            raise NameUnknown(f"No repository {repository!r} in registry {name}.")
        return self._store.tags(registry.id, repository, "", 10_000)

    def delete_repository(self, principal: Principal, name: str, repository: str) -> None:
        """Delete a repository with every image and tag in it (it no longer counts toward
        the registry_repositories limit); layers no other repository holds are collected."""
        registry = self.get(principal, name)
        if not self._store.delete_repository(registry.id, repository):
            raise NameUnknown(f"No repository {repository!r} in registry {name}.")

    def delete_tag(self, principal: Principal, name: str, repository: str, tag: str) -> None:
        registry = self.get(principal, name)
        if not self._store.delete_tag(registry.id, repository, check_tag(tag)):
            raise ManifestUnknown(f"No tag {tag!r} in {name}/{repository}.")

    def delete_manifest(
        self, principal: Principal, name: str, repository: str, digest: str
    ) -> None:
        self._content.delete_manifest(_owner(principal), f"{name}/{repository}", digest)


def _owner(principal: Principal) -> Caller:
    """The account's own view of its registries (the console and API act as the owner)."""
    return Caller(principal.account.id, None, True, username=principal.account.email)
