"""Compute's types and rules: an account's SSH keys."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from nexq.compute.public_keys import fingerprint_line
from nexq.core.errors import Invalid

MAX_NAME = 64
SSH_KEYS_LIMIT = "ssh_keys"  # the tier's limit on an account's SSH keys


def check_name(name: str) -> str:
    """A key's name: 1 to 64 characters, none of them control characters."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise Invalid(f"name: 1 to {MAX_NAME} characters (e.g. laptop or ci-deploy).")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise Invalid("name: letters, digits, spaces and punctuation only (no control characters).")
    return name


@dataclass(frozen=True, slots=True)
class SshKey:
    """An SSH public key of an account; the default one is preselected at launch."""

    id: str
    account_id: str
    name: str
    public_key: str  # "ssh-ed25519 AAAA… comment", as OpenSSH writes it
    kind: str  # ED25519, RSA or ECDSA, as ssh-keygen names it
    bits: int
    fingerprint: str  # "SHA256:…"
    comment: str
    default: bool
    created_at: float

    @property
    def fingerprint_line(self) -> str:
        """What ``ssh-keygen -lf`` prints for this key: users compare the two."""
        return fingerprint_line(self.bits, self.fingerprint, self.comment, self.kind)
