"""dcp databases: the real executable against a live server. Its JSON is the REST API's, the
password it prints opens the database (psql through ``connect``, psycopg with the CA file it
writes), a reset password replaces the old one at once, and deleting asks for the name."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.cli.conftest import Dcp
from tests.live import BURST, LiveServer

_count = iter(range(1_000_000))
DATABASE_FIELDS = {"name", "status", "reason", "engine", "plan", "high_availability"}
DATABASE_FIELDS |= {
    "replicas",
    "synchronous",
    "backups",
    "created_at",
    "used_bytes",
    "connection",
    "restored_from",
}
CONNECTION_FIELDS = {
    "host",
    "port",
    "database",
    "user",
    "sslmode",
    "uri",
    "psql",
    "node_ports",
    "direct_uri",
}
WHO_AND_HOW = "select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()"


def fresh_name() -> str:
    return f"dcp-db-{os.getpid()}-{next(_count)}"


@pytest.fixture
def customer(server: LiveServer, email: str, request: pytest.FixtureRequest) -> Dcp:
    """``user`` (dcp configured with an every-scope key) whose account may hold several
    databases: the limits are raised before the account's first request."""
    server.raise_limits(
        email,
        api_rps=BURST,
        databases=5,
        database_vcpus=10,
        database_memory_bytes="unlimited",
        database_storage_bytes="unlimited",
    )
    user: Dcp = request.getfixturevalue("user")
    return user


def rest(server: LiveServer, dcp: Dcp, path: str) -> httpx.Response:
    """What the REST API answers to the key dcp is configured with."""
    key = json.loads(dcp.config.read_text())["api_key"]
    answer = httpx.get(
        f"{server.api_url}/v1{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer


def measured_apart(found: Any) -> Any:
    """A database (or a list of them) without ``used_bytes``, which the server measures on
    the live cluster at each request and so may differ between two answers."""
    if isinstance(found, list):
        return [measured_apart(d) for d in found]
    assert isinstance(found["used_bytes"], int), found
    return {k: v for k, v in found.items() if k != "used_bytes"}


def eventually(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.2)


def connect(database: dict[str, Any], password: str, ca: Path) -> psycopg.Connection[Any]:
    conn = database["connection"]
    return psycopg.connect(
        host=conn["host"],
        port=conn["port"],
        dbname=conn["database"],
        user=conn["user"],
        password=password,
        sslmode="verify-full",
        sslrootcert=str(ca),
        connect_timeout=10,
    )


def delete_and_wait(dcp: Dcp, name: str) -> None:
    deleting = dcp.json("databases", "delete", name, "--yes")
    assert (deleting["name"], deleting["status"]) == (name, "Deleting")
    eventually(
        lambda: name not in [d["name"] for d in dcp.json("databases", "list")],
        30,
        f"{name} gone from the list",
    )


def test_create_connect_reset_and_delete(server: LiveServer, customer: Dcp, tmp_path: Path) -> None:
    name = fresh_name()
    made = customer("--output", "json", "databases", "create", name, "--plan", "micro", "--wait")
    assert "shown only now" in made.stderr
    created = json.loads(made.stdout)
    assert set(created) == {*DATABASE_FIELDS, "password"}
    assert set(created["connection"]) == CONNECTION_FIELDS
    assert created["status"] == "Running" and created["plan"]["id"] == "micro"
    assert created["backups"] is True
    password = created["password"]
    shown = customer.json("databases", "show", name)
    assert measured_apart(shown) == measured_apart(
        rest(server, customer, f"/databases/{name}").json()
    )
    assert measured_apart(shown) == measured_apart(
        {k: v for k, v in created.items() if k != "password"}
    )
    listed = customer.json("databases", "list")
    assert measured_apart(listed) == measured_apart(rest(server, customer, "/databases").json())
    assert [d["name"] for d in listed] == [name]

    table = customer("databases", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "ENGINE", "PLAN", "HA", "CREATED"]
    assert table[1].split()[:2] == [name, "Running"] and " micro " in table[1]
    fields = dict(
        line.split(":", 1) for line in customer("databases", "show", name).stdout.splitlines()
    )
    assert fields["status"].strip() == "Running"
    assert fields["psql"].strip() == created["connection"]["psql"]
    assert "reason" not in fields

    # connect: psql over TLS, the server verified against the CA dcp fetched for it.
    said = customer(
        "databases", "connect", name, "--", "-At", "-c", WHO_AND_HOW, env={"PGPASSWORD": password}
    )
    assert said.stdout.strip() == "dbadmin|t"
    authority = customer.config.parent / "databases-ca" / f"127.0.0.1_{server.api_port}.pem"
    assert authority.read_text() == rest(server, customer, "/databases/ca").text
    missing = customer.fails(
        1, "databases", "connect", name, env={"PATH": str(tmp_path / "empty"), "PGPASSWORD": "x"}
    )
    assert "psql is not installed" in missing

    # ca: the PEM that verifies the server (psycopg uses the file dcp wrote).
    ca_file = tmp_path / "ca.pem"
    customer("databases", "ca", "--output-file", str(ca_file))
    pem = ca_file.read_text()
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and pem == authority.read_text()
    assert customer("databases", "ca").stdout == pem

    # reset-password: the new password works at once, the old one no longer.
    issued = customer.json("databases", "reset-password", name, "--yes")
    assert set(issued) == {"password"} and issued["password"] != password
    with connect(created, issued["password"], ca_file) as session:
        assert session.execute("select current_user").fetchone() == ("dbadmin",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(created, password, ca_file).close()
    refused = customer(
        "databases", "connect", name, "--", "-c", "select 1", env={"PGPASSWORD": password}, code=2
    )
    assert "password authentication failed" in refused.stderr
    reset_table = customer("databases", "reset-password", name, "--yes")
    assert reset_table.stdout.startswith("password: ") and "shown only now" in reset_table.stderr

    nodes = customer.json("databases", "nodes", name)
    assert nodes == rest(server, customer, f"/databases/{name}/nodes").json()
    assert [(n["id"], n["role"], n["status"]) for n in nodes] == [
        (f"{name}-1", "primary", "running")
    ]
    assert customer("databases", "nodes", name).stdout.split()[:4] == [
        "ID",
        "ROLE",
        "STATUS",
        "LAG",
    ]

    # Deleting asks for the name; a wrong answer deletes nothing.
    wrong = customer("databases", "delete", name, stdin="dcp-db-other\n", code=2)
    assert "not deleted" in wrong.stderr
    assert customer.json("databases", "show", name)["status"] == "Running"
    delete_and_wait(customer, name)
    assert name in customer.fails(4, "databases", "show", name)


def test_create_for_people(customer: Dcp) -> None:
    """Without -o json: the password once (its warning on stderr), then how to connect."""
    name = fresh_name()
    made = customer("databases", "create", name, "--plan", "micro", "--no-backups", "--wait")
    assert "shown only now" in made.stderr
    fields = dict(line.split(":", 1) for line in made.stdout.splitlines())
    assert fields["name"].strip() == name
    assert len(fields["password"].strip()) >= 16
    assert fields["port"].strip().isdigit() and fields["user"].strip() == "dbadmin"
    assert fields["uri"].strip().startswith("postgresql://dbadmin@")
    assert customer.json("databases", "show", name)["backups"] is False
    plans = customer.json("databases", "plans")
    assert "micro" in [p["id"] for p in plans]
    assert customer("databases", "plans").stdout.split()[:5] == [
        "ID",
        "NAME",
        "VCPUS",
        "MEMORY",
        "STORAGE",
    ]
    delete_and_wait(customer, name)


def test_errors_name_what_was_wrong(customer: Dcp) -> None:
    name = fresh_name()
    assert "'huge'" in customer.fails(6, "databases", "create", name, "--plan", "huge")
    assert "replicas" in customer.fails(
        6, "databases", "create", name, "--plan", "micro", "--replicas", "3"
    )
    assert customer.json("databases", "list") == []
    for command in ("show", "nodes", "connect", "reset-password", "delete"):
        said = customer.fails(4, "databases", command, "no-such-db", stdin="no-such-db\n")
        assert "'no-such-db'" in said, command
