"""Client methods of Compute (``/v1/compute``); ``NexqClient`` has them.

The answers are the REST shapes as they are: dcp prints them unchanged with ``-o json``.
"""

from __future__ import annotations

from typing import Literal, TypedDict, cast

from nexq.client.paths import Plumbing, segment


class SshKey(TypedDict):
    id: str
    name: str
    fingerprint: str  # SHA256:…, as ssh-keygen -lf prints it
    type: Literal["ED25519", "RSA", "ECDSA"]
    bits: int
    comment: str
    public_key: str
    default: bool
    created_at: str


class SshKeyDeleted(TypedDict):
    id: str
    name: str
    new_default: SshKey | None  # the key that became the default in its place


class ComputeClient(Plumbing):
    """What ``NexqClient`` adds for Compute."""

    def list_ssh_keys(self) -> list[SshKey]:
        """The account's SSH keys, oldest first."""
        return cast(list[SshKey], self._request("GET", "/compute/ssh-keys"))

    def add_ssh_key(self, name: str, public_key: str) -> SshKey:
        body = {"name": name, "public_key": public_key}
        return cast(SshKey, self._request("POST", "/compute/ssh-keys", body=body))

    def get_ssh_key(self, key_id: str) -> SshKey:
        return cast(SshKey, self._request("GET", f"/compute/ssh-keys/{segment(key_id)}"))

    def change_ssh_key(
        self, key_id: str, name: str | None = None, default: bool | None = None
    ) -> SshKey:
        """Rename it and/or make it the default (``default=True``)."""
        body = {k: v for k, v in (("name", name), ("default", default)) if v is not None}
        path = f"/compute/ssh-keys/{segment(key_id)}"
        return cast(SshKey, self._request("PATCH", path, body=body))

    def delete_ssh_key(self, key_id: str) -> SshKeyDeleted:
        path = f"/compute/ssh-keys/{segment(key_id)}"
        return cast(SshKeyDeleted, self._request("DELETE", path))
