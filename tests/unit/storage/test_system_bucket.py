"""SystemBucket: other services' large files as objects of a system account's bucket, moved
in chunks, all or nothing — through ObjectStorage and Multipart on in-memory stores (and the
file blob store where memory use is measured)."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from nexq.core.crypto import SecretBox, new_key
from nexq.core.errors import QuotaExceeded
from nexq.core.identity import Account, Principal
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.memory import MemoryBlobStore, MemoryBlobWriter
from nexq.storage.blobs.port import BlobStore
from nexq.storage.conditions import Conditions
from nexq.storage.directory import S3_SCOPES, Directory
from nexq.storage.errors import BucketAlreadyExists, NoSuchKey
from nexq.storage.metadata.memory import MemoryMetadata
from nexq.storage.model import MAX_PART_NUMBER, MIN_PART_BYTES
from nexq.storage.multipart import Multipart
from nexq.storage.service import ObjectStorage
from nexq.storage.system_bucket import CHUNK, FileChanged, SystemBucket, provide_bucket
from tests.unit.storage.conftest import Storage

PART = MIN_PART_BYTES  # the smallest part S3's completion accepts before another


@pytest.fixture
def backups(storage: Storage) -> SystemBucket:
    owner = storage.caller()
    storage.bucket(owner, "backups")
    return SystemBucket(storage.objects, storage.multipart, owner, "backups", part_size=PART)


def a_file(tmp_path: Path, size: int, name: str = "disk.qcow2") -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def uploads(storage: Storage) -> list[str]:
    found, _ = storage.multipart.list_uploads(storage.caller(), "backups", "", None, 100)
    return [u.key for u in found]


def test_a_file_of_three_parts_round_trips_byte_exact(
    storage: Storage, backups: SystemBucket, tmp_path: Path
) -> None:
    source, data = a_file(tmp_path, 2 * PART + 4321)
    assert backups.put_file("vm-1/backup-1", source) == len(data)
    meta = storage.objects.head_object(storage.caller(), "backups", "vm-1/backup-1", Conditions())
    assert meta.parts_count == 3 and meta.etag.endswith("-3")
    assert backups.size("vm-1/backup-1") == len(data)
    restored = tmp_path / "restored.qcow2"
    assert backups.get_file("vm-1/backup-1", restored) == len(data)
    assert restored.read_bytes() == data
    assert uploads(storage) == []
    assert [p.name for p in tmp_path.iterdir()] == ["disk.qcow2", "restored.qcow2"]


@pytest.mark.parametrize("size", [0, 17, PART])
def test_a_file_of_one_part_or_less_is_one_put(
    storage: Storage, backups: SystemBucket, tmp_path: Path, size: int
) -> None:
    source, data = a_file(tmp_path, size)
    assert backups.put_file("small", source) == size
    meta = storage.objects.head_object(storage.caller(), "backups", "small", Conditions())
    assert meta.size == size and meta.parts_count == 0  # not a multipart object
    assert backups.get_file("small", tmp_path / "back") == size
    assert (tmp_path / "back").read_bytes() == data


def test_get_file_replaces_the_target_whole(backups: SystemBucket, tmp_path: Path) -> None:
    source, data = a_file(tmp_path, PART + 1)
    backups.put_file("k", source)
    target = tmp_path / "target"
    target.write_bytes(b"older content")
    backups.get_file("k", target)
    assert target.read_bytes() == data
    with pytest.raises(NoSuchKey):
        backups.get_file("missing", target)
    assert target.read_bytes() == data  # a failed read leaves what was there, and no leftover
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk.qcow2", "target"]


def test_a_refused_part_aborts_the_upload_and_keeps_the_object_it_would_replace(
    storage: Storage, backups: SystemBucket, tmp_path: Path
) -> None:
    earlier, kept = a_file(tmp_path, 10, "earlier")
    backups.put_file("vm-1/latest", earlier)
    # Room for the first part, not for the second: storing part 2 raises.
    storage.limits.values["storage_bytes"] = 10 + PART + PART // 2
    source, _ = a_file(tmp_path, 2 * PART + 1)
    with pytest.raises(QuotaExceeded):
        backups.put_file("vm-1/latest", source)
    assert uploads(storage) == []
    assert backups.size("vm-1/latest") == 10
    backups.get_file("vm-1/latest", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == kept
    assert storage.stray_blobs() == set()  # no temporaries, no blob outside the metadata
    assert len(storage.store.garbage(10)) == 1  # part 1's blob, left to the janitor


def test_delete_then_size_is_none(backups: SystemBucket, tmp_path: Path) -> None:
    source, _ = a_file(tmp_path, PART + 5)
    backups.put_file("vm-1/backup-1", source)
    backups.delete("vm-1/backup-1")
    assert backups.size("vm-1/backup-1") is None
    backups.delete("vm-1/backup-1")  # a missing key is fine
    backups.delete("never-there")
    assert backups.size("never-there") is None


def test_part_size_follows_s3_rules(storage: Storage) -> None:
    owner = storage.caller()
    with pytest.raises(ValueError, match="part_size must be between"):
        SystemBucket(storage.objects, storage.multipart, owner, "b", part_size=PART - 1)
    with pytest.raises(ValueError, match="chunk must be between"):
        SystemBucket(storage.objects, storage.multipart, owner, "b", chunk=0)


def test_a_file_needing_too_many_parts_is_refused_before_any_upload(
    storage: Storage, backups: SystemBucket, tmp_path: Path
) -> None:
    huge = tmp_path / "huge"
    with huge.open("wb") as sparse:  # sparse: nothing is written but its size
        sparse.truncate(MAX_PART_NUMBER * PART + 1)
    with pytest.raises(ValueError, match="use a larger part_size"):
        backups.put_file("huge", huge)
    assert uploads(storage) == []
    assert storage.stray_blobs() == set()


# A blob store that records what each writer is handed and can act when a part is stored ---
class WatchedWriter(MemoryBlobWriter):
    def __init__(self, store: WatchedBlobs) -> None:
        super().__init__(store)
        self._watched = store

    def write(self, data: bytes | memoryview) -> None:
        self._watched.writes.append(len(data))
        super().write(data)

    def commit(self) -> str:
        path = super().commit()
        if self._watched.after_commit is not None:
            self._watched.after_commit()
        return path


class WatchedBlobs(MemoryBlobStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []
        self.after_commit: Callable[[], None] | None = None

    def writer(self) -> WatchedWriter:
        return WatchedWriter(self)


def system_bucket(blobs: BlobStore) -> tuple[SystemBucket, MemoryMetadata, Multipart]:
    """A system account's bucket on ``blobs`` (handed bare: nothing sealed, so its writers
    get exactly what the bodies are fed), with its metadata and multipart use cases."""
    account = Account("acc-system", "compute-backups@nexq.local", "operator", "active", 0.0)
    store = MemoryMetadata(lambda i: account if i == account.id else None)
    objects = ObjectStorage(store, blobs, Directory(store, SecretBox(new_key())))
    multipart = Multipart(store, objects)
    owner = Principal(account, S3_SCOPES)
    objects.create_bucket(owner, "backups")
    return SystemBucket(objects, multipart, owner, "backups", part_size=PART), store, multipart


def test_put_file_feeds_each_part_a_chunk_at_a_time(tmp_path: Path) -> None:
    blobs = WatchedBlobs()
    backups, _, _ = system_bucket(blobs)
    source, _ = a_file(tmp_path, 2 * PART + 4321)
    backups.put_file("k", source)
    assert max(blobs.writes) == CHUNK < PART
    assert sum(blobs.writes) == 2 * PART + 4321
    assert len(blobs.writes) == 2 * (PART // CHUNK) + 1


def shrink(path: Path) -> None:
    os.truncate(path, PART + 10)


def grow(path: Path) -> None:
    with path.open("ab") as appended:
        appended.write(b"x")


@pytest.mark.parametrize(("change", "message"), [(shrink, "shrank"), (grow, "grew")])
def test_a_file_changed_during_the_upload_leaves_nothing_behind(
    tmp_path: Path, change: Callable[[Path], None], message: str
) -> None:
    blobs = WatchedBlobs()
    backups, store, multipart = system_bucket(blobs)
    source, _ = a_file(tmp_path, 2 * PART + 4321)
    blobs.after_commit = lambda: change(source)  # once part 1 is stored
    with pytest.raises(FileChanged, match=message):
        backups.put_file("k", source)
    assert backups.size("k") is None
    found, _ = multipart.list_uploads(backups.owner, "backups", "", None, 10)
    assert found == []
    stored, temporaries = blobs.inventory()
    assert temporaries == 0  # the part being fed was aborted
    assert set(stored) <= set(store.garbage(10))  # what was stored is the janitor's


def test_memory_stays_far_below_a_part_whatever_the_file_size(tmp_path: Path) -> None:
    backups, _, _ = system_bucket(FileBlobStore(tmp_path / "data"))
    source, data = a_file(tmp_path, 2 * PART + 4321)
    del data
    tracemalloc.start()
    try:
        assert backups.put_file("k", source) == 2 * PART + 4321
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        backups.get_file("k", tmp_path / "back")
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert put_peak < PART // 2, put_peak
    assert get_peak < PART // 2, get_peak
    assert (tmp_path / "back").read_bytes() == source.read_bytes()


def test_provide_bucket_makes_it_once_and_refuses_a_name_taken_by_another(
    storage: Storage,
) -> None:
    system = storage.caller("acc-a")
    name = provide_bucket(storage.objects, system, "compute-backups")
    assert name == "nexq-compute-backups-acc-a"
    assert provide_bucket(storage.objects, system, "compute-backups") == name  # found again
    assert [b.name for b in storage.objects.list_buckets(system)] == [name]
    storage.bucket(storage.caller("acc-b"), "nexq-db-backups-acc-a")
    with pytest.raises(BucketAlreadyExists, match="belongs to another account"):
        provide_bucket(storage.objects, system, "db-backups")
