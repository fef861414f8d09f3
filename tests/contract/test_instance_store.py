"""Compute's instance store on both SQL engines (SQLite, PostgreSQL): names unique among the
account's live instances, the limit counted in the write, states moved only from those
expected, and a deleted instance's name free again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from nexq.app import SCHEMAS
from nexq.compute.errors import InstanceExists
from nexq.compute.instance import Instance, Status
from nexq.compute.sql_instances import SqlInstances
from nexq.core.db import Database
from nexq.core.errors import QuotaExceeded
from nexq.core.postgres import PostgresDatabase
from tests.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlInstances]:
    if request.param == "sqlite":
        db: Database | PostgresDatabase = Database(tmp_path / "meta.db", SCHEMAS)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        db = PostgresDatabase(server.new_database(), SCHEMAS, migrate_schema=True)
    yield SqlInstances(db)
    db.close()


def instance(n: int, account: str = "acc-a", name: str | None = None) -> Instance:
    return Instance(
        id=f"vm-{account}-{n}",
        account_id=account,
        name=name or f"vm-{n}",
        image="tiny",
        size="nano",
        vcpus=1,
        memory_mib=256,
        disk_gib=1,
        ssh_key_id="key-1",
        ssh_key_name="laptop",
        public_key="ssh-ed25519 AAAA laptop",
        status=Status.PROVISIONING,
        reason="",
        ssh_port=None,
        created_at=1000.0 + n,
        updated_at=1000.0 + n,
    )


def test_names_are_unique_per_account_and_the_limit_is_held(store: SqlInstances) -> None:
    store.add(instance(1), 2)
    with pytest.raises(InstanceExists):
        store.add(instance(2, name="vm-1"), 2)
    store.add(instance(2, account="acc-b", name="vm-1"), 2)  # another account's own name
    store.add(instance(3), 2)
    with pytest.raises(QuotaExceeded, match="has 2 instances, its instances limit"):
        store.add(instance(4), 2)
    assert [i.name for i in store.of_account("acc-a")] == ["vm-1", "vm-3"]
    assert store.named("acc-a", "vm-1") == instance(1)


def test_states_move_only_from_those_expected(store: SqlInstances) -> None:
    store.add(instance(1), None)
    assert not store.set_status("vm-acc-a-1", Status.STOPPING, "", (Status.RUNNING,))
    assert store.set_status("vm-acc-a-1", Status.RUNNING, "", (Status.PROVISIONING,))
    store.set_port("vm-acc-a-1", 12022)
    found = store.get("vm-acc-a-1")
    assert found is not None and (found.status, found.ssh_port) == (Status.RUNNING, 12022)
    assert store.set_status("vm-acc-a-1", Status.ERROR, "QEMU said no")
    assert replace(store.get("vm-acc-a-1"), updated_at=0) == replace(  # type: ignore[arg-type]
        instance(1), status=Status.ERROR, reason="QEMU said no", ssh_port=12022, updated_at=0
    )


def test_a_deleted_instance_leaves_its_name_free(store: SqlInstances) -> None:
    store.add(instance(1), 1)
    store.mark_deleted("vm-acc-a-1")
    assert store.get("vm-acc-a-1") is None and store.live() == []
    store.add(instance(2, name="vm-1"), 1)  # the name and the count are free again
    assert [i.id for i in store.live()] == ["vm-acc-a-2"]
