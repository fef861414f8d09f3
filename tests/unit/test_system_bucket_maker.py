"""SystemBucketMaker: a service's system account and bucket, made the first time they are
needed, on the application as ``nexq serve`` builds it; found again, not made twice."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nexq.app import Nexq, SystemBucketMaker, build
from nexq.settings import Settings
from nexq.storage.system_bucket import SystemBucket

EMAIL = "compute-backups@nexq.local"


@pytest.fixture
def nexq(tmp_path: Path) -> Iterator[Nexq]:
    built = build(Settings(data_dir=tmp_path / "data"))
    try:
        yield built
    finally:
        built.close()


def made(nexq: Nexq) -> SystemBucket:
    maker = SystemBucketMaker(EMAIL, "compute-backups")
    maker.wire(nexq)
    return maker()


def test_the_account_and_its_bucket_are_made_once(nexq: Nexq, tmp_path: Path) -> None:
    assert nexq.accounts.find(EMAIL) is None  # nothing before it is needed
    maker = SystemBucketMaker(EMAIL, "compute-backups")
    maker.wire(nexq)
    with ThreadPoolExecutor(4) as pool:  # first needed by several backups at once
        found = list(pool.map(lambda _: maker(), range(4)))
    assert all(f is found[0] for f in found)
    backups = found[0]
    account = nexq.accounts.get(EMAIL)
    assert backups.owner.account == account and account.role == "operator"
    assert backups.bucket.startswith("nexq-compute-backups-")
    assert [b.name for b in nexq.objects.list_buckets(backups.owner)] == [backups.bucket]

    source = tmp_path / "disk.qcow2"
    source.write_bytes(b"qcow2" * 1000)
    assert backups.put_file("vm-1/1", source) == 5000

    again = made(nexq)  # another process (or node) of the same installation
    assert again.bucket == backups.bucket and again.owner.account == account
    assert again.size("vm-1/1") == 5000


def test_each_service_has_its_own_account_and_bucket(nexq: Nexq) -> None:
    compute = made(nexq)
    other = SystemBucketMaker("registry-exports@nexq.local", "registry-exports")
    other.wire(nexq)
    exports = other()
    assert exports.owner.account.id != compute.owner.account.id
    assert exports.bucket != compute.bucket
