"""What Compute needs from outside: a store of SSH keys, a vault for backups."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from nexq.compute.model import SshKey


class SshKeyStore(Protocol):
    """An account's SSH keys, exactly one of them its default while it has any."""

    def add_ssh_key(self, key: SshKey, max_count: int | None) -> SshKey:
        """Insert ``key``, the account's default when it is its first (the answer says
        which). In one transaction: SshKeyNameTaken for a name the account uses,
        SshKeyAdded for a fingerprint it has, QuotaExceeded at ``max_count`` keys."""

    def get_ssh_key(self, key_id: str) -> SshKey | None: ...
    def list_ssh_keys(self, account_id: str) -> list[SshKey]:
        """The account's keys, oldest first."""

    def rename_ssh_key(self, key: SshKey, name: str) -> SshKey:
        """SshKeyNameTaken when another key of the account has ``name``."""

    def set_default_ssh_key(self, key: SshKey) -> SshKey:
        """Make ``key`` its account's only default."""

    def delete_ssh_key(self, key: SshKey) -> SshKey | None:
        """Remove ``key``; when it was the default, the oldest remaining key becomes the
        default and is returned (None: no key left, or it was not the default)."""

    def count_ssh_keys(self, account_id: str) -> int: ...


class BackupVault(Protocol):
    """Where backups are kept: files by key, in Nexq's Object Storage (a system bucket)."""

    def put_file(self, key: str, path: Path) -> int:
        """Store the file at ``path`` as ``key``, streamed; its size."""

    def get_file(self, key: str, path: Path) -> int:
        """Write ``key``'s bytes to ``path``, streamed; their size."""

    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing to do if it is gone)."""
