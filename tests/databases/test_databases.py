"""Managed PostgreSQL through the REST API, checked with real clients: a database is made
within seconds, reached over TLS with the password shown once, sized by its plan, private
to its account, and closed to the host (no superuser, no COPY PROGRAM)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest

from nexq.databases.engine import alive
from tests.databases.live_databases import (
    account_api,
    connect,
    create,
    database_id,
    delete,
    fresh,
    postmaster_pid,
    status_of,
    wait_for,
    wait_status,
)
from tests.live import LiveServer


def test_a_new_database_runs_within_seconds_and_takes_writes_over_tls(
    api: httpx.Client, ca: Path
) -> None:
    name = fresh()
    made = api.post("/v1/databases", json={"name": name, "plan": "micro"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "Provisioning" and len(body["password"]) >= 24
    assert body["connection"]["user"] == "dbadmin"
    running = wait_status(api, name, "Running", seconds=30)
    assert "password" not in running  # shown once, at creation
    conn = running["connection"]
    assert conn["port"] is not None and conn["port"] < 32768
    assert f":{conn['port']}/" in conn["uri"] and "sslmode=verify-full" in conn["uri"]
    with connect(running, body["password"], ca) as session:
        session.execute("CREATE TABLE orders (id int PRIMARY KEY, item text)")
        session.execute("INSERT INTO orders VALUES (1, 'tea'), (2, 'cake')")
        assert session.execute("SELECT item FROM orders ORDER BY id").fetchall() == [
            ("tea",),
            ("cake",),
        ]
        (ssl,) = session.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone() or (None,)
        assert ssl is True
        # The micro plan's 512 MiB: shared_buffers a quarter of it.
        assert session.execute("SHOW shared_buffers").fetchone() == ("128MB",)
    assert api.get(f"/v1/databases/{name}/nodes").json() == [
        {
            "id": f"{name}-1",
            "role": "primary",
            "status": "running",
            "lag_bytes": None,
            "synchronous": False,
        }
    ]
    # The psql line the console and API show works as written, from the CA's folder.
    done = subprocess.run(
        ["psql", *_psql_args(running["connection"]["psql"]), "-tAc", "SELECT count(*) FROM orders"],
        env={**os.environ, "PGPASSWORD": body["password"]},
        cwd=ca.parent,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    delete(api, name)


def _psql_args(line: str) -> list[str]:
    """The arguments of a ``psql "URI"`` line."""
    program, _, uri = line.partition(" ")
    assert program == "psql"
    return [uri.strip('"')]


def test_clients_need_tls_the_password_and_never_get_the_host(api: httpx.Client, ca: Path) -> None:
    database, password = create(api)
    conn = database["connection"]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(database, "not-the-password", ca)
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(
            host=conn["host"],
            port=conn["port"],
            dbname=conn["database"],
            user=conn["user"],
            password=password,
            sslmode="disable",
        )
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        psycopg.connect(
            host=conn["host"],
            port=conn["port"],
            dbname="postgres",
            user="postgres",
            password=password,
            sslmode="require",
        )
    with connect(database, password, ca) as session:
        assert session.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)
        for statement, refusal in (
            ("COPY (SELECT 1) TO PROGRAM 'id'", "pg_execute_server_program"),
            ("GRANT pg_execute_server_program TO dbadmin", "admin option"),
            ("GRANT pg_read_server_files TO dbadmin", "admin option"),
            ("ALTER SYSTEM SET port = 1", "permission denied"),
            ("ALTER ROLE dbadmin SUPERUSER", "must be superuser"),
            ("SELECT pg_read_file('/etc/passwd')", "permission denied"),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=refusal):
                session.execute(statement)
        # The owner's own business: databases, schemas, trusted extensions.
        session.execute("CREATE DATABASE reports")
        session.execute("CREATE EXTENSION pgcrypto")
        assert session.execute("SELECT length(gen_random_bytes(8))").fetchone() == (8,)
    delete(api, database["name"])


def test_reset_password_stops_the_old_one_at_once(api: httpx.Client, ca: Path) -> None:
    database, old = create(api)
    answer = api.post(f"/v1/databases/{database['name']}/reset-password")
    assert answer.status_code == 200, answer.text
    new = answer.json()["password"]
    assert new != old
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(database, old, ca)
    with connect(database, new, ca) as session:
        assert session.execute("SELECT current_user").fetchone() == ("dbadmin",)
    delete(api, database["name"])


def test_another_account_can_neither_see_nor_touch_a_database(
    server: LiveServer, api: httpx.Client
) -> None:
    database, _ = create(api)
    name = database["name"]
    stranger = account_api(server)
    assert stranger.get("/v1/databases").json() == []
    for method, path in (
        ("GET", f"/v1/databases/{name}"),
        ("GET", f"/v1/databases/{name}/nodes"),
        ("POST", f"/v1/databases/{name}/reset-password"),
        ("DELETE", f"/v1/databases/{name}"),
    ):
        answer = stranger.request(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
        assert name in answer.json()["detail"]
    assert status_of(api, name)["status"] == "Running"
    # The same name is free in another account.
    other, _ = create(stranger, name)
    assert other["connection"]["port"] != database["connection"]["port"]
    delete(stranger, name)
    delete(api, name)


def test_bad_input_is_refused_naming_what_is_wrong(api: httpx.Client) -> None:
    for body, words in (
        ({"name": "Bad_Name", "plan": "micro"}, "name"),
        ({"name": fresh(), "plan": "huge"}, "plan"),
        ({"name": fresh(), "plan": "micro", "replicas": 3}, "replicas"),
    ):
        answer = api.post("/v1/databases", json=body)
        assert answer.status_code in (400, 422), answer.text
        assert words in answer.text
    database, _ = create(api)
    taken = api.post("/v1/databases", json={"name": database["name"], "plan": "micro"})
    assert taken.status_code == 409 and database["name"] in taken.json()["detail"]
    delete(api, database["name"])


def test_the_tier_limits_are_named_when_refused(server: LiveServer) -> None:
    free = account_api(server, raise_limits=False)
    answer = free.post("/v1/databases", json={"name": fresh(), "plan": "small"})
    assert answer.status_code == 403, answer.text
    assert "database_memory_bytes" in answer.text or "memory" in answer.json()["detail"]
    # The Free tier has no high availability.
    replicated = free.post("/v1/databases", json={"name": fresh(), "plan": "micro", "replicas": 1})
    assert replicated.status_code == 403, replicated.text
    assert replicated.json()["limit"] == "database_replicas"
    database, _ = create(free)
    second = free.post("/v1/databases", json={"name": fresh(), "plan": "micro"})
    assert second.status_code == 403 and "databases limit" in second.json()["detail"]
    delete(free, database["name"])


def test_a_crashed_server_is_started_again_with_its_data(
    server: LiveServer, api: httpx.Client, ca: Path
) -> None:
    database, password = create(api)
    with connect(database, password, ca) as session:
        session.execute("CREATE TABLE kept AS SELECT 42 AS answer")
    db_id = database_id(server, database["name"])
    crashed = postmaster_pid(server, db_id)
    os.kill(crashed, signal.SIGKILL)
    wait_for(lambda: _pid_or_none(server, db_id) not in (None, crashed), 30, "restarted")
    assert status_of(api, database["name"])["status"] == "Running"
    # Crash recovery replays the WAL before the first session is let in.
    answer = wait_for(lambda: _answer(database, password, ca), 30, "accepting sessions")
    assert answer == (42,)
    delete(api, database["name"])


def _answer(database: dict[str, object], password: str, ca: Path) -> object:
    try:
        with connect(database, password, ca) as session:
            return session.execute("SELECT answer FROM kept").fetchone()
    except psycopg.OperationalError as exc:
        # Said while the server recovers: its new postmaster.pid is written before it
        # listens ("Connection refused"), then "starting up", "not yet accepting connections".
        said = str(exc)
        assert any(s in said for s in ("Connection refused", "starting up", "not yet")), exc
        return None


def _pid_or_none(server: LiveServer, db_id: str) -> int | None:
    try:
        pid = postmaster_pid(server, db_id)
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def test_deleting_removes_the_cluster_and_its_volumes(
    server: LiveServer, api: httpx.Client
) -> None:
    database, _ = create(api)
    db_id = database_id(server, database["name"])
    assert server.databases_dir is not None
    folder = server.databases_dir / db_id
    pid = postmaster_pid(server, db_id)
    delete(api, database["name"])
    wait_for(lambda: not folder.exists(), 120, "folder removed")
    assert not alive(pid)
    assert str(folder) not in Path("/proc/mounts").read_text()


def test_a_database_deleted_while_it_is_made_is_gone_for_good(
    server: LiveServer, api: httpx.Client
) -> None:
    name = fresh()
    assert api.post("/v1/databases", json={"name": name, "plan": "micro"}).status_code == 201
    deleted = api.delete(f"/v1/databases/{name}")
    assert deleted.status_code == 202, deleted.text
    # Whatever step making it had reached, it ends Deleted, never Running again.
    wait_for(lambda: api.get(f"/v1/databases/{name}").status_code == 404, 60, "deleted")
    rows = server.sql("SELECT status FROM databases_instances WHERE name = ?", name)
    assert rows == [("Deleted",)]
    assert server.databases_dir is not None
    wait_for(lambda: not list(server.databases_dir.glob("db-*")) or _none_live(server), 120, "")


def _none_live(server: LiveServer) -> bool:
    assert server.databases_dir is not None
    live = {
        r[0] for r in server.sql("SELECT id FROM databases_instances WHERE status <> 'Deleted'")
    }
    return {p.name for p in server.databases_dir.glob("db-*")} <= live


def test_the_owner_makes_roles_through_the_nexq_functions_and_only_its_own(
    api: httpx.Client, ca: Path
) -> None:
    database, password = create(api, backups=False)
    with connect(database, password, ca) as session:
        session.execute("SELECT nexq.create_role('reporting', 'a-long-report-password')")
        session.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporting")
        with pytest.raises(psycopg.errors.DuplicateObject, match="exists already"):
            session.execute("SELECT nexq.create_role('reporting', 'x')")
        for name in ("postgres", "pg_monitor2", "dbadmin", "Bad-Name"):
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="role name"):
                session.execute("SELECT nexq.create_role(%s, 'x')", (name,))
        for call in (
            "SELECT nexq.set_role_password('postgres', 'x')",
            "SELECT nexq.drop_role('postgres')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not made with"):
                session.execute(call)
        # The functions' own helpers are not the owner's to call.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            session.execute("SELECT nexq.made_by_owner('reporting')")
    as_reporting = {**database, "connection": {**database["connection"], "user": "reporting"}}
    with connect(as_reporting, "a-long-report-password", ca) as session:
        assert session.execute("SELECT current_user").fetchone() == ("reporting",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            session.execute("CREATE ROLE sneaky")
    with connect(database, password, ca) as session:
        session.execute("SELECT nexq.set_role_password('reporting', 'another-password-here')")
        session.execute("REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM reporting")
        session.execute("SELECT nexq.drop_role('reporting')")
        assert session.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = 'reporting'"
        ).fetchone() == (0,)
    delete(api, database["name"])
