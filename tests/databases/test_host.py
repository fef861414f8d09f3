"""The databases on their host: a full volume refuses writes and leaves the host alone, the
host's capacity makes databases wait (Pending), Nexq's own crash or restart loses no
database and leaves no half-made one, and what ran is metered."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from nexq.accounts.tiers import default_tiers_text
from nexq.databases.engine import alive
from nexq.databases.layout import data_volume_mib, wal_volume_mib
from nexq.databases.model import Plan
from tests.databases.live_databases import (
    account_api,
    ca_file,
    connect,
    create,
    database_id,
    delete,
    delete_all,
    fresh,
    postmaster_pid,
    status_of,
    wait_for,
    wait_status,
)
from tests.live import LiveServer, nexq, nexq_json

# A plan small enough to fill in a test: 96 MiB of data volume.
TINY = """
[databases.plans.tiny]
name = "Tiny"
vcpus = 1
memory_mib = 256
storage_gib = 0.09375
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose host offers databases 2 vCPUs, and a tiny plan."""
    data_dir = tmp_path_factory.mktemp("nexq") / "data"
    data_dir.mkdir()
    # Every tier prices every plan: the tiny one too.
    tiers = default_tiers_text().replace(
        "prices.databases = { ", 'prices.databases = { database_tiny_hours = "0.005", '
    )
    (data_dir / "tiers.toml").write_text(tiers + TINY)
    live = LiveServer(data_dir, env={"NEXQ_DATABASES_VCPUS": "2"})
    live.start()
    yield live
    live.stop()
    live.remove_databases()


@pytest.fixture(scope="module")
def api(host: LiveServer) -> httpx.Client:
    return account_api(host)


@pytest.fixture(autouse=True)
def _clean(api: httpx.Client) -> Iterator[None]:
    """Each test starts with the host's room free, whatever the one before left."""
    yield
    delete_all(api)


def test_a_full_volume_refuses_writes_and_spares_the_host(
    host: LiveServer, api: httpx.Client, ca: Path
) -> None:
    database, password = create(api, plan="tiny")
    assert database["plan"]["storage_mib"] == 96
    assert host.databases_dir is not None
    free_before = shutil.disk_usage(host.databases_dir).free
    with connect(database, password, ca) as session:
        session.execute("CREATE TABLE filler (pad text)")
        refusals = (psycopg.errors.DiskFull, psycopg.errors.ReadOnlySqlTransaction)
        with pytest.raises(refusals) as refused:
            for _ in range(200):  # ~2.6 MiB a statement: the volume fills in about 40
                session.execute(
                    "INSERT INTO filler SELECT repeat(md5(random()::text), 40) "
                    "FROM generate_series(1, 1000)"
                )
        # The volume refused a write; or Nexq's guard, whose round came between the
        # statement that left it less than a megabyte free and the next, made transactions
        # read-only first (once in a loaded gate).
        if isinstance(refused.value, psycopg.errors.DiskFull):
            assert "No space left on device" in str(refused.value)
    # Nexq releases the volume's reserve and makes transactions read-only by default, so
    # that the owner can clean up: the reason says how.
    # Within a reconcile round, which visits every database of the host: this module's
    # server holds a dozen, and under a loaded gate a round took more than 20 s.
    full = wait_for(
        lambda: (found := status_of(api, database["name"]))["reason"] and found, 60, "full"
    )
    assert full["status"] == "Running" and "Storage full" in full["reason"]
    with connect(database, password, ca) as session:
        assert session.execute("SELECT count(*) > 0 FROM filler").fetchone() == (True,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            session.execute("INSERT INTO filler VALUES ('refused')")
        session.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        session.execute("DELETE FROM filler")
        # VACUUM gives the volume back the empty pages at a table's end, unless an
        # autovacuum of the same table holds the lock it needs then: vacuum until it has.
        wait_for(
            lambda: (
                session.execute("VACUUM filler")
                or session.execute("SELECT pg_relation_size('filler') = 0").fetchone() == (True,)
            ),
            20,
            "the table's pages given back",
        )
    # Usage is low again: writable by default, the reserve set aside again.
    last: dict[str, Any] = {}

    def writable() -> bool:
        last.update(status_of(api, database["name"]))
        return not last["reason"]

    try:
        wait_for(writable, 60, "writable again")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the database as last seen: {last}") from None
    with connect(database, password, ca) as session:
        session.execute("INSERT INTO filler VALUES ('fits again')")
    # The host gave no more than the database's two volumes (sparse until written).
    plan = Plan("tiny", "Tiny", 1, 256, 96)
    bound = (data_volume_mib(plan) + wal_volume_mib(plan)) * 1024 * 1024
    assert free_before - shutil.disk_usage(host.databases_dir).free < bound
    used = status_of(api, database["name"])["used_bytes"]
    assert 0 < used <= 96 * 1024 * 1024
    delete(api, database["name"])


def test_a_database_the_host_has_no_room_for_waits_pending(
    host: LiveServer, api: httpx.Client
) -> None:
    first, _ = create(api, plan="tiny")
    second, _ = create(api, plan="tiny")
    name = fresh()
    answer = api.post("/v1/databases", json={"name": name, "plan": "tiny"})
    assert answer.status_code == 201, answer.text
    pending = wait_status(api, name, "Pending", seconds=20)
    assert "vCPUs" in pending["reason"] and pending["connection"]["port"] is None
    delete(api, first["name"])
    wait_status(api, name, "Running", seconds=30)
    delete(api, second["name"])
    delete(api, name)


def test_databases_outlive_a_killed_nexq_and_a_half_made_one_is_finished(
    host: LiveServer, api: httpx.Client, ca: Path
) -> None:
    database, password = create(api, plan="tiny")
    db_id = database_id(host, database["name"])
    before = postmaster_pid(host, db_id)
    with connect(database, password, ca) as session:
        session.execute("CREATE TABLE kept AS SELECT 7 AS n")
    # A database asked for just before Nexq dies: it is made on the next start, whatever
    # step the provisioner had reached.
    late = fresh()
    assert api.post("/v1/databases", json={"name": late, "plan": "tiny"}).status_code == 201
    # Nexq dies once the provisioner has begun making it (its folder exists): a crash
    # mid-make is what is tested.
    wait_for(lambda: len(list(host.databases_dir.glob("db-*"))) > 1, 20, "making begun")  # type: ignore[union-attr]
    host.kill()
    assert host.databases_dir is not None
    stray = host.databases_dir / "db-nobodysfolder"
    stray.mkdir()
    host.start()
    # The running database was never stopped: same server process, same data.
    assert postmaster_pid(host, db_id) == before
    with connect(database, password, ca) as session:
        assert session.execute("SELECT n FROM kept").fetchone() == (7,)
    made = wait_status(api, late, "Running", seconds=60)
    late_id = database_id(host, late)
    wait_for(lambda: not stray.exists(), 20, "the unowned folder removed")
    owned = {database_id(host, n) for n in (database["name"], late)}
    assert {p.name for p in host.databases_dir.glob("db-*")} == owned
    assert made["connection"]["port"] not in (None, database["connection"]["port"])
    assert postmaster_pid(host, late_id) > 0
    delete(api, database["name"])
    delete(api, late)


def test_instance_hours_and_storage_are_metered(host: LiveServer, api: httpx.Client) -> None:
    database, _ = create(api, plan="tiny")
    db_id = database_id(host, database["name"])
    # As if it had run two hours (less early in a month: the estimate is this month's); the
    # meter reads the time a database ran from its row.
    now = time.time()
    month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    shift = min(7200.0, now - month_start.timestamp() - 120)
    host.sql("UPDATE databases_instances SET running_since = ? WHERE id = ?", now - shift, db_id)
    estimate = api.get("/v1/billing/estimate").json()
    lines = [line for line in estimate["lines"] if "Tiny" in line["resource"]]
    assert len(lines) == 1, estimate["lines"]
    assert lines[0]["unit"] == "instance-hour"
    assert shift / 3600 <= float(lines[0]["quantity"]) < shift / 3600 + 0.05, lines
    delete(api, database["name"])


def test_a_database_path_the_postgres_user_cannot_reach_is_an_error_naming_it(
    tmp_path: Path,
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir, env={"NEXQ_DATABASES_DIR": str(private / "dbs")})
    server.start()
    try:
        api = account_api(server)
        name = fresh()
        assert api.post("/v1/databases", json={"name": name, "plan": "micro"}).status_code == 201
        failed = wait_status(api, name, "Error", seconds=20)
        assert (
            "postgres OS user cannot reach" in failed["reason"] and str(private) in failed["reason"]
        )
    finally:
        server.stop()
    assert os.listdir(private) in ([], ["dbs"])


def test_an_operator_can_have_databases_stop_and_start_with_nexq(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = LiveServer(tmp_path / "data", env={"NEXQ_DATABASES_ON_STOP": "stop"})
    server.start()
    try:
        api = account_api(server)
        ca = ca_file(api, tmp_path_factory.mktemp("ca"))
        database, password = create(api, backups=False)
        with connect(database, password, ca) as session:
            session.execute("CREATE TABLE kept AS SELECT 1 AS n")
        db_id = database_id(server, database["name"])
        pid = postmaster_pid(server, db_id)
        server.stop()
        assert not alive(pid)  # stopped cleanly, with Nexq
        assert server.databases_dir is not None
        assert str(server.databases_dir / db_id) not in Path("/proc/mounts").read_text()
        server.start()
        again = wait_for(
            lambda: _session_answer(database, password, ca), 30, "started again with Nexq"
        )
        assert again == (1,)
    finally:
        server.stop()
        server.remove_databases()


def _session_answer(database: dict[str, object], password: str, ca: Path) -> object:
    try:
        with connect(database, password, ca) as session:
            return session.execute("SELECT n FROM kept").fetchone()
    except psycopg.OperationalError:
        return None  # not started again yet


def test_a_new_host_name_is_certified_without_restarting_the_database(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = LiveServer(tmp_path / "data", env={"NEXQ_DATABASES_HOST": "db-a.nexq.test"})
    server.start()
    try:
        api = account_api(server)
        ca = ca_file(api, tmp_path_factory.mktemp("ca"))
        database, password = create(api, backups=False)
        assert database["connection"]["host"] == "db-a.nexq.test"
        with connect(database, password, ca, hostaddr="127.0.0.1") as session:
            assert session.execute("SELECT 1").fetchone() == (1,)
        pid = postmaster_pid(server, database_id(server, database["name"]))
        server.stop()
        server.env["NEXQ_DATABASES_HOST"] = "db-b.nexq.test"
        server.start()
        moved = status_of(api, database["name"])
        assert moved["connection"]["host"] == "db-b.nexq.test"
        # The running server gets a certificate naming the new host, and reads it again.
        wait_for(lambda: _verified(moved, password, ca), 30, "a certificate for db-b.nexq.test")
        assert postmaster_pid(server, database_id(server, database["name"])) == pid
    finally:
        server.stop()
        server.remove_databases()


def _verified(database: dict[str, object], password: str, ca: Path) -> bool:
    try:
        with connect(database, password, ca, hostaddr="127.0.0.1") as session:
            return session.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError as exc:
        assert "certificate" in str(exc) or "does not match" in str(exc), exc
        return False


def test_the_operator_lists_every_account_s_databases_and_retries_one_in_error(
    host: LiveServer, api: httpx.Client
) -> None:
    database, _ = create(api, plan="tiny", backups=False)
    db_id = database_id(host, database["name"])
    listed = nexq_json("admin", "databases", "list", data_dir=host.data_dir)
    mine = [d for d in listed if d["id"] == db_id]
    assert mine and mine[0]["status"] == "Running" and mine[0]["port"] is not None
    # A database in Error (as after a failed start) is tried again by the operator.
    host.sql("UPDATE databases_instances SET status = 'Error', reason = 'x' WHERE id = ?", db_id)
    retried = nexq_json("admin", "databases", "retry", db_id, data_dir=host.data_dir)
    assert retried == {"id": db_id, "status": "Running"}
    unknown = nexq("admin", "databases", "retry", "db-none", data_dir=host.data_dir, check=False)
    assert unknown.returncode != 0 and "db-none" in unknown.stderr
