"""High availability, checked as a customer sees it and as a host failure makes it: a
primary and a replica run by Patroni behind one endpoint; when the primary's host dies
(kill -9 of its Patroni and its PostgreSQL), the replica takes over within 30 s, writes
resume through the same connection string, no acknowledged commit is lost (synchronous
commits), and the old primary comes back as a replica; with asynchronous commits and two
replicas, one of them takes over. Clients connect through the endpoint or through the URI
that lists every node."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from nexq.databases.engine import alive
from tests.databases.live_databases import (
    Writer,
    connect,
    create,
    database_id,
    delete,
    delete_all,
    fresh,
    wait_for,
)
from tests.live import LiveServer

FAILOVER_SECONDS = 30


@pytest.fixture(autouse=True)
def _cleaned_up(api: httpx.Client) -> Iterator[None]:
    """What a failed test left is deleted: a highly available database holds ports and
    room the next test's needs (in CI, one failure left 8 of the 16 ports taken and the
    next test's database Pending)."""
    yield
    delete_all(api)


def _nodes(api: httpx.Client, name: str) -> list[dict[str, object]]:
    answer = api.get(f"/v1/databases/{name}/nodes")
    assert answer.status_code == 200, answer.text
    nodes: list[dict[str, object]] = answer.json()
    return nodes


def _all_running(
    api: httpx.Client, name: str, not_primary: str | None = None
) -> list[dict[str, object]] | None:
    """The nodes once every one runs (and ``not_primary`` is not the primary)."""
    nodes = _nodes(api, name)
    if any(n["status"] != "running" for n in nodes) or nodes[0]["id"] == not_primary:
        return None
    return nodes


def _full_backups(api: httpx.Client, name: str) -> list[dict[str, object]]:
    answer = api.get(f"/v1/databases/{name}/backups")
    assert answer.status_code == 200, answer.text
    return [b for b in answer.json()["backups"] if b["type"] == "FULL"]


def _logs(folder: Path, lines: int = 40) -> str:
    """The last lines of each node's Patroni log that tell of a change (not its every
    loop's "no action"), for a failure's message."""
    found = []
    for log in sorted(folder.glob("node-*/log/patroni.log")):
        told = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if "INFO: no action." not in line
        ]
        tail = told[-lines:]
        found.append(f"--- {log.relative_to(folder)}\n" + "\n".join(tail))
    return "\n".join(found)


def _pid(path: Path) -> int:
    return int(path.read_text().split()[0])


def test_the_primary_dies_and_a_replica_takes_over_losing_no_commit(
    server: LiveServer, api: httpx.Client, ca: Path
) -> None:
    database, password = create(api, replicas=1, seconds=90)
    name = database["name"]
    assert database["high_availability"] is True and database["synchronous"] is True
    nodes = wait_for(lambda: _all_running(api, name), 60, "both nodes running")
    assert [(n["role"], n["synchronous"]) for n in nodes] == [
        ("primary", False),
        ("replica", True),
    ]
    # Backups are taken from whichever node is primary, from the start.
    wait_for(lambda: _full_backups(api, name), 120, "the first full backup")
    with connect(database, password, ca) as session:
        session.execute("CREATE TABLE ledger (n int PRIMARY KEY)")
        # Synchronous commits: the replica has every commit before it is acknowledged.
        assert session.execute("SHOW synchronous_standby_names").fetchone() != ("",)

    first = _fail_over(server, api, database, password, ca)
    # Backups go on from the new primary: a backup asked for now is taken, and a restore
    # to the latest point (the WAL the new primary archived) has every acknowledged row.
    assert api.post(f"/v1/databases/{name}/backups").status_code == 202
    wait_for(lambda: len(_full_backups(api, name)) >= 2, 120, "a backup after the failover")
    # Restored into a new highly available database: its first node is restored, the
    # replica clones it, and both have every row.
    restored, restored_password = create(
        api, fresh("restored"), restore={"source": name}, replicas=1, seconds=150
    )
    assert restored["high_availability"] is True
    both = wait_for(lambda: _all_running(api, restored["name"]), 60, "restored nodes running")
    assert [n["role"] for n in both] == ["primary", "replica"]
    with connect(restored, restored_password, ca) as session:
        (count,) = session.execute("SELECT count(*) FROM ledger").fetchone()  # type: ignore[misc]
        assert count >= len(first)
        session.execute("INSERT INTO ledger VALUES (-1)")  # it takes writes
        wait_for(lambda: _streaming(session) == 1, 30, "the restored replica streaming")
        # No recovery target is left to stop a node that follows another one day.
        assert session.execute("SHOW recovery_target_time").fetchone() == ("",)
    delete(api, restored["name"])

    # The old primary, a replica now, is synchronous again once it caught up: the same
    # database fails over a second time, back to the first node, losing nothing either;
    # this time the client lists every node (libpq's multi-host URI, no proxy in between).
    wait_for(lambda: _nodes(api, name)[1]["synchronous"], 60, "the rejoined node synchronous")
    _fail_over(server, api, database, password, ca, first=1_000_000, direct=True)

    node = server.databases_dir / database_id(server, name)  # type: ignore[operator]
    delete(api, name)
    wait_for(lambda: not node.exists(), 120, "folder removed")
    assert str(node) not in Path("/proc/mounts").read_text()


def _fail_over(
    server: LiveServer,
    api: httpx.Client,
    database: dict[str, Any],
    password: str,
    ca: Path,
    first: int = 0,
    direct: bool = False,
    synchronous: bool = True,
) -> list[int]:
    """Kill the primary's host (its Patroni and its PostgreSQL, at once) under a stream of
    writes: writes resume within FAILOVER_SECONDS through the same connection string (the
    endpoint, or with ``direct`` the URI listing every node), none that was acknowledged is
    lost (with ``synchronous`` commits), and the old primary comes back as a replica. The
    acknowledged rows (numbered from ``first`` on, in the table ``ledger``)."""
    name = database["name"]
    primary = str(_nodes(api, name)[0]["id"])
    writer = Writer(database, password, ca, first, direct)
    writer.start()
    wait_for(lambda: len(writer.acknowledged) > 50, 30, "writes flowing")
    assert server.databases_dir is not None
    folder = server.databases_dir / database_id(server, name)
    node = folder / f"node-{primary.rsplit('-', 1)[1]}"
    victims = [_pid(node / "patroni.pid"), _pid(node / "data" / "pgdata" / "postmaster.pid")]
    killed_at = time.monotonic()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: writer.resumed_at is not None, FAILOVER_SECONDS + 15, "writes resumed")
    assert writer.resumed_at is not None
    assert writer.resumed_at - killed_at < FAILOVER_SECONDS
    acknowledged_before = len(writer.acknowledged)
    wait_for(lambda: len(writer.acknowledged) > acknowledged_before + 50, 30, "writes go on")
    writer.stop.set()
    writer.join(30)

    with connect(database, password, ca, direct) as session:
        stored = {row[0] for row in session.execute("SELECT n FROM ledger").fetchall()}
    lost = [n for n in writer.acknowledged if n not in stored]
    if synchronous:
        assert lost == [], f"{len(lost)} acknowledged commits lost: {lost[:10]}"
    else:
        # Asynchronous commits may lose the last ones the replica had not received; Patroni
        # promotes no replica more than maximum_lag_on_failover (16 MiB) behind.
        print(f"asynchronous failover: {len(lost)} of {len(writer.acknowledged)} commits lost")
        assert writer.acknowledged[-1] in stored  # written after the failover, kept
    # The nodes table shows the new roles, and the old primary back as a replica.
    after = wait_for(
        lambda: _all_running(api, name, not_primary=primary),
        90,
        lambda: f"the old primary back as a replica: {_nodes(api, name)}\n{_logs(folder)}",
    )
    assert {n["id"]: n["role"] for n in after}[primary] == "replica"
    assert all(not alive(pid) for pid in victims)
    return writer.acknowledged


def test_two_asynchronous_replicas_stream_and_one_takes_over(
    server: LiveServer, api: httpx.Client, ca: Path
) -> None:
    database, password = create(api, replicas=2, synchronous=False, seconds=90)
    assert database["synchronous"] is False
    connection = database["connection"]
    assert len(connection["node_ports"]) == 3
    assert connection["direct_uri"].endswith("&target_session_attrs=read-write")
    for port in connection["node_ports"]:
        assert f"{connection['host']}:{port}" in connection["direct_uri"]
    nodes = wait_for(lambda: _all_running(api, database["name"]), 60, "three nodes running")
    assert [n["role"] for n in nodes] == ["primary", "replica", "replica"]
    with connect(database, password, ca, direct=True) as session:
        assert session.execute("SHOW synchronous_standby_names").fetchone() == ("",)
        session.execute("CREATE TABLE ledger (n int PRIMARY KEY)")
        wait_for(lambda: _streaming(session) == 2, 30, "two replicas streaming")
    _fail_over(server, api, database, password, ca, direct=True, synchronous=False)
    delete(api, database["name"])


def _streaming(session: psycopg.Connection[Any]) -> int:
    row = session.execute(
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_high_availability_is_refused_where_it_cannot_be_had(api: httpx.Client) -> None:
    too_many = api.post("/v1/databases", json={"name": "three", "plan": "micro", "replicas": 3})
    assert too_many.status_code in (400, 422) and "replicas" in too_many.text
