"""Highly available databases, measured in one run on this machine:

1. Create -> Running of a micro database with 1 and 2 replicas beside one without (the
   single server is the peer: what high availability adds to making a database);
2. failover: kill -9 of the primary's Patroni and PostgreSQL while a client commits one row
   at a time through the database's endpoint; seconds until a commit succeeds again, until
   the old primary is back as a replica, and acknowledged commits lost (must be 0);
3. pgbench TPS (TPC-B-like and select-only, -c 8 -j 2), over TLS, through the two
   connection strings a highly available database offers — the endpoint (HAProxy, any
   client) and the URI listing every node (libpq finds the primary, no proxy) — against
   the same primary reached on its own port: what each costs (the issue's bound: under
   10 %); and against a single-server database of the same plan (what synchronous
   replication costs). Each round runs the targets in another order.

    .venv/bin/python bench/databases_ha.py [--rounds 3] [--seconds 15] [--out FILE.md]
                                          [--only creation,failover,throughput]

As root, like bench/databases.py (whose Nexq helper it uses). 4 to 6 minutes.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.databases import Nexq, machine, pgbench, poll, tps, work_folder  # noqa: E402
from tests.databases.live_databases import Writer, database_id  # noqa: E402

Figures = dict[str, list[float]]


def create(
    nexq: Nexq, name: str, replicas: int, plan: str = "micro"
) -> tuple[dict[str, Any], str, float]:
    return nexq.create(name, plan, backups=False, replicas=replicas)


def creation(nexq: Nexq, rounds: int) -> Figures:
    figures: Figures = {}
    for n in range(rounds):
        for replicas in (0, 1, 2):
            name = f"bench-ha{replicas}-{n}"
            _, _, seconds = create(nexq, name, replicas)
            figures.setdefault(f"create_{replicas}", []).append(seconds)
            nexq.delete(name)
        print("create", n, {k: round(v[-1], 2) for k, v in figures.items()}, flush=True)
    return figures


def nodes(nexq: Nexq, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = nexq.client.get(f"/v1/databases/{name}/nodes").json()
    return found


def failover(nexq: Nexq, rounds: int) -> Figures:
    """kill -9 of the primary node while one client commits row after row."""
    figures: Figures = {}
    for n in range(rounds):
        # A new database each round: a second failover of one database does not happen
        # with synchronous commits (Patroni 3.0.2 leaves the rejoined node out of its
        # synchronous standbys; see docs/databases.md).
        name = f"bench-failover-{n}"
        database, password, _ = create(nexq, name, 1)
        with psycopg.connect(**_conninfo(nexq, database, password)) as session:
            session.execute("CREATE TABLE ledger (n int PRIMARY KEY)")
        for key, value in _one_failover(nexq, name, database, password, n).items():
            figures.setdefault(key, []).append(value)
        print("failover", n, {k: round(v[-1], 2) for k, v in figures.items()}, flush=True)
        nexq.delete(name)
    return figures


def _one_failover(
    nexq: Nexq, name: str, database: dict[str, Any], password: str, n: int
) -> dict[str, float]:
    assert nexq.live.databases_dir is not None
    folder = nexq.live.databases_dir / database_id(nexq.live, name)
    poll(lambda: all(x["status"] == "running" for x in nodes(nexq, name)), 120, "nodes")
    primary = nodes(nexq, name)[0]["id"]
    node = folder / f"node-{primary.rsplit('-', 1)[1]}"
    writer = Writer(database, password, nexq.ca, first=n * 10_000_000)
    writer.start()
    poll(lambda: len(writer.acknowledged) > 100, 30, "writes flowing")
    victims = [
        int((node / "patroni.pid").read_text().split()[0]),
        int((node / "data" / "pgdata" / "postmaster.pid").read_text().split("\n")[0]),
    ]
    killed = time.monotonic()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    poll(lambda: writer.resumed_at, 120, "writes resumed")
    poll(lambda: _back(nexq, name, primary), 180, "the old primary back as a replica")
    back = time.monotonic() - killed
    writer.stop.set()
    writer.join(30)
    assert writer.resumed_at is not None
    with psycopg.connect(**_conninfo(nexq, database, password)) as session:
        stored = {r[0] for r in session.execute("SELECT n FROM ledger").fetchall()}
    return {
        "failover_writes": writer.resumed_at - killed,
        "failover_rejoined": back,
        "failover_lost": float(sum(1 for x in writer.acknowledged if x not in stored)),
        "failover_commits": float(len(writer.acknowledged)),
    }


def _back(nexq: Nexq, name: str, old_primary: str) -> bool:
    found = nodes(nexq, name)
    running = all(x["status"] == "running" for x in found)
    return running and [x["id"] for x in found][1:] == [old_primary]


def _conninfo(
    nexq: Nexq, database: dict[str, Any], password: str, port: int | None = None
) -> dict[str, Any]:
    conn = database["connection"]
    return {
        "host": conn["host"],
        "port": port or conn["port"],
        "dbname": conn["database"],
        "user": conn["user"],
        "password": password,
        "sslmode": "verify-full",
        "sslrootcert": str(nexq.ca),
        "autocommit": True,
        "connect_timeout": 5,
    }


TARGETS = ("endpoint", "multihost", "direct", "single")


def throughput(nexq: Nexq, seconds: int, scale: int, rounds: int) -> Figures:
    """pgbench through the endpoint, through the multi-host URI, straight to the primary,
    and on a single server."""
    figures: Figures = {}
    ha, ha_password, _ = create(nexq, "bench-ha-tps", 1, plan="small")
    single, single_password, _ = create(nexq, "bench-single-tps", 0, plan="small")
    assert nexq.live.databases_dir is not None
    primary_port = _primary_port(nexq, "bench-ha-tps")
    connection = ha["connection"]
    hosts = ",".join(connection["host"] for _ in connection["node_ports"])
    ports = ",".join(str(p) for p in connection["node_ports"])
    targets = {
        "endpoint": nexq.client_env(ha, ha_password),
        # What the direct_uri says, in libpq's environment variables.
        "multihost": {
            **nexq.client_env(ha, ha_password),
            "PGHOST": hosts,
            "PGPORT": ports,
            "PGTARGETSESSIONATTRS": "read-write",
        },
        "direct": {**nexq.client_env(ha, ha_password), "PGPORT": str(primary_port)},
        "single": nexq.client_env(single, single_password),
    }
    pgbench(targets["endpoint"], "-i", "-q", "-s", str(scale))
    pgbench(targets["single"], "-i", "-q", "-s", str(scale))
    for round_ in range(rounds):
        # Rotated each round: on 2 cores, what ran just before moves a figure.
        order = TARGETS[round_ % len(TARGETS) :] + TARGETS[: round_ % len(TARGETS)]
        for mode, extra in (("tpcb", []), ("select", ["-S"])):
            for target in order:
                rate = tps(targets[target], "-c", "8", "-j", "2", "-T", str(seconds), *extra)
                figures.setdefault(f"{mode}_{target}", []).append(rate)
                print("pgbench", round_, mode, target, round(rate, 1), flush=True)
    nexq.delete("bench-ha-tps")
    nexq.delete("bench-single-tps")
    return figures


def _primary_port(nexq: Nexq, name: str) -> int:
    """The port the primary node's PostgreSQL listens on (127.0.0.1)."""
    assert nexq.live.databases_dir is not None
    folder = nexq.live.databases_dir / database_id(nexq.live, name)
    primary = nodes(nexq, name)[0]["id"]
    pid_file = folder / f"node-{primary.rsplit('-', 1)[1]}" / "data" / "pgdata" / "postmaster.pid"
    return int(pid_file.read_text().split("\n")[3])


def spread(values: list[float], digits: int = 1) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return (
        f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-"
        f"{max(values):.{digits}f})"
    )


def report(results: dict[str, Any]) -> str:
    lines = [
        "# Highly available databases: bench/databases_ha.py",
        "",
        f"{results['date']}, {results['machine']}; load before {results['load_before']}, "
        f"after {results['load_after']}. Medians (min-max) of the rounds.",
    ]
    if "creation" in results:
        c = results["creation"]
        single = statistics.median(c["create_0"])
        lines += [
            "",
            "| Create -> Running (micro, backups off) | seconds | ÷ single server |",
            "|---|---:|---:|",
        ]
        for replicas, label in ((0, "single server"), (1, "1 replica"), (2, "2 replicas")):
            values = c[f"create_{replicas}"]
            lines.append(
                f"| {label} | {spread(values, 2)} | {statistics.median(values) / single:.2f}x |"
            )
    if "failover" in results:
        f = results["failover"]
        lines += [
            "",
            "| Failover (kill -9 of the primary's Patroni and PostgreSQL, 1 replica, "
            "synchronous) | value |",
            "|---|---:|",
            f"| seconds until a commit succeeds again | {spread(f['failover_writes'])} |",
            "| seconds until the old primary is back as a replica "
            f"| {spread(f['failover_rejoined'])} |",
            f"| acknowledged commits lost (of {spread(f['failover_commits'], 0)} per round) "
            f"| {spread(f['failover_lost'], 0)} |",
        ]
    if "throughput" in results:
        t = results["throughput"]
        lines += [
            "",
            "| pgbench TPS (plan small, -c 8 -j 2, TLS) | endpoint (HAProxy) | multi-host URI "
            "| straight to the primary | endpoint ÷ straight | multi-host ÷ straight "
            "| single server | endpoint ÷ single |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for mode, label in (("tpcb", "TPC-B-like"), ("select", "select-only (-S)")):
            e, m, d, s = (statistics.median(t[f"{mode}_{x}"]) for x in TARGETS)
            lines.append(
                f"| {label} | {e:.0f} | {m:.0f} | {d:.0f} | {e / d:.2f}x | {m / d:.2f}x "
                f"| {s:.0f} | {e / s:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15, help="pgbench -T")
    parser.add_argument("--scale", type=int, default=10, help="pgbench -s")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "databases_ha-results.md")
    parser.add_argument(
        "--only",
        default="creation,failover,throughput",
        help="which measures, comma-separated (default: all)",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    with work_folder() as work:
        nexq = Nexq(work)
        try:
            nexq.start()
            if "creation" in only:
                results["creation"] = creation(nexq, args.rounds)
            if "failover" in only:
                results["failover"] = failover(nexq, args.rounds)
            if "throughput" in only:
                results["throughput"] = throughput(nexq, args.seconds, args.scale, args.rounds)
        finally:
            nexq.stop()
    results["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report(results)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
