"""SSH keys in memory: the use cases tested without a database."""

from __future__ import annotations

import threading
from dataclasses import replace

from nexq.compute.errors import NoSuchSshKey, SshKeyAdded, SshKeyNameTaken
from nexq.compute.model import SSH_KEYS_LIMIT, SshKey
from nexq.core.errors import QuotaExceeded


class MemorySshKeys:
    """:class:`SshKeyStore` in a dict, one lock standing for the database's transaction."""

    def __init__(self) -> None:
        self._keys: dict[str, SshKey] = {}
        self._lock = threading.Lock()

    def add_ssh_key(self, key: SshKey, max_count: int | None) -> SshKey:
        with self._lock:
            held = self._of(key.account_id)
            self._name_free(held, key.name)
            for other in held:
                if other.fingerprint == key.fingerprint:
                    raise SshKeyAdded(
                        f"public_key: this key ({key.fingerprint}) is in the account already, "
                        f"named {other.name!r}."
                    )
            if max_count is not None and len(held) >= max_count:
                raise QuotaExceeded(
                    SSH_KEYS_LIMIT,
                    f"The account has {len(held)} SSH keys, its {SSH_KEYS_LIMIT} limit; delete "
                    "one it no longer uses or ask for a higher tier.",
                )
            made = self._keys[key.id] = replace(key, default=not held)
            return made

    def get_ssh_key(self, key_id: str) -> SshKey | None:
        return self._keys.get(key_id)

    def list_ssh_keys(self, account_id: str) -> list[SshKey]:
        with self._lock:
            return self._of(account_id)

    def rename_ssh_key(self, key: SshKey, name: str) -> SshKey:
        with self._lock:
            current = self._current(key)
            if name != current.name:
                self._name_free(self._of(key.account_id), name)
            renamed = self._keys[key.id] = replace(current, name=name)
            return renamed

    def set_default_ssh_key(self, key: SshKey) -> SshKey:
        with self._lock:
            return self._make_default(self._current(key))

    def delete_ssh_key(self, key: SshKey) -> SshKey | None:
        with self._lock:
            gone = self._keys.pop(key.id, None)
            remaining = self._of(key.account_id)
            if gone is None or not gone.default or not remaining:
                return None
            return self._make_default(remaining[0])

    def count_ssh_keys(self, account_id: str) -> int:
        with self._lock:
            return len(self._of(account_id))

    def _of(self, account_id: str) -> list[SshKey]:
        held = [k for k in self._keys.values() if k.account_id == account_id]
        return sorted(held, key=lambda k: (k.created_at, k.id))

    def _current(self, key: SshKey) -> SshKey:
        found = self._keys.get(key.id)
        if found is None:
            raise NoSuchSshKey(f"No SSH key {key.id} in this account (it was just deleted).")
        return found

    @staticmethod
    def _name_free(held: list[SshKey], name: str) -> None:
        if any(k.name == name for k in held):
            raise SshKeyNameTaken(f"name: the account has an SSH key named {name!r} already.")

    def _make_default(self, key: SshKey) -> SshKey:
        for other in self._of(key.account_id):
            if other.default and other.id != key.id:
                self._keys[other.id] = replace(other, default=False)
        made = self._keys[key.id] = replace(key, default=True)
        return made
