"""SSE-C through ObjectStorage and Multipart on the in-memory stores: S3's key rules, the key
never kept, copies that change the encryption, and what is in the blob store."""

from __future__ import annotations

import base64
import hashlib

import pytest

from nexq.core.identity import Principal
from nexq.storage.conditions import Conditions
from nexq.storage.encryption import (
    CUSTOMER_ALGORITHM,
    CustomerKey,
    CustomerKeyRequired,
    EncryptionNotApplicable,
    PartKeyMismatch,
    PartKeyRequired,
    Presented,
    WrongCustomerKey,
)
from nexq.storage.model import MIN_PART_BYTES
from nexq.storage.multipart import CompletedPart
from nexq.storage.service import NewContent
from tests.unit.storage.conftest import Storage


def customer(seed: int) -> CustomerKey:
    key = bytes((seed + i) % 256 for i in range(32))
    return CustomerKey(key, base64.b64encode(hashlib.md5(key).digest()).decode())


KEY, OTHER = customer(1), customer(2)


@pytest.fixture
def owner(storage: Storage) -> Principal:
    caller = storage.caller()
    storage.bucket(caller, "sse")
    return caller


def put(storage: Storage, caller: Principal, key: str, data: bytes, sse: CustomerKey | None):
    body = storage.objects.receive(customer=sse)
    body.write(data)
    return storage.objects.put_object(caller, "sse", key, body, NewContent({}, {}))


def read(storage: Storage, caller: Principal, key: str, sse: CustomerKey | None) -> bytes:
    opened = storage.objects.open_object(caller, "sse", key, Conditions(), customer=sse)
    return b"".join(opened.chunks())


def test_an_sse_c_object_opens_with_its_key_only(storage: Storage, owner: Principal) -> None:
    meta = put(storage, owner, "c", b"the customer's bytes", KEY)
    assert meta.headers[CUSTOMER_ALGORITHM] == "AES256"
    assert base64.b64encode(KEY.key).decode() not in repr(meta) and KEY.key.hex() not in repr(meta)
    assert repr(KEY.key) not in repr(KEY)  # never in a log line either
    assert meta.etag != hashlib.md5(b"the customer's bytes").hexdigest()
    assert read(storage, owner, "c", KEY) == b"the customer's bytes"
    with pytest.raises(CustomerKeyRequired):
        read(storage, owner, "c", None)
    with pytest.raises(WrongCustomerKey):
        read(storage, owner, "c", OTHER)
    head = storage.objects.head_object
    with pytest.raises(CustomerKeyRequired):
        head(owner, "sse", "c", Conditions(), None, Presented())
    assert head(owner, "sse", "c", Conditions()).size == 20  # metadata uses need no key
    put(storage, owner, "plain", b"plain", None)
    with pytest.raises(EncryptionNotApplicable):
        read(storage, owner, "plain", KEY)
    # Nothing of the plaintext is in the blob store.
    stored = storage.blobs.open(meta.segments[0].path)
    assert b"customer" not in b"".join(stored.read(0, stored.size, stored.size))


def test_copies_change_the_encryption(storage: Storage, owner: Principal) -> None:
    put(storage, owner, "c", b"x" * 100_000, KEY)
    copy = storage.objects.copy_object
    same = NewContent({}, {})
    plain, _ = copy(
        owner, ("sse", "c", None), ("sse", "p"), Conditions(), None, same, source_key=KEY
    )
    assert CUSTOMER_ALGORITHM not in plain.headers
    assert plain.etag == hashlib.md5(b"x" * 100_000).hexdigest()
    assert read(storage, owner, "p", None) == b"x" * 100_000
    copy(owner, ("sse", "c", None), ("sse", "c"), Conditions(), None, same, None, KEY, OTHER)
    assert read(storage, owner, "c", OTHER) == b"x" * 100_000
    with pytest.raises(CustomerKeyRequired):
        copy(owner, ("sse", "c", None), ("sse", "d"), Conditions(), None, same)


def test_every_part_needs_the_uploads_key(storage: Storage, owner: Principal) -> None:
    upload = storage.multipart.create(owner, "sse", "mp", {}, {}, None, None, customer=KEY)
    with pytest.raises(PartKeyRequired):
        storage.multipart.receive_part(upload, (), None)
    with pytest.raises(PartKeyMismatch):
        storage.multipart.receive_part(upload, (), OTHER)
    parts = []
    for number, data in ((1, b"a" * MIN_PART_BYTES), (2, b"tail")):
        body = storage.multipart.receive_part(upload, (), KEY)
        body.write(data)
        part = storage.multipart.upload_part(owner, "sse", "mp", upload.id, number, body, None, {})
        parts.append(CompletedPart(number, part.etag, {}))
    meta = storage.multipart.complete(owner, "sse", "mp", upload.id, parts, NewContent({}, {}))
    assert meta.headers[CUSTOMER_ALGORITHM] == "AES256"
    assert read(storage, owner, "mp", KEY) == b"a" * MIN_PART_BYTES + b"tail"
    plain = storage.multipart.create(owner, "sse", "p", {}, {}, None, None)
    with pytest.raises(EncryptionNotApplicable):
        storage.multipart.receive_part(plain, (), KEY)
