"""The Databases service's store on both SQL engines (SQLite, PostgreSQL): names per
account, the databases limit inside the insert, states and the metering clock, secrets
sealed; and the meter's arithmetic over the rows (instance-hours split by hour, times the
nodes, until deletion)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from nexq.app import SCHEMAS
from nexq.core.db import Database
from nexq.core.errors import QuotaExceeded
from nexq.core.postgres import PostgresDatabase
from nexq.core.sql import Database as SqlDatabase
from nexq.databases.errors import DatabaseExists
from nexq.databases.metering import DatabaseMeter
from nexq.databases.model import Database as Instance
from nexq.databases.model import Status
from nexq.databases.store import SqlDatabases
from tests.postgres import PostgresServer

HOUR = 3600
T0 = 1_800_000_000.0 - (1_800_000_000 % HOUR)  # a whole hour


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase]:
    made: SqlDatabase
    if request.param == "sqlite":
        made = Database(tmp_path / "meta.db", SCHEMAS)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        made = PostgresDatabase(server.new_database(), SCHEMAS, migrate_schema=True)
    yield made
    made.close()


def instance(name: str, account: str = "acc-a", **fields: object) -> Instance:
    base = Instance(
        id=f"db-{account}-{name}",
        account_id=account,
        name=name,
        plan="micro",
        replicas=0,
        backups=True,
        status=Status.PROVISIONING,
        reason="",
        port=None,
        password_verifier="SCRAM-SHA-256$4096:c2FsdA==$a:b",
        created_at=T0,
        running_since=None,
        deleted_at=None,
        vcpus=1,
        memory_mib=512,
        storage_mib=1024,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_names_are_per_account_and_the_limit_holds_inside_the_insert(db: SqlDatabase) -> None:
    store = SqlDatabases(db)
    store.add(instance("orders"), max_count=2)
    store.add(instance("orders", account="acc-b"), max_count=2)
    with pytest.raises(DatabaseExists, match="orders"):
        store.add(instance("orders", id="db-other"), max_count=2)
    store.add(instance("users"), max_count=2)
    with pytest.raises(QuotaExceeded, match="2 databases"):
        store.add(instance("third"), max_count=2)
    assert [d.name for d in store.of_account("acc-a")] == ["orders", "users"]
    # A deleted database frees its name and its place under the limit.
    store.set_status("db-acc-a-orders", Status.DELETED)
    assert store.named("acc-a", "orders") is None
    store.add(instance("orders", id="db-again"), max_count=2)
    assert store.named("acc-a", "orders") is not None


def test_states_start_and_stop_the_metering_clock(db: SqlDatabase) -> None:
    store = SqlDatabases(db)
    store.add(instance("orders"), max_count=None)
    store.update("db-acc-a-orders", port=15432, backup_requested_at=T0)
    store.set_status("db-acc-a-orders", Status.RUNNING)
    first = store.get("db-acc-a-orders")
    assert first is not None and first.running_since is not None and first.port == 15432
    store.set_status("db-acc-a-orders", Status.ERROR, "crashed")
    store.set_status("db-acc-a-orders", Status.RUNNING)
    again = store.get("db-acc-a-orders")
    assert again is not None and again.running_since == first.running_since  # the first time
    assert store.ports_in_use() == {15432}
    store.set_status("db-acc-a-orders", Status.DELETED)
    gone = store.get("db-acc-a-orders")
    assert gone is not None and gone.deleted_at is not None
    assert store.live() == [] and store.ports_in_use() == set()
    with pytest.raises(ValueError, match="unknown columns"):
        store.update("db-acc-a-orders", nonsense="x")


def test_secrets_are_kept_once_and_rewrapped_in_place(db: SqlDatabase) -> None:
    store = SqlDatabases(db)
    assert store.add_secret("ca", "CERT", b"sealed-1") == ("CERT", b"sealed-1")
    # Another process came second: the first secret stays.
    assert store.add_secret("ca", "OTHER", b"sealed-2") == ("CERT", b"sealed-1")
    assert store.sealed_page("", 10) == [("databases/ca", b"sealed-1")]
    assert store.replace_sealed([("databases/ca", b"stale", b"x")]) == 0
    assert store.replace_sealed([("databases/ca", b"sealed-1", b"sealed-3")]) == 1
    assert store.secret("ca") == ("CERT", b"sealed-3")


def test_instance_hours_are_split_by_hour_times_the_nodes_until_deletion(
    db: SqlDatabase,
) -> None:
    store = SqlDatabases(db)
    store.add(instance("orders", running_since=T0 + 1800, status=Status.RUNNING), None)
    store.add(
        instance(
            "replicated",
            replicas=2,
            running_since=T0,
            deleted_at=T0 + 2 * HOUR,
            status=Status.DELETED,
        ),
        None,
    )
    meter = DatabaseMeter(store, backups=None, clock=lambda: T0 + 3 * HOUR)  # type: ignore[arg-type]
    records = sorted(
        (r.resource, r.hour - int(T0 // HOUR), r.quantity)
        for r in meter.counted("acc-a", int(T0 // HOUR), int(T0 // HOUR) + 5)
    )
    assert records == [
        ("db-acc-a-orders", 0, 1800),  # from half past
        ("db-acc-a-orders", 1, 3600),
        ("db-acc-a-orders", 2, 3600),  # until now, not the future
        ("db-acc-a-replicated", 0, 3 * 3600),  # three nodes
        ("db-acc-a-replicated", 1, 3 * 3600),
    ]
    assert {r.meter for r in meter.counted("acc-a", int(T0 // HOUR), int(T0 // HOUR) + 5)} == {
        "database_micro_hours"
    }
    assert list(meter.accounts(int(T0 // HOUR), int(T0 // HOUR) + 5)) == ["acc-a"]
    assert list(meter.counted("acc-b", int(T0 // HOUR), int(T0 // HOUR) + 5)) == []
