"""Secrets at rest: AES-GCM for what must be recovered, argon2id for what is only verified."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_MASTER_KEY_BYTES = 32
_NONCE_BYTES = 12
# Sealed values carry the id of the key that sealed them, so that several keys can be in use
# while a rotation re-wraps them. Values sealed before key ids existed have no header.
_MAGIC = b"nqk1"
_KEY_ID_BYTES = 8
_HEADER_BYTES = len(_MAGIC) + _KEY_ID_BYTES
LEGACY = "none"  # what :meth:`SecretBox.key_id_of` names a value sealed before key ids


def key_id(key: bytes) -> str:
    """A master key's public name: 16 hex digits of a hash of it, which reveal nothing of it."""
    return hashlib.sha256(b"nexq master key id\0" + key).hexdigest()[: _KEY_ID_BYTES * 2]


@dataclass(frozen=True, slots=True)
class Keyring:
    """The master keys: the current one seals, every one opens."""

    current: bytes
    previous: tuple[bytes, ...] = ()  # accepted until every secret is re-wrapped

    def __post_init__(self) -> None:
        if any(len(k) != _MASTER_KEY_BYTES for k in (self.current, *self.previous)):
            raise ValueError("a master key must be 32 bytes")

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    @property
    def previous_ids(self) -> list[str]:
        return [key_id(k) for k in self.previous]


class KeySource(Protocol):
    """Where a process reads its keyring again when it meets a key it does not know."""

    def load(self) -> Keyring: ...

    def changed(self) -> bool:
        """Whether :meth:`load` would now answer something else (cheap: called per seal)."""
        ...


class UnknownMasterKey(ValueError):
    """A value sealed with a master key that is not in the keyring."""


@dataclass(frozen=True, slots=True)
class _Ciphers:
    current: bytes  # the id, as the header carries it
    by_id: dict[bytes, AESGCM]


class SecretBox:
    """Encrypts small secrets (S3 secret keys) with the installation's master keys."""

    def __init__(self, keys: bytes | Keyring, source: KeySource | None = None) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._keyring = keys if isinstance(keys, Keyring) else Keyring(keys)
        self._ciphers = _ciphers_of(self._keyring)

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    @property
    def source(self) -> KeySource | None:
        return self._source

    def use(self, keyring: Keyring) -> None:
        """Seal with ``keyring``'s current key from now on, and open with any of its keys."""
        with self._lock:
            self._keyring, self._ciphers = keyring, _ciphers_of(keyring)

    def reload(self) -> None:
        """Read the keyring again from its source (another process rotated it)."""
        if self._source is not None:
            self.use(self._source.load())

    def seal(self, plaintext: str, context: str) -> bytes:
        """Encrypt ``plaintext``; ``context`` (e.g. the key id) is bound as associated data."""
        if self._source is not None and self._source.changed():
            self.reload()  # a rotation began: new secrets must not use the retiring key
        ciphers = self._ciphers
        nonce = os.urandom(_NONCE_BYTES)
        body = ciphers.by_id[ciphers.current].encrypt(nonce, plaintext.encode(), context.encode())
        return _MAGIC + ciphers.current + nonce + body

    def open(self, sealed: bytes, context: str) -> str:
        """Decrypt what :meth:`seal` produced for the same ``context``, with whichever key
        sealed it; :class:`UnknownMasterKey` if that key is not in the keyring."""
        unknown = None
        if _has_header(sealed):
            kid = sealed[len(_MAGIC) : _HEADER_BYTES]
            aead = self._cipher(kid)
            if aead is None:
                unknown = kid
            else:
                try:
                    return _decrypt(aead, sealed[_HEADER_BYTES:], context)
                except InvalidTag:
                    pass  # perhaps a value from before key ids whose nonce begins so
        for aead in self._ciphers.by_id.values():
            try:
                return _decrypt(aead, sealed, context)
            except InvalidTag:
                continue
        if unknown is not None:
            raise UnknownMasterKey(
                f"a secret is sealed with master key {unknown.hex()}, which is not in the keyring"
            )
        raise InvalidTag()

    def key_id_of(self, sealed: bytes) -> str:
        """The id of the key that sealed ``sealed`` (:data:`LEGACY` if sealed before ids)."""
        return sealed[len(_MAGIC) : _HEADER_BYTES].hex() if _has_header(sealed) else LEGACY

    def rewrap(self, sealed: bytes, context: str) -> bytes | None:
        """``sealed`` sealed again with the current key; None if it already is."""
        ciphers = self._ciphers
        if _has_header(sealed) and sealed[len(_MAGIC) : _HEADER_BYTES] == ciphers.current:
            try:
                _decrypt(ciphers.by_id[ciphers.current], sealed[_HEADER_BYTES:], context)
                return None
            except InvalidTag:
                pass
        return self.seal(self.open(sealed, context), context)

    def _cipher(self, kid: bytes) -> AESGCM | None:
        aead = self._ciphers.by_id.get(kid)
        if aead is None and self._source is not None:
            # Sealed by a process that already rotated: its keyring has the new key.
            self.reload()
            aead = self._ciphers.by_id.get(kid)
        return aead


def _ciphers_of(keyring: Keyring) -> _Ciphers:
    keys = (keyring.current, *keyring.previous)
    by_id = {bytes.fromhex(key_id(k)): AESGCM(k) for k in keys}
    return _Ciphers(bytes.fromhex(keyring.current_id), by_id)


def _has_header(sealed: bytes) -> bool:
    return sealed.startswith(_MAGIC) and len(sealed) > _HEADER_BYTES + _NONCE_BYTES


def _decrypt(aead: AESGCM, sealed: bytes, context: str) -> str:
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    return aead.decrypt(nonce, ciphertext, context.encode()).decode()


def decode_key(text: str) -> bytes:
    """A master key from its base64 text; :class:`ValueError` if it is not 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a master key is the base64 of 32 random bytes") from None
    if len(key) != _MASTER_KEY_BYTES:
        raise ValueError("a master key is the base64 of 32 random bytes")
    return key


def new_key() -> bytes:
    """32 random bytes for a new master key."""
    return os.urandom(_MASTER_KEY_BYTES)


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
