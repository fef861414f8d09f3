"""Secrets at rest: AES-GCM for what must be recovered, argon2id for what is only verified."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_MASTER_KEY_BYTES = 32
_NONCE_BYTES = 12


class SecretBox:
    """Encrypts small secrets (S3 secret keys) with the installation's master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != _MASTER_KEY_BYTES:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(master_key)

    def seal(self, plaintext: str, context: str) -> bytes:
        """Encrypt ``plaintext``; ``context`` (e.g. the key id) is bound as associated data."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        """Decrypt what :meth:`seal` produced for the same ``context``."""
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return self._aead.decrypt(nonce, ciphertext, context.encode()).decode()


def load_master_key(data_dir: Path, from_env: str | None) -> bytes:
    """The master key: from the environment (base64) or a 0600 file made on first start."""
    if from_env:
        return base64.b64decode(from_env)
    path = data_dir / "master.key"
    try:
        return base64.b64decode(path.read_bytes())
    except FileNotFoundError:
        pass
    key = os.urandom(_MASTER_KEY_BYTES)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, base64.b64encode(key))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # Two processes starting at once must agree on one key: the first link wins.
        os.link(tmp, path)
    except FileExistsError:
        key = base64.b64decode(path.read_bytes())
    finally:
        os.unlink(tmp)
    return key


# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): memory-hard, yet a login stays
# around a tenth of a second on a small machine instead of the library default's half second.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    """The stored form of a random bearer token.

    Tokens carry ~238 random bits, so a plain SHA-256 cannot be brute-forced and, unlike a
    password hash, can be looked up by equality on every request.
    """
    return hashlib.sha256(token.encode()).hexdigest()
