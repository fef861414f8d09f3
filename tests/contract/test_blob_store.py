"""The BlobStore contract: every implementation passes these."""

from __future__ import annotations

import gc
import multiprocessing
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexq.core.crypto import SecretBox, new_key
from nexq.core.data_keys import DataKeys, MemoryDataKeys
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.memory import MemoryBlobStore
from nexq.storage.blobs.port import BlobStore
from nexq.storage.blobs.rados import RadosBlobStore, Timing, from_url, reader, writer
from nexq.storage.blobs.sealed import SealedBlobs
from tests.ceph import CephCluster

# A small stripe for the RADOS store, so that the striping tests below cross stripes with a
# few KiB (the contract holds for any stripe size; the default is 4 MiB).
STRIPE = 4096


def rados(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """A namespace of its own in the test process's Ceph cluster (tests/ceph.py)."""
    cluster: CephCluster = request.getfixturevalue("ceph")
    return cluster.blob_store(stripe=STRIPE)


def sealed(
    raw: Callable[[pytest.FixtureRequest, Path], BlobStore],
) -> Callable[[pytest.FixtureRequest, Path], BlobStore]:
    """The same store through the sealing layer every installation uses (storage.blobs.sealed)."""

    def made(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
        return SealedBlobs(raw(request, tmp_path), DataKeys(SecretBox(new_key()), MemoryDataKeys()))

    return made


RAW: dict[str, Callable[[pytest.FixtureRequest, Path], BlobStore]] = {
    "filesystem": lambda _, tmp_path: FileBlobStore(tmp_path),
    "memory": lambda _, __: MemoryBlobStore(),
    "rados": rados,
}
IMPLEMENTATIONS = {**RAW, **{f"sealed-{name}": sealed(made) for name, made in RAW.items()}}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    made = IMPLEMENTATIONS[request.param](request, tmp_path)
    yield made
    close = getattr(getattr(made, "raw", made), "close", None)
    if close is not None:
        close()


def write(store: BlobStore, data: bytes) -> str:
    writer = store.writer()
    writer.write(data[: len(data) // 2])
    writer.write(memoryview(data)[len(data) // 2 :])
    assert writer.size == len(data)
    return writer.commit()


def test_write_read_ranges(store: BlobStore) -> None:
    data = bytes(range(256)) * 100
    path = write(store, data)
    assert b"".join(store.read(path, 0, len(data), 1000)) == data
    assert b"".join(store.read(path, 300, 5000, 64)) == data[300:5300]
    assert all(len(c) <= 64 for c in store.read(path, 0, 1000, 64))


def test_an_open_blob_knows_its_size(store: BlobStore) -> None:
    path = write(store, bytes(range(256)) * 300)
    opened = store.open(path)
    assert opened.size == 76_800
    opened.close()


def test_paths_are_unique(store: BlobStore) -> None:
    assert write(store, b"a") != write(store, b"a")


def test_abort_leaves_nothing(store: BlobStore) -> None:
    writer = store.writer()
    writer.write(b"partial")
    writer.abort()
    assert store.recover(set()) == 0


def test_copy_into(store: BlobStore) -> None:
    source = write(store, b"0123456789")
    writer = store.writer()
    writer.write(b"<")
    opened = store.open(source)
    store.copy_into(writer, opened, 2, 5)
    opened.close()
    writer.write(b">")
    copied = writer.commit()
    assert b"".join(store.read(copied, 0, 7, 100)) == b"<23456>"


def test_an_open_blob_reads_whole_after_delete(store: BlobStore) -> None:
    data = bytes(range(256)) * 40
    path = write(store, data)
    opened = store.open(path)
    store.delete([path])
    assert b"".join(opened.read(0, len(data), 4096)) == data
    target = store.writer()
    store.copy_into(target, opened, 10, 100)
    copied = target.commit()
    assert b"".join(store.read(copied, 0, 100, 100)) == data[10:110]
    opened.close()
    with pytest.raises(FileNotFoundError):
        store.open(path)


def test_delete_and_recover_orphans(store: BlobStore) -> None:
    kept, orphan = write(store, b"kept"), write(store, b"orphan")
    store.writer().write(b"left in tmp")
    assert store.recover({kept}) == 2
    assert b"".join(store.read(kept, 0, 4, 10)) == b"kept"
    with pytest.raises(OSError):
        b"".join(store.read(orphan, 0, 6, 10))
    store.delete([kept, kept])
    assert store.recover(set()) == 0


def test_inventory_lists_committed_blobs(store: BlobStore) -> None:
    path = write(store, b"12345")
    store.writer().write(b"temporary")
    blobs, temporaries = store.inventory()
    assert blobs[path][0] == 5
    assert temporaries == 1


def test_short_blob_is_an_error_not_a_short_read(store: BlobStore) -> None:
    path = write(store, b"abc")
    with pytest.raises(OSError):
        b"".join(store.read(path, 0, 10, 100))


def test_a_writer_cut_off_by_recovery_cannot_commit(store: BlobStore) -> None:
    writer = store.writer()
    writer.write(b"started before a restart's recovery")
    assert store.recover(set()) == 1
    with pytest.raises(FileNotFoundError):
        writer.commit()
    assert store.inventory() == ({}, 0)


def test_an_aborted_blob_is_not_listed(store: BlobStore) -> None:
    kept = write(store, b"kept")
    writer = store.writer()
    writer.write(b"dropped")
    writer.abort()
    blobs, temporaries = store.inventory()
    assert list(blobs) == [kept] and temporaries == 0


# Striping: a blob larger than the RADOS store's stripe (4 KiB in these tests) is cut in
# several objects. Every store must read such a blob, and any range of it, byte for byte.


def test_a_blob_of_several_stripes_reads_whole(store: BlobStore) -> None:
    data = bytes(range(251)) * 100  # 25,100 bytes: 6 full stripes of 4 KiB and a partial one
    writer = store.writer()
    for start in range(0, len(data), 3000):  # writes that never line up with a stripe
        writer.write(data[start : start + 3000])
    path = writer.commit()
    assert b"".join(store.read(path, 0, len(data), 10_000)) == data
    blobs, temporaries = store.inventory()
    assert blobs[path][0] == len(data) and temporaries == 0


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (4090, 12),  # across the first stripe boundary
        (4096, 4096),  # exactly the second stripe
        (8000, 9000),  # across three stripes
        (0, 1),
        (25_099, 1),  # the last byte
        (12_288, 0),  # nothing
    ],
)
def test_a_ranged_read_across_stripes(store: BlobStore, offset: int, length: int) -> None:
    data = bytes(range(251)) * 100
    path = write(store, data)
    pieces = list(store.read(path, offset, length, 1000))
    assert b"".join(pieces) == data[offset : offset + length]
    assert all(0 < len(piece) <= 1000 for piece in pieces)


def test_a_blob_of_exactly_whole_stripes(store: BlobStore) -> None:
    data = bytes(range(256)) * 32  # 8 KiB: two full stripes, nothing after them
    path = write(store, data)
    assert b"".join(store.read(path, 0, len(data), 4096)) == data
    assert b"".join(store.read(path, 4095, 2, 4096)) == data[4095:4097]
    with pytest.raises(OSError):
        b"".join(store.read(path, 8000, 193, 4096))


def test_an_empty_blob(store: BlobStore) -> None:
    path = write(store, b"")
    assert b"".join(store.read(path, 0, 0, 100)) == b""
    assert store.inventory()[0][path][0] == 0


def test_a_striped_blob_reads_whole_after_delete(store: BlobStore) -> None:
    data = bytes(range(253)) * 400  # 101,200 bytes: more than what open() reads ahead
    path = write(store, data)
    opened = store.open(path)
    store.delete([path])
    assert b"".join(opened.read(50_000, 51_200, 7000)) == data[50_000:]
    assert b"".join(opened.read(0, len(data), 65_536)) == data
    opened.close()
    with pytest.raises(FileNotFoundError):
        store.open(path)
    assert store.inventory() == ({}, 0)


def test_an_aborted_striped_blob_leaves_nothing(store: BlobStore) -> None:
    writer = store.writer()
    writer.write(bytes(30_000))
    writer.abort()
    assert store.inventory() == ({}, 0)
    assert store.recover(set()) == 0


def test_a_striped_temporary_is_recovered(store: BlobStore) -> None:
    kept = write(store, bytes(10_000))
    writer = store.writer()
    writer.write(bytes(30_000))  # left behind, as by a node that died mid-write
    assert store.inventory()[1] == 1
    assert store.recover({kept}) == 1
    blobs, temporaries = store.inventory()
    assert list(blobs) == [kept] and temporaries == 0
    with pytest.raises(FileNotFoundError):
        writer.commit()
    assert b"".join(store.read(kept, 0, 10_000, 4096)) == bytes(10_000)


def test_copy_into_across_stripes(store: BlobStore) -> None:
    data = bytes(range(251)) * 100
    source = write(store, data)
    writer = store.writer()
    writer.write(b"<")
    opened = store.open(source)
    store.copy_into(writer, opened, 4000, 15_000)
    opened.close()
    writer.write(b">")
    copied = writer.commit()
    assert b"".join(store.read(copied, 0, 15_002, 5000)) == b"<" + data[4000:19_000] + b">"


# RADOS only: what the contract cannot see from one process (deferred removal, leases held
# by readers on other nodes, recovery beside live writers, durability, forked workers).

QUICK = Timing(lease_after=0.2, lease=3.0, renew=1.0, tick=0.1)


@pytest.fixture
def rados_store(ceph: CephCluster) -> Iterator[RadosBlobStore]:
    made = ceph.blob_store(stripe=STRIPE)
    made.timing = QUICK
    yield made
    made.close()


def objects(store: RadosBlobStore) -> set[str]:
    return set(store._connection().pool.names())


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_rados_stripes_are_objects_of_their_own(rados_store: RadosBlobStore) -> None:
    path = write(rados_store, bytes(3 * STRIPE + 10))
    assert objects(rados_store) == {path, f"{path}.1", f"{path}.2", f"{path}.3"}
    small = write(rados_store, bytes(STRIPE))  # one stripe: the head alone
    assert objects(rados_store) - {path, f"{path}.1", f"{path}.2", f"{path}.3"} == {small}


def test_rados_deleted_blob_is_removed_after_its_grace(rados_store: RadosBlobStore) -> None:
    rados_store.delete_grace = 0.5
    kept, path = write(rados_store, b"kept"), write(rados_store, bytes(3 * STRIPE))
    rados_store.delete([path])
    assert path in objects(rados_store)  # still there during the grace
    wait_for(lambda: objects(rados_store) == {kept})


def test_rados_a_reader_lease_defers_the_removal(ceph: CephCluster) -> None:
    # Two stores on one namespace: two nodes. The reader's node holds the blob open past the
    # deleting node's grace; the bytes stay until the reader closes.
    writer_node = ceph.blob_store(stripe=STRIPE)
    reader_node = RadosBlobStore("nexq", conf=str(ceph.conf), client_id="nexq",
                                 namespace=writer_node.settings.namespace)  # fmt: skip
    try:
        writer_node.timing = reader_node.timing = QUICK
        writer_node.delete_grace = 1.0
        data = bytes(range(256)) * 100
        path = write(writer_node, data)
        opened = reader_node.open(path)
        wait_for(lambda: bool(writer_node._connection().pool.leases(path)[0]))
        writer_node.delete([path])
        time.sleep(2.0)  # past the grace
        assert path in objects(writer_node)
        assert b"".join(opened.read(0, len(data), 5000)) == data
        opened.close()
        wait_for(lambda: objects(writer_node) == set())
    finally:
        writer_node.close()
        reader_node.close()


def test_rados_an_expired_lease_does_not_hold_a_blob(rados_store: RadosBlobStore) -> None:
    rados_store.delete_grace = 0.2
    path = write(rados_store, bytes(3 * STRIPE))
    pool = rados_store._connection().pool
    pool.operate(path, set_omap={"lease.dead": str(time.time() + 1).encode()})  # a dead node's
    rados_store.delete([path])
    time.sleep(0.5)
    assert path in objects(rados_store)
    wait_for(lambda: objects(rados_store) == set())


def test_rados_recover_grace_spares_other_nodes_uploads(ceph: CephCluster) -> None:
    store = ceph.blob_store(stripe=STRIPE, recover_grace=3600)
    try:
        writer = store.writer()
        writer.write(bytes(3 * STRIPE))  # another node's upload, in flight
        unreferenced = write(store, b"committed, not referenced yet")
        assert store.recover(set()) == 0
        path = writer.commit()
        assert set(store.inventory()[0]) == {path, unreferenced}
    finally:
        store.close()


def test_rados_acknowledged_blobs_survive_a_killed_cluster(ceph: CephCluster) -> None:
    store = ceph.blob_store(stripe=STRIPE)
    data = bytes(range(251)) * 100
    path = write(store, data)
    store.close()
    ceph.kill()  # SIGKILL: monitor, manager and OSD, without a chance to flush anything
    ceph.restart()
    again = RadosBlobStore("nexq", conf=str(ceph.conf), client_id="nexq",
                           namespace=store.settings.namespace)  # fmt: skip
    try:
        assert b"".join(again.read(path, 0, len(data), 10_000)) == data
    finally:
        again.close()


def _write_in_child(store: RadosBlobStore, paths: multiprocessing.SimpleQueue[str]) -> None:
    paths.put(write(store, b"from a forked worker"))


def test_rados_a_forked_worker_connects_anew(rados_store: RadosBlobStore) -> None:
    write(rados_store, b"the parent is connected")
    context = multiprocessing.get_context("fork")
    paths: multiprocessing.SimpleQueue[str] = context.SimpleQueue()
    child = context.Process(target=_write_in_child, args=(rados_store, paths))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    path = paths.get()
    assert b"".join(rados_store.read(path, 0, 20, 100)) == b"from a forked worker"


def test_rados_url(ceph: CephCluster) -> None:
    store = from_url(ceph.url("t_url") + "&timeout=5&delete_grace=30&recover_grace=60")
    try:
        assert store.settings.namespace == "t_url" and store.settings.client_id == "nexq"
        assert store.settings.timeout == 5 and store.delete_grace == 30
        assert store.recover_grace == 60
    finally:
        store.close()
    with pytest.raises(ValueError, match="unknown"):
        from_url("rados://nexq?pool=x")
    with pytest.raises(ValueError, match="rados://"):
        from_url("s3://nexq")
    with pytest.raises(FileNotFoundError):
        from_url(f"rados://no-such-pool?conf={ceph.conf}&id=nexq")


def test_rados_pieces_smaller_than_a_stripe(
    rados_store: RadosBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the first stripe, writes and reads go in pieces (a few MiB in flight, not a few
    # stripes): pieces that do not divide the stripe must still land where they belong.
    monkeypatch.setattr(writer, "WRITE_PIECE", 1000)
    monkeypatch.setattr(reader, "READ_PIECE", 1500)
    data = bytes(range(251)) * 100  # 6 full stripes of 4 KiB and a partial one
    path = write(rados_store, data)
    assert objects(rados_store) == {path, *(f"{path}.{i}" for i in range(1, 7))}
    assert b"".join(rados_store.read(path, 0, len(data), 700)) == data
    assert b"".join(rados_store.read(path, 4000, 17_000, 10_000)) == data[4000:21_000]
    aborted = rados_store.writer()
    aborted.write(bytes(3 * STRIPE + 2500))
    aborted.abort()
    assert objects(rados_store) == {path, *(f"{path}.{i}" for i in range(1, 7))}


def test_rados_a_read_is_freed_without_the_cycle_collector(rados_store: RadosBlobStore) -> None:
    # A read's buffer must go when its request is dropped: one held in a reference cycle
    # waited for the cyclic GC, and a 1 GiB GET grew the worker by hundreds of MiB.
    path = write(rados_store, bytes(3 * STRIPE))
    pool = rados_store._connection().pool
    gc.disable()
    try:
        pending = pool.aio_read(f"{path}.1", STRIPE, 0)
        pending.wait()
        assert pending.data == bytes(STRIPE)
        dropped = weakref.ref(pending)
        del pending
        assert dropped() is None
    finally:
        gc.enable()


def test_rados_stores_of_a_process_share_one_client(ceph: CephCluster) -> None:
    """A librados client (messenger, monitor session, their threads) per store cost a
    worker about ten megabytes each; stores of one user share one, and the last to close
    shuts it down."""
    first, second = ceph.blob_store(stripe=STRIPE), ceph.blob_store(stripe=STRIPE)
    try:
        assert first._connection().cluster is second._connection().cluster
        first.close()
        data = bytes(range(256)) * 10
        path = write(second, data)
        assert b"".join(second.read(path, 0, len(data), 1000)) == data
    finally:
        second.close()
    third = ceph.blob_store(stripe=STRIPE)
    try:  # a new client once the last one was shut down
        assert third._connection().cluster.state == "connected"
    finally:
        third.close()
