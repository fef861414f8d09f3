"""Compute's store of snapshots and backups on both SQL engines (SQLite, PostgreSQL): names
unique per account and kind among live copies, the limit counted in the write, states moved
only from those expected, sizes recorded, and a deleted copy's name free again (its row kept
for metering)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from nexq.app import SCHEMAS
from nexq.compute.disk_copy import CopyKind, CopyStatus, DiskCopy
from nexq.compute.errors import CopyExists
from nexq.compute.sql_disk_copies import SqlDiskCopies
from nexq.core.db import Database
from nexq.core.errors import QuotaExceeded
from nexq.core.postgres import PostgresDatabase
from tests.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDiskCopies]:
    if request.param == "sqlite":
        db: Database | PostgresDatabase = Database(tmp_path / "meta.db", SCHEMAS)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        db = PostgresDatabase(server.new_database(), SCHEMAS, migrate_schema=True)
    yield SqlDiskCopies(db, lambda: 5000.0)
    db.close()


def copy(n: int, kind: CopyKind = CopyKind.SNAPSHOT, account: str = "acc-a") -> DiskCopy:
    return DiskCopy(
        id=f"{kind.prefix}{account}-{n}",
        account_id=account,
        kind=kind,
        name=f"copy-{n}",
        instance_id="vm-1",
        instance_name="web",
        image="tiny",
        disk_gib=1,
        status=CopyStatus.CREATING,
        reason="",
        size_bytes=0,
        scheduled=kind is CopyKind.BACKUP,
        expires_at=9000.0 if kind is CopyKind.BACKUP else None,
        created_at=1000.0 + n,
        updated_at=1000.0 + n,
    )


def test_names_limits_states_and_deletion(store: SqlDiskCopies) -> None:
    store.add(copy(1), 2)
    store.add(copy(1, CopyKind.BACKUP), 2)  # the same name as a backup: another kind
    store.add(copy(1, account="acc-b"), 2)  # and in another account
    with pytest.raises(CopyExists, match="the account has a snapshot named 'copy-1'"):
        store.add(replace(copy(2), name="copy-1"), 2)
    store.add(copy(2), 2)
    with pytest.raises(QuotaExceeded, match="The account has 2 snapshots, its snapshots limit"):
        store.add(copy(3), 2)
    assert [c.id for c in store.of_account("acc-a", CopyKind.SNAPSHOT)] == [
        "snap-acc-a-1",
        "snap-acc-a-2",
    ]
    assert store.named("acc-a", CopyKind.SNAPSHOT, "snap-acc-a-2") == copy(2)  # by id too
    assert store.named("acc-b", CopyKind.SNAPSHOT, "copy-2") is None
    backup = store.get("bak-acc-a-1")
    assert backup is not None and backup.scheduled and backup.expires_at == 9000.0

    assert not store.set_status("snap-acc-a-1", CopyStatus.DELETING, "", (CopyStatus.AVAILABLE,))
    assert store.set_status("snap-acc-a-1", CopyStatus.AVAILABLE, "", (CopyStatus.CREATING,), 42)
    taken = store.get("snap-acc-a-1")
    assert taken is not None and (taken.status, taken.size_bytes, taken.updated_at) == (
        CopyStatus.AVAILABLE,
        42,
        5000.0,
    )
    store.mark_deleted("snap-acc-a-1")
    assert store.get("snap-acc-a-1") is None
    store.add(replace(copy(4), name="copy-1"), None)  # the name is free again
    # One instance's copies, whatever their kind (the store does not filter by account:
    # the use cases do).
    assert [c.id for c in store.of_instance("vm-1")] == [
        "bak-acc-a-1",
        "snap-acc-b-1",
        "snap-acc-a-2",
        "snap-acc-a-4",
    ]
