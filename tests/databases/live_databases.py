"""Helpers of the Databases suites: an account's API client, a database made and waited for,
and real connections to it (psycopg over TLS, verified against the installation's CA)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.live import BURST, LiveServer

_names = itertools.count()
UNLIMITED = "unlimited"


def fresh(kind: str = "db") -> str:
    return f"{kind}-{os.getpid()}-{next(_names)}"


def account_api(server: LiveServer, raise_limits: bool = True) -> httpx.Client:
    """A new account's API client (every scope); its database limits raised unless told."""
    email = server.account(f"{fresh('dbuser')}@example.com")
    if raise_limits:
        server.raise_limits(
            email,
            api_rps=BURST,
            databases=6,
            database_replicas=2,
            database_vcpus=UNLIMITED,
            database_memory_bytes=UNLIMITED,
            database_storage_bytes=UNLIMITED,
        )
    token = server.api_key(email)
    return httpx.Client(
        base_url=server.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def wait_for(
    check: Callable[[], Any], seconds: float = 60.0, what: str | Callable[[], str] = ""
) -> Any:
    """Poll ``check`` until it returns something true; that value. ``what`` names what was
    awaited in the failure; a callable is asked at the failure, to tell the state then."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"not within {seconds} s: {said or check}")
        time.sleep(0.1)


def status_of(api: httpx.Client, name: str) -> dict[str, Any]:
    answer = api.get(f"/v1/databases/{name}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def wait_status(api: httpx.Client, name: str, status: str, seconds: float = 60.0) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = status_of(api, name)
        assert found["status"] != "Error" or status == "Error", found["reason"]
        return found if found["status"] == status else None

    def now() -> str:
        found = status_of(api, name)
        return f"{name} {status} (it is {found['status']}: {found.get('reason') or 'no reason'})"

    result: dict[str, Any] = wait_for(reached, seconds, now)
    return result


def create(
    api: httpx.Client,
    name: str | None = None,
    plan: str = "micro",
    seconds: float = 60.0,
    **fields: Any,
) -> tuple[dict[str, Any], str]:
    """A new Running database and its owner's password."""
    name = name or fresh()
    answer = api.post("/v1/databases", json={"name": name, "plan": plan, **fields})
    assert answer.status_code == 201, answer.text
    password = answer.json()["password"]
    return wait_status(api, name, "Running", seconds), password


def ca_file(api: httpx.Client, folder: Path) -> Path:
    answer = api.get("/v1/databases/ca")
    assert answer.status_code == 200, answer.text
    path = folder / "nexq-databases-ca.pem"
    path.write_text(answer.text)
    return path


def connect(
    database: dict[str, Any], password: str, ca: Path, direct: bool = False, **options: Any
) -> psycopg.Connection[Any]:
    """The owner's session, as a customer's client opens it (TLS, server verified);
    ``direct``: through the URI that lists every node, as libpq clients may."""
    conn = database["connection"]
    if direct:
        return psycopg.connect(
            conn["direct_uri"],
            password=password,
            sslrootcert=str(ca),
            connect_timeout=10,
            autocommit=True,
            **options,
        )
    return psycopg.connect(
        host=conn["host"],
        port=conn["port"],
        dbname=conn["database"],
        user=conn["user"],
        password=password,
        sslmode="verify-full",
        sslrootcert=str(ca),
        connect_timeout=10,
        autocommit=True,
        **options,
    )


def delete(api: httpx.Client, name: str) -> None:
    answer = api.delete(f"/v1/databases/{name}")
    assert answer.status_code == 202, answer.text
    wait_for(lambda: api.get(f"/v1/databases/{name}").status_code == 404, 60, f"{name} deleted")


def postmaster_pid(server: LiveServer, database_id: str) -> int:
    assert server.databases_dir is not None
    pid_file = server.databases_dir / database_id / "data" / "pgdata" / "postmaster.pid"
    return int(pid_file.read_text().split("\n", 1)[0])


def database_id(server: LiveServer, name: str) -> str:
    rows = server.sql(
        "SELECT id FROM databases_instances WHERE name = ? AND status <> 'Deleted'", name
    )
    assert len(rows) == 1, rows
    return str(rows[0][0])


def delete_all(api: httpx.Client) -> None:
    """Delete every database of the account (what a failed test left)."""
    for database in api.get("/v1/databases").json():
        if database["status"] != "Deleting":
            api.delete(f"/v1/databases/{database['name']}")
    wait_for(lambda: api.get("/v1/databases").json() == [], 60, "every database deleted")


class Writer(threading.Thread):
    """A client that inserts one row per commit through the database's connection string,
    reconnecting after an error, and remembers every commit the server acknowledged."""

    def __init__(
        self,
        database: dict[str, Any],
        password: str,
        ca: Path,
        first: int = 0,
        direct: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.database, self.password, self.ca = database, password, ca
        self.first, self.direct = first, direct
        self.acknowledged: list[int] = []
        self.failed_at: float | None = None
        self.resumed_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        number = self.first
        while not self.stop.is_set():
            try:
                with connect(self.database, self.password, self.ca, self.direct) as session:
                    while not self.stop.is_set():
                        number += 1
                        session.execute("INSERT INTO ledger VALUES (%s)", (number,))
                        self.acknowledged.append(number)
                        if self.failed_at is not None and self.resumed_at is None:
                            self.resumed_at = time.monotonic()
            except psycopg.Error:
                if self.failed_at is None:
                    self.failed_at = time.monotonic()
                time.sleep(0.2)
