"""Object Storage's use cases on the in-memory stores: no database, no data dir, no server."""

from __future__ import annotations

import base64
import hashlib
import itertools
from dataclasses import dataclass

import pytest

from nexq.core.crypto import SecretBox, new_key
from nexq.core.data_keys import DataKeys, MemoryDataKeys
from nexq.core.identity import Account, Principal
from nexq.storage.access_keys import AccessKeys
from nexq.storage.blobs.inline import INLINE_MAX, InlineBlobs
from nexq.storage.blobs.memory import MemoryBlobStore
from nexq.storage.blobs.sealed import SealedBlobs
from nexq.storage.conditions import Conditions
from nexq.storage.directory import S3_SCOPES, Directory
from nexq.storage.metadata.memory import MemoryMetadata
from nexq.storage.model import Bucket, ObjectMeta
from nexq.storage.multipart import Multipart
from nexq.storage.service import NewContent, ObjectStorage
from tests.unit.quotas import TierLimits

_ids = itertools.count()


@dataclass
class Storage:
    """The Object Storage service of one installation, wired as app.py wires it."""

    accounts: dict[str, Account]  # what the accounts service would answer, by id
    store: MemoryMetadata
    blobs: InlineBlobs
    limits: TierLimits
    box: SecretBox
    objects: ObjectStorage
    multipart: Multipart
    access_keys: AccessKeys

    def caller(self, account_id: str = "acc-a", buckets: set[str] | None = None) -> Principal:
        """An access key's caller of ``account_id``: All Buckets, or the buckets (by id)."""
        grants = None if buckets is None else frozenset(buckets)
        return Principal(self.accounts[account_id], S3_SCOPES, reaches=grants)

    def next_request(self) -> None:
        """What every request does first: drop cached keys and buckets if they changed."""
        self.objects.directory.refresh()

    def bucket(self, caller: Principal, name: str) -> Bucket:
        return self.objects.create_bucket(caller, name)

    def put(
        self,
        caller: Principal,
        bucket: str,
        key: str,
        data: bytes,
        content: NewContent | None = None,
    ) -> ObjectMeta:
        body = self.objects.receive()
        body.write(data)
        return self.objects.put_object(caller, bucket, key, body, content or NewContent({}, {}))

    def read(self, caller: Principal, bucket: str, key: str) -> bytes:
        return b"".join(self.objects.open_object(caller, bucket, key, Conditions()).chunks())

    def stray_blobs(self) -> set[str]:
        """Blobs (and temporaries) that no metadata names: a refused write left them."""
        blobs, temporaries = self.blobs.inventory()
        stray = set(blobs) - self.store.referenced_paths()
        return stray | {f"{temporaries} temporaries"} if temporaries else stray


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.fixture
def storage(request: pytest.FixtureRequest) -> Storage:
    accounts = {
        a: Account(a, f"{a}@example.com", "customer", "active", 0.0) for a in ("acc-a", "acc-b")
    }
    emails = {a.email: a for a in accounts.values()}
    store = MemoryMetadata(accounts.get, by_email=lambda email: emails.get(email.lower()))
    # As app.py composes them (small blobs inline), unless the test is about blob files.
    files = request.node.get_closest_marker("blob_files") is not None
    blobs = InlineBlobs(MemoryBlobStore(), 0 if files else INLINE_MAX)
    limits = TierLimits()
    box = SecretBox(new_key())
    sealed = SealedBlobs(blobs, DataKeys(box, MemoryDataKeys()))  # as app.py seals them
    objects = ObjectStorage(store, sealed, Directory(store, box), None, limits)
    return Storage(
        accounts,
        store,
        blobs,
        limits,
        box,
        objects,
        Multipart(store, objects),
        AccessKeys(store, box, limits),
    )
