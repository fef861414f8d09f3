"""Use cases of an account's SSH keys: add (checked), rename, set the default, delete.

The first key an account adds is its default; deleting the default makes the oldest
remaining key the default, so an account with keys always has exactly one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from nexq.compute.errors import NoSuchSshKey
from nexq.compute.model import SSH_KEYS_LIMIT, SshKey, check_name
from nexq.compute.port import SshKeyStore
from nexq.compute.public_keys import parse_public_key
from nexq.core.errors import Invalid
from nexq.core.identity import Principal
from nexq.core.ids import new_id
from nexq.core.quotas import NoQuotas, Quotas


@dataclass(frozen=True, slots=True)
class Deleted:
    """A deleted key, and the key that became the default in its place (if it was it)."""

    key: SshKey
    new_default: SshKey | None


class SshKeys:
    """The SSH keys of each account."""

    def __init__(
        self,
        store: SshKeyStore,
        quotas: Quotas | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._quotas: Quotas = quotas or NoQuotas()
        self._clock = clock

    def add(self, caller: Principal, name: str, public_key: str) -> SshKey:
        """A new key of the caller's account: Invalid naming what is wrong with the key (a
        private key is refused with a warning, and never kept), Conflict for a name or a
        key the account has, QuotaExceeded past its ssh_keys limit."""
        checked = parse_public_key(public_key)
        account_id = caller.account.id
        key = SshKey(
            id=new_id(),
            account_id=account_id,
            name=check_name(name),
            public_key=checked.text,
            kind=checked.kind,
            bits=checked.bits,
            fingerprint=checked.fingerprint,
            comment=checked.comment,
            default=False,  # the store makes the account's first key its default
            created_at=self._clock(),
        )
        limit = self._quotas.limit(account_id, SSH_KEYS_LIMIT)
        return self._store.add_ssh_key(key, limit)

    def all(self, caller: Principal) -> list[SshKey]:
        """The caller's account's keys, oldest first."""
        return self._store.list_ssh_keys(caller.account.id)

    def get(self, caller: Principal, key_id: str) -> SshKey:
        """One of the caller's account's keys; another account's does not exist for it."""
        key = self._store.get_ssh_key(key_id)
        if key is None or key.account_id != caller.account.id:
            raise NoSuchSshKey(f"No SSH key {key_id} in this account.")
        return key

    def rename(self, caller: Principal, key_id: str, name: str) -> SshKey:
        key = self.get(caller, key_id)
        return self._store.rename_ssh_key(key, check_name(name))

    def set_default(self, caller: Principal, key_id: str) -> SshKey:
        """The key preselected at launch from now on (the previous default stays a key)."""
        key = self.get(caller, key_id)
        return key if key.default else self._store.set_default_ssh_key(key)

    def change(
        self, caller: Principal, key_id: str, name: str | None = None, default: bool | None = None
    ) -> SshKey:
        """Rename and/or make the default (the PATCH of the API); ``default`` can only be
        set: an account with keys always has a default, so another key is made it instead."""
        if default is False:
            raise Invalid(
                "default: an account with keys always has a default; set another key as the "
                "default instead."
            )
        key = self.get(caller, key_id)
        if name is not None:
            key = self._store.rename_ssh_key(key, check_name(name))
        if default and not key.default:
            key = self._store.set_default_ssh_key(key)
        return key

    def delete(self, caller: Principal, key_id: str) -> Deleted:
        """Remove a key; when it was the default, the oldest remaining key becomes it."""
        key = self.get(caller, key_id)
        return Deleted(key, self._store.delete_ssh_key(key))

    def default_of(self, account_id: str) -> SshKey | None:
        """The account's default key: the one preselected at launch."""
        return next((k for k in self._store.list_ssh_keys(account_id) if k.default), None)

    def count(self, account_id: str) -> int:
        """What the account uses of its ssh_keys limit."""
        return self._store.count_ssh_keys(account_id)
