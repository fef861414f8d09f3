"""An object body being received (storage.incoming): MD5 of large buffers on the hash pool,
a buffer behind the write, and settled before anything reads it."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from nexq.storage.blobs.memory import MemoryBlobStore
from nexq.storage.errors import BadDigest
from nexq.storage.incoming import PARALLEL_HASH_BYTES, IncomingBody


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


def body(pool: ThreadPoolExecutor | None) -> IncomingBody:
    return IncomingBody(MemoryBlobStore().writer(), ["sha256"], 1 << 30, pool)


def test_digests_of_large_buffers_hashed_on_the_pool(pool: ThreadPoolExecutor) -> None:
    pieces = [bytes([n]) * (PARALLEL_HASH_BYTES + n) for n in range(4)] + [b"tail"]
    incoming = body(pool)
    for piece in pieces:
        incoming.write(piece)
    whole = b"".join(pieces)
    assert incoming.md5_hex() == hashlib.md5(whole).hexdigest()
    md5 = base64.b64encode(hashlib.md5(whole).digest()).decode()
    sha = base64.b64encode(hashlib.sha256(whole).digest()).decode()
    assert incoming.verify(md5, {"sha256": sha}) == {"SHA256": sha}
    with pytest.raises(BadDigest):
        incoming.verify(base64.b64encode(b"0" * 16).decode(), {})


def test_a_write_does_not_wait_for_its_own_buffers_md5() -> None:
    # The pool's MD5 is held back: the first write must still return (its buffer's MD5 runs
    # behind it); the second waits for the first's; the digest is whole once released.
    release = threading.Event()
    gate = ThreadPoolExecutor(1)
    gate.submit(release.wait)
    incoming = body(gate)
    big = b"m" * PARALLEL_HASH_BYTES
    try:
        first = threading.Thread(target=incoming.write, args=(big,), daemon=True)
        first.start()
        first.join(timeout=10)
        assert not first.is_alive(), "the write waited for the MD5 of its own buffer"
        second = threading.Thread(target=incoming.write, args=(big,), daemon=True)
        second.start()
        second.join(timeout=0.2)
        assert second.is_alive()  # the previous buffer's MD5 has not run yet
    finally:
        release.set()
    second.join(timeout=10)
    gate.shutdown()
    assert incoming.md5_hex() == hashlib.md5(big + big).hexdigest()
