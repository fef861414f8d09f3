"""KMS keys that Nexq keeps for each account, and what SSE-KMS objects are sealed with.

A key is 32 random bytes of material, sealed with the master key in the ``kms_keys`` table
(``storage.kms_store``) and never stored or logged in clear; a master-key rotation re-wraps
the rows (:class:`KmsKeys` is a ``core.keyring.SealedStore``). An SSE-KMS object's data
key is wrapped by that material (``storage.blobs.sealed``, the keyed path SSE-C uses), so
holding the master key is not enough to read it: the key must be found, and enabled.

Keys are named as S3 names them: by id (a UUID), ARN
(``arn:aws:kms:<region>:<account id>:key/<id>``), alias (``alias/<name>``) or alias ARN.
Each account gets AWS's default key, alias ``aws/s3``, the first time it is needed (an
``aws:kms`` write that names no key). A disabled key refuses new objects and makes the
objects sealed under it unreadable until it is enabled again.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from nexq.core.crypto import SecretBox
from nexq.core.errors import Conflict, Invalid, NotFound
from nexq.core.identity import Principal
from nexq.storage.encryption import KmsSealing
from nexq.storage.errors import AccessDenied
from nexq.storage.kms_store import DISABLED, ENABLED, AliasTaken, KeyRecord, KmsKeyStore

KEY_BYTES = 32
DEFAULT_ALIAS = "alias/aws/s3"
DEFAULT_DESCRIPTION = "Default key that protects my S3 objects when no other key is defined"
MAX_KEYS = 100  # per account: S3 keeps few keys, and the list is then one page
MAX_DESCRIPTION = 8192  # AWS's limit
_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ARN = re.compile(r"^arn:aws:kms:([a-z0-9-]*):([A-Za-z0-9_-]+):(key/.+|alias/.+)$")


class KmsKeyNotFound(NotFound):
    """The KMS key named does not exist (S3: KMS.NotFoundException)."""


class KmsKeyDisabled(Conflict):
    """The KMS key is disabled (S3: KMS.DisabledException)."""


class KmsAccessDenied(AccessDenied):
    """A KMS key of another account."""


class InvalidKmsKey(Invalid):
    """A key's alias or description breaks AWS's rules."""


@dataclass(frozen=True, slots=True)
class KmsKey:
    """A KMS key as its account sees it (never its material)."""

    id: str
    arn: str
    account_id: str
    alias: str | None
    description: str
    state: str
    managed: bool
    created_at: float

    @property
    def enabled(self) -> bool:
        return self.state == ENABLED


class KmsKeys:
    """The KMS keys of every account: their life cycle (REST, console, ``dcp``), and the
    material SSE-KMS objects are sealed with (S3)."""

    sealed_label = "KMS keys"  # as `nexq admin master-key status` lists them

    def __init__(self, store: KmsKeyStore, box: SecretBox, region: str) -> None:
        self._store = store
        self._box = box
        self._region = region
        self._lock = threading.Lock()
        # Opened material by (id, sealed value): a rotation's new value is opened again.
        self._opened: dict[tuple[str, bytes], bytes] = {}

    # life cycle -------------------------------------------------------------------------
    def create(self, caller: Principal, alias: str | None, description: str = "") -> KmsKey:
        """A new key of the caller's account, enabled."""
        account_id = caller.account.id
        if alias is not None:
            _check_alias(alias)
        if len(description) > MAX_DESCRIPTION:
            raise InvalidKmsKey(f"A description is at most {MAX_DESCRIPTION} characters.")
        if len(self._store.keys(account_id)) >= MAX_KEYS:
            raise Conflict(f"An account holds at most {MAX_KEYS} KMS keys.")
        record = self._new(account_id, alias, description, managed=False)
        try:
            self._store.add_key(record)
        except AliasTaken:
            raise Conflict(f"An alias with the name {alias} already exists.") from None
        return self._view(record)

    def list(self, caller: Principal) -> list[KmsKey]:
        """Every key of the caller's account, oldest first."""
        return [self._view(r) for r in self._store.keys(caller.account.id)]

    def get(self, caller: Principal, key_id: str) -> KmsKey:
        """The caller's key named ``key_id`` (another account's is "not found")."""
        return self._view(self._owned(caller, key_id))

    def disable(self, caller: Principal, key_id: str) -> KmsKey:
        """Stop the key: no new object is sealed under it, none sealed under it is read."""
        record = self._owned(caller, key_id)
        if record.managed:
            raise Conflict(f"{DEFAULT_ALIAS} is an AWS managed key: it cannot be disabled.")
        self._store.set_state(record.id, DISABLED)
        return self._view(self._require(record.id))

    def enable(self, caller: Principal, key_id: str) -> KmsKey:
        record = self._owned(caller, key_id)
        self._store.set_state(record.id, ENABLED)
        return self._view(self._require(record.id))

    def find(self, account_id: str, key_id: str | None) -> KmsKey:
        """The key ``key_id`` names for ``account_id`` (None: its ``aws/s3`` key), whatever
        its state: KmsKeyNotFound, or KmsAccessDenied for another account's ARN."""
        return self._view(self._resolve(account_id, key_id))

    # S3 ---------------------------------------------------------------------------------
    def for_write(self, account_id: str, key_id: str | None, bucket_key: bool) -> KmsSealing:
        """What a new object of ``account_id``'s bucket is sealed under."""
        record = self._resolve(account_id, key_id)
        self._check_enabled(record)
        return KmsSealing(self._arn(record), self._material(record), bucket_key)

    def for_read(self, arn: str) -> KmsSealing:
        """What an object recorded as sealed under ``arn`` is opened with. Whoever may read
        the object may use its key: the bucket's rules decided who reads it."""
        parsed = _ARN.match(arn)
        key_id = parsed.group(3).removeprefix("key/") if parsed else ""
        record = self._store.key(key_id)
        if record is None:
            raise KmsKeyNotFound(f"Key '{arn}' does not exist")
        self._check_enabled(record)
        return KmsSealing(arn, self._material(record))

    # core.keyring.SealedStore: a master-key rotation re-wraps these rows ------------------
    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        return [(_context(kid), s) for kid, s in self._store.sealed_page(_id(after), limit)]

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        return self._store.replace_sealed([(_id(ctx), old, new) for ctx, old, new in changes])

    # ------------------------------------------------------------------------------------
    def _owned(self, caller: Principal, key_id: str) -> KeyRecord:
        try:
            return self._resolve(caller.account.id, key_id)
        except KmsAccessDenied:
            raise KmsKeyNotFound(f"No KMS key {key_id!r} in this account.") from None

    def _resolve(self, account_id: str, key_id: str | None) -> KeyRecord:
        if key_id is None or key_id.strip() in (DEFAULT_ALIAS, self._alias_arn(account_id)):
            return self._default(account_id)
        given = key_id.strip()
        name = given
        parsed = _ARN.match(given)
        if parsed is not None:
            region, owner, name = parsed.groups()
            if owner != account_id:
                raise KmsAccessDenied(
                    f"Access Denied: the KMS key {given} belongs to another account"
                )
            if region != self._region:
                raise KmsKeyNotFound(f"Key '{given}' does not exist")
        if name.startswith("alias/"):
            record = self._store.key_by_alias(account_id, name)
            if record is None:
                raise KmsKeyNotFound(f"Alias '{self._alias_arn(account_id, name)}' is not found.")
            return record
        key = name.removeprefix("key/") if parsed is not None else name
        if re.fullmatch(_UUID, key) is None:
            raise KmsKeyNotFound(f"Invalid keyId '{given}'")
        found = self._store.key(key)
        if found is None or found.account_id != account_id:
            raise KmsKeyNotFound(f"Key '{self._key_arn(account_id, key)}' does not exist")
        return found

    def _default(self, account_id: str) -> KeyRecord:
        found = self._store.key_by_alias(account_id, DEFAULT_ALIAS)
        if found is not None:
            return found
        # Another process may make it first: the one stored is the account's.
        with contextlib.suppress(AliasTaken):
            self._store.add_key(self._new(account_id, DEFAULT_ALIAS, DEFAULT_DESCRIPTION, True))
        return self._store_alias(account_id, DEFAULT_ALIAS)

    def _store_alias(self, account_id: str, alias: str) -> KeyRecord:
        found = self._store.key_by_alias(account_id, alias)
        if found is None:
            raise KmsKeyNotFound(f"Alias '{self._alias_arn(account_id, alias)}' is not found.")
        return found

    def _require(self, key_id: str) -> KeyRecord:
        found = self._store.key(key_id)
        if found is None:
            raise KmsKeyNotFound(f"No KMS key {key_id!r} in this account.")
        return found

    def _check_enabled(self, record: KeyRecord) -> None:
        if record.state != ENABLED:
            raise KmsKeyDisabled(f"{self._arn(record)} is disabled.")

    def _new(
        self, account_id: str, alias: str | None, description: str, managed: bool
    ) -> KeyRecord:
        key_id = str(uuid.uuid4())
        material = base64.b64encode(os.urandom(KEY_BYTES)).decode()
        sealed = self._box.seal(material, _context(key_id))
        return KeyRecord(
            key_id, account_id, alias, description, ENABLED, managed, time.time(), sealed
        )

    def _material(self, record: KeyRecord) -> bytes:
        slot = (record.id, record.sealed)
        found = self._opened.get(slot)
        if found is None:
            found = base64.b64decode(self._box.open(record.sealed, _context(record.id)))
            with self._lock:
                self._opened = {k: v for k, v in self._opened.items() if k[0] != record.id}
                self._opened[slot] = found
        return found

    def _view(self, record: KeyRecord) -> KmsKey:
        return KmsKey(
            record.id,
            self._arn(record),
            record.account_id,
            record.alias,
            record.description,
            record.state,
            record.managed,
            record.created_at,
        )

    def _arn(self, record: KeyRecord) -> str:
        return self._key_arn(record.account_id, record.id)

    def _key_arn(self, account_id: str, key_id: str) -> str:
        return f"arn:aws:kms:{self._region}:{account_id}:key/{key_id}"

    def _alias_arn(self, account_id: str, alias: str = DEFAULT_ALIAS) -> str:
        return f"arn:aws:kms:{self._region}:{account_id}:{alias}"


def _check_alias(alias: str) -> None:
    if _ALIAS.match(alias) is None:
        raise InvalidKmsKey(
            f"An alias is alias/ then 1 to 250 letters, digits, '/', '_' or '-' (got {alias!r})."
        )
    if alias.startswith("alias/aws/"):
        raise InvalidKmsKey("Aliases that begin with alias/aws/ are reserved for AWS managed keys.")


_PREFIX = "kms key "


def _context(key_id: str) -> str:
    """What a key's material is sealed for (bound as associated data: a row cannot pass for
    another)."""
    return _PREFIX + key_id


def _id(context: str) -> str:
    return context.removeprefix(_PREFIX)
