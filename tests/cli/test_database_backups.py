"""dcp databases backups and restore: the real executable against a live server. The backups
and recovery window are the REST API's, a point-in-time restore with dcp brings back what was
committed before --to and nothing after (seen with psycopg and the password dcp printed), and
"Back up now" with --wait ends with the new full backup."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.cli.conftest import Dcp
from tests.cli.test_databases import delete_and_wait, fresh_name, rest
from tests.databases.live_databases import connect, wait_for
from tests.live import BURST, LiveServer

NO_BACKUPS = {"backups": [], "recovery_window": {"oldest": None, "latest": None}, "size": 0}


@pytest.fixture
def customer(server: LiveServer, email: str, request: pytest.FixtureRequest) -> Dcp:
    """``user`` (dcp with an every-scope key) whose account may hold a database and two
    copies: the limits are raised before the account's first request."""
    server.raise_limits(
        email,
        api_rps=BURST,
        databases=3,
        database_vcpus=10,
        database_memory_bytes="unlimited",
        database_storage_bytes="unlimited",
    )
    user: Dcp = request.getfixturevalue("user")
    return user


def full_backups(dcp: Dcp, name: str) -> list[dict[str, Any]]:
    found = dcp.json("databases", "backups", "list", name)
    return [b for b in found["backups"] if b["type"] == "FULL"]


def settled(found: dict[str, Any]) -> dict[str, Any]:
    """A backups answer without what moves by itself between two requests: the WAL row and
    the window's latest point follow the WAL archived continuously."""
    return {
        "full": [b for b in found["backups"] if b["type"] == "FULL"],
        "wal": [set(b) for b in found["backups"] if b["type"] == "WAL"],
        "oldest": found["recovery_window"]["oldest"],
        "keys": (set(found), set(found["recovery_window"])),
        "size": found["size"],
    }


def running(dcp: Dcp, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] = dcp.json("databases", "show", name)
    assert found["status"] in ("Provisioning", "Running"), found
    return found if found["status"] == "Running" else None


def server_now(session: psycopg.Connection[Any]) -> float:
    row = session.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
    assert row is not None
    return float(row[0])


def test_backups_and_point_in_time_restore(
    server: LiveServer, customer: Dcp, tmp_path: Path
) -> None:
    source, restored = fresh_name(), fresh_name()
    made = customer("-o", "json", "databases", "create", source, "--plan", "micro", "--wait")
    created = json.loads(made.stdout)
    password = created["password"]
    assert created["status"] == "Running" and created["backups"] is True

    # The first full backup is taken once it runs: the recovery window opens the second
    # after it stopped (pgBackRest keeps stop times to the second).
    first = wait_for(lambda: full_backups(customer, source), 120, "the first full backup")
    assert first[0]["size"] > 0 and first[0]["duration_seconds"] >= 0
    listed = customer.json("databases", "backups", "list", source)
    assert settled(listed) == settled(rest(server, customer, f"/databases/{source}/backups").json())
    window = listed["recovery_window"]
    taken = datetime.fromisoformat(first[0]["taken_at"])
    assert (datetime.fromisoformat(window["oldest"]) - taken).total_seconds() == 1
    assert window["latest"] >= first[0]["taken_at"]
    table = customer("databases", "backups", "list", source).stdout.splitlines()
    assert table[0].split() == ["LABEL", "TYPE", "TAKEN", "SIZE", "DURATION"]
    assert table[1].split()[:3] == [first[0]["label"], "FULL", first[0]["taken_at"]]
    assert table[-1].startswith(f"Recovery window: {window['oldest']} … ")

    ca = tmp_path / "ca.pem"
    customer("databases", "ca", "--output-file", str(ca))
    with connect(created, password, ca) as session:
        session.execute("CREATE TABLE orders (id int, item text)")
        session.execute("INSERT INTO orders VALUES (1, 'before'), (2, 'before')")
        # The target is the next whole second (what a person types); the later rows are
        # written once the server's clock has passed it.
        target = math.ceil(server_now(session))
        wait_for(lambda: server_now(session) > target + 0.1, 5, "the target second passed")
        session.execute("INSERT INTO orders VALUES (3, 'after')")
    to = datetime.fromtimestamp(target, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    restore = ("databases", "restore", source, restored, "--plan", "micro")
    outside = customer.fails(6, *restore, "--to", "2020-01-01T00:00:00Z")
    assert "recovery window" in outside and source in outside

    done = customer("-o", "json", *restore, "--to", to, "--wait")
    assert "shown only now" in done.stderr
    copy = json.loads(done.stdout)
    assert (copy["name"], copy["status"], copy["plan"]["id"]) == (restored, "Running", "micro")
    assert copy["password"] != password and copy["backups"] is True
    with connect(copy, copy["password"], ca) as session:
        rows = session.execute("SELECT id, item FROM orders ORDER BY id").fetchall()
        assert rows == [(1, "before"), (2, "before")]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(copy, password, ca).close()
    with connect(created, password, ca) as session:  # the source is untouched
        assert session.execute("SELECT count(*) FROM orders").fetchone() == (3,)

    # To the latest point, for people: the password once and where it comes from. It is
    # made while the source is backed up now.
    latest = fresh_name()
    said = customer("databases", "restore", source, latest, "--plan", "micro")
    assert "shown only now" in said.stderr
    fields = {k: v.strip() for k, v in (line.split(":", 1) for line in said.stdout.splitlines())}
    assert fields["restored from"] == f"{source} as it was at the latest point"

    # Back up now, waiting: the answer is the new full backup, now in the list.
    before = [b["label"] for b in full_backups(customer, source)]
    taken = customer.json("databases", "backups", "create", source, "--wait")
    assert taken["type"] == "FULL" and taken["label"] not in before and taken["size"] > 0
    assert [b["label"] for b in full_backups(customer, source)] == [*before, taken["label"]]

    copy = wait_for(lambda: running(customer, latest), 60, f"{latest} Running")
    with connect(copy, fields["password"], ca) as session:
        assert session.execute("SELECT max(id), count(*) FROM orders").fetchone() == (3, 3)

    for name in (latest, restored, source):
        assert customer.json("databases", "delete", name, "--yes")["status"] == "Deleting"
    wait_for(lambda: customer.json("databases", "list") == [], 120, "every database deleted")


def test_restore_and_backups_errors(customer: Dcp) -> None:
    plain = fresh_name()
    customer("databases", "create", plain, "--plan", "micro", "--no-backups", "--wait")
    refused = customer.fails(6, "databases", "restore", plain, fresh_name(), "--plan", "micro")
    assert "no backups" in refused and plain in refused
    assert "backups off" in customer.fails(6, "databases", "backups", "create", plain)
    assert customer.json("databases", "backups", "list", plain) == NO_BACKUPS
    said = customer("databases", "backups", "list", plain).stdout.splitlines()
    assert said == [
        "LABEL  TYPE  TAKEN  SIZE  DURATION",
        "Recovery window: none (automated backups are off)",
    ]
    assert "'no-such-db'" in customer.fails(
        4, "databases", "restore", "no-such-db", fresh_name(), "--plan", "micro"
    )
    assert "'no-such-db'" in customer.fails(4, "databases", "backups", "list", "no-such-db")

    # A time without its zone is refused before any request: with no API to reach, a request
    # would be exit 7.
    nowhere = {"DCP_API_URL": "http://127.0.0.1:9"}
    copy = ("databases", "restore", plain, fresh_name(), "--plan", "micro", "--to")
    for given, why in (("2027-01-31T12:00:00", "has no time zone"), ("yesterday", "is not a time")):
        said_usage = customer.fails(2, *copy, given, env=nowhere)
        assert f"--to {given!r} {why}" in said_usage and "2027-01-31T12:00:00Z" in said_usage
    assert [d["name"] for d in customer.json("databases", "list")] == [plain]
    delete_and_wait(customer, plain)
