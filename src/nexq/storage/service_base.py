"""What ObjectStorage's use cases in other modules (bucket_settings, listings, copies,
amendments) use of it: its stores and the core use cases they build on.

Each of those modules is a mixin ObjectStorage inherits: callers keep calling
``objects.<method>`` and no method is written twice, as delegating wrappers would be. This
Protocol lets mypy check the mixins without importing service.py at run time (it imports
them); service.py defines every member declared here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from nexq.core.identity import Principal
from nexq.storage.blobs.sealed import SealedBlobs
from nexq.storage.conditions import Conditions
from nexq.storage.directory import Directory
from nexq.storage.encryption import CustomerKey, Presented
from nexq.storage.kms import KmsKeys
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import Bucket, ObjectMeta
from nexq.storage.object_lock import LockConfiguration, LockRequest
from nexq.storage.reader import OpenObject, Span

if TYPE_CHECKING:
    from nexq.storage.service import NewContent


class ObjectStorageBase(Protocol):
    """The members of ObjectStorage its mixins share (service.py has each one's docstring)."""

    _store: MetadataStore
    _blobs: SealedBlobs
    directory: Directory
    kms: KmsKeys

    def bucket(self, caller: Principal, name: str) -> Bucket: ...

    def lock_configuration(self, bucket: Bucket) -> LockConfiguration | None: ...

    def _locked(
        self, bucket: Bucket, meta: ObjectMeta, asked: LockRequest | None
    ) -> ObjectMeta: ...

    def _commit_object(
        self, meta: ObjectMeta, paths: list[str], new: NewContent, owner: str
    ) -> ObjectMeta: ...

    def head_object(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        conditions: Conditions,
        version: str | None = None,
        presented: Presented | None = None,
    ) -> ObjectMeta: ...

    def open_object(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        conditions: Conditions,
        span: Span = ...,
        version: str | None = None,
        customer: CustomerKey | None = None,
    ) -> OpenObject: ...
