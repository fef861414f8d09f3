"""Use cases of S3 access keys: create, list, revoke, delete (SPEC.md "Access keys")."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from nexq.core.crypto import SecretBox
from nexq.core.ids import LOWER_ALNUM, random_string
from nexq.core.quotas import NoQuotas, Quotas
from nexq.storage.errors import InvalidArgument, NoSuchAccessKey, NoSuchBucket
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import ACCESS_KEY_PREFIX, AccessKey

SECRET_LENGTH = 40
MAX_LABEL_LENGTH = 128


@dataclass(frozen=True, slots=True)
class AccessKeyView:
    """An access key as the Access Keys page lists it: bucket ids resolved to names."""

    key: AccessKey
    bucket_names: list[str] | None  # None means All Buckets


class AccessKeys:
    """Create, list, revoke and delete an account's S3 access keys."""

    # A master-key rotation re-wraps the secrets through this (core.keyring.SealedStore).
    sealed_label = "S3 access keys"

    def __init__(self, store: MetadataStore, box: SecretBox, quotas: Quotas | None = None) -> None:
        self._store = store
        self._box = box
        self._quotas: Quotas = quotas or NoQuotas()

    def create(
        self, account_id: str, label: str, bucket_names: Sequence[str] | None
    ) -> tuple[AccessKeyView, str]:
        """A new key and its secret; the secret is returned here and never again."""
        label = label.strip()
        if not label or len(label) > MAX_LABEL_LENGTH:
            raise InvalidArgument(f"Label must be 1-{MAX_LABEL_LENGTH} characters.")
        bucket_ids: frozenset[str] | None = None
        if bucket_names is not None:
            if not bucket_names:
                raise InvalidArgument("Specific Buckets needs at least one bucket.")
            ids = set()
            for name in bucket_names:
                bucket = self._store.get_bucket(name)
                if bucket is None or bucket.account_id != account_id:
                    raise NoSuchBucket(f"The bucket {name!r} does not exist in this account.")
                ids.add(bucket.id)
            bucket_ids = frozenset(ids)
        key = AccessKey(
            id=ACCESS_KEY_PREFIX + random_string(16, LOWER_ALNUM),
            account_id=account_id,
            label=label,
            status="active",
            created_at=time.time(),
            bucket_ids=bucket_ids,
        )
        secret = random_string(SECRET_LENGTH)
        limit = self._quotas.limit(account_id, "access_keys")
        self._store.add_access_key(key, self._box.seal(secret, key.id), max_keys=limit)
        names = sorted(bucket_names) if bucket_names is not None else None
        return AccessKeyView(key, names), secret

    def list(self, account_id: str) -> list[AccessKeyView]:
        """Every key of the account, oldest first, with the names of the granted buckets."""
        keys = self._store.list_access_keys(account_id)
        granted = {b for k in keys for b in k.bucket_ids or ()}
        names = self._store.bucket_names(granted)
        return [
            AccessKeyView(
                k,
                None
                if k.bucket_ids is None
                else sorted(names[b] for b in k.bucket_ids if b in names),
            )
            for k in keys
        ]

    def get(self, account_id: str, key_id: str) -> AccessKeyView:
        """One key of the account."""
        for view in self.list(account_id):
            if view.key.id == key_id:
                return view
        raise NoSuchAccessKey(f"No access key {key_id} in this account.")

    def revoke(self, account_id: str, key_id: str) -> None:
        """Disable the key at once; it stays listed as Revoked."""
        if not self._store.set_access_key_status(account_id, key_id, "revoked"):
            raise NoSuchAccessKey(f"No access key {key_id} in this account.")

    def signing_credentials(self, account_id: str) -> tuple[str, str]:
        """(key id, secret) of the account's internal key, made on first use.

        Presigned URLs handed out by the API and console (share links) are signed with it:
        it is never listed, stops working with the account's suspension, and is replaced by
        :meth:`revoke_share_links`.
        """
        found = self._store.internal_access_key(account_id)
        if found is None:
            key = AccessKey(
                id=ACCESS_KEY_PREFIX + random_string(16, LOWER_ALNUM),
                account_id=account_id,
                label="presigned URLs",
                status="active",
                created_at=time.time(),
                bucket_ids=None,
            )
            self._store.add_access_key(
                key, self._box.seal(random_string(SECRET_LENGTH), key.id), internal=True
            )
            found = self._store.internal_access_key(account_id)
            assert found is not None
        key, sealed = found
        return key.id, self._box.open(sealed, key.id)

    def revoke_share_links(self, account_id: str) -> None:
        """Every share link made so far stops working at once; new links get a new key.

        Links are not stored (a presigned URL is only a signature), so they are revoked
        together, by deleting the key that signed them.
        """
        self._store.remove_internal_access_keys(account_id)

    def sealed_page(self, after: str, limit: int) -> Sequence[tuple[str, bytes]]:
        """(key id, sealed secret) of every key after ``after``, for a master-key rotation."""
        return self._store.sealed_secrets(after, limit)

    def replace_sealed(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Store secrets re-wrapped with a new master key (unchanged in clear)."""
        return self._store.replace_sealed_secrets(changes)

    def delete(self, account_id: str, key_id: str) -> None:
        """Remove the key permanently."""
        if not self._store.remove_access_key(account_id, key_id):
            raise NoSuchAccessKey(f"No access key {key_id} in this account.")
