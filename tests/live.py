"""A live Nexq server for tests: a real process on free loopback ports with its own data dir."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import psycopg
from botocore.config import Config

from nexq.compute.host import Host
from nexq.core import postgres
from nexq.databases.cluster import Cluster
from nexq.databases.engine import Engine
from tests import forked_cli

REGION = "us-east-1"
# A request rate no client of the tests can reach (one server answers ~2,000 requests/s on
# the 2-core CI machine, docs/architecture.md): a limit raised to it never refuses, yet every
# request still goes through the rate limiter, unlike "unlimited".
BURST = 100_000


# The ports of the servers tests start: below the kernel's ephemeral range (32768 and up),
# where it picks the local ports of outgoing connections. A port taken from that range was
# sometimes given to a connection to PostgreSQL or Ceph between its choice here and the
# server's bind ("Address already in use", 5 errors in one cluster run). Each xdist worker
# draws from a slice of its own, and never hands out a port twice.
PORTS = range(20000, 32000)
_issued: set[int] = set()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), index + 1)
    span = len(PORTS) // count
    mine = range(PORTS.start + index * span, PORTS.start + (index + 1) * span)
    for _ in range(1000):
        port = random.choice(mine)
        if port in _issued:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: another program's, or a server of an earlier test
        _issued.add(port)
        return port
    raise RuntimeError(f"no free port in {mine}")


# What the command line run against a live server's data dir must also be told, as an
# operator's environment would tell it, when that server's metadata is in PostgreSQL or its
# bytes in Ceph (by data dir): the database, the blobs, the master key nodes share.
ENGINES: dict[Path, dict[str, str]] = {}
CLUSTER_SETTINGS = (
    "NEXQ_DATABASE_URL",
    "NEXQ_BLOBS_URL",
    "NEXQ_MASTER_KEY",
    "NEXQ_MASTER_KEY_FILE",
)


# Managed databases are PostgreSQL servers that outlive Nexq (on purpose): every folder of
# them a test made is stopped and removed when the test process ends, whatever happened.
DATABASE_ROOTS: list[Path] = []
DATABASE_PORTS = 16  # a highly available database of three nodes takes 10


def remove_database_root(root: Path) -> None:
    engine = Engine(root)
    for database_id in engine.database_ids():
        Cluster(engine).remove(database_id)  # a single server, or the nodes of one
    shutil.rmtree(root, ignore_errors=True)


@atexit.register
def _remove_databases() -> None:
    for root in DATABASE_ROOTS:
        with contextlib.suppress(Exception):
            remove_database_root(root)


# Instances' QEMU machines outlive Nexq too: each is stopped when the test process ends.
COMPUTE_ROOTS: list[Path] = []
COMPUTE_PORTS = 8


def remove_instance_root(root: Path) -> None:
    host = Host(root)
    for instance_id in host.instance_ids():
        with contextlib.suppress(Exception):
            host.remove(instance_id)


@atexit.register
def _remove_instances() -> None:
    for root in COMPUTE_ROOTS:
        remove_instance_root(root)


def _alive(pid: int) -> bool:
    """Running: neither gone nor a zombie (which holds no socket any more). Every thread
    counts: a killed process whose main thread is a zombie still holds its sockets while
    another of its threads finishes a system call it cannot leave (a sync to disk, a loop
    device being set up), and a server started meanwhile is answered by them."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        if stat.rpartition(")")[2].split()[0] != "Z":
            return True
    return False


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def nexq(*args: str, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the ``nexq`` command line against ``data_dir`` (and its server's database), as
    ``python -m nexq.cli.nexq`` in a process forked from one that imported it already
    (tests/forked_cli.py: about 0.2 s a command instead of 0.5 to 0.8 s)."""
    env = {**os.environ, **ENGINES.get(data_dir, {})}
    done = forked_cli.run([*args, "--data-dir", str(data_dir)], env, timeout=60)
    if check:
        done.check_returncode()
    return done


def nexq_json(*args: str, data_dir: Path) -> Any:
    return json.loads(nexq(*args, data_dir=data_dir).stdout)


@dataclass
class Key:
    """An access key pair as printed by ``nexq admin access-key create``."""

    access_key_id: str
    secret_access_key: str
    account: str


@dataclass
class LiveServer:
    """A running ``nexq serve``."""

    data_dir: Path
    s3_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    registry_port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    process: forked_cli.Spawned | subprocess.Popen[bytes] | None = None
    scheme: str = "http"
    env: dict[str, str] = field(default_factory=dict)  # extra NEXQ_* settings
    # Metadata in this PostgreSQL database (migrated with `nexq admin migrate` before the
    # first start, unless ``migrated``: another node of its cluster did) instead of SQLite in
    # the data dir.
    database_url: str | None = None
    migrated: bool = False
    databases_dir: Path | None = None  # the managed PostgreSQL clusters' folder
    database_ports: list[int] = field(default_factory=list)
    backup_port: int = 0  # the databases' backup listener (S3 over TLS on loopback)
    compute_ports: list[int] = field(default_factory=list)  # instances' SSH ports

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.s3_port}"

    def databases_settings(self) -> dict[str, str]:
        """Where this server's databases go: a folder the postgres OS user can reach (the
        tests' temporary folders are private to root) and ports of their own."""
        if self.databases_dir is None:
            self.databases_dir = Path(tempfile.mkdtemp(prefix="nexq-databases-", dir="/var/tmp"))
            self.databases_dir.chmod(0o711)
            DATABASE_ROOTS.append(self.databases_dir)
            self.database_ports = [free_port() for _ in range(DATABASE_PORTS)]
            self.backup_port = free_port()
        if not self.compute_ports:
            self.compute_ports = [free_port() for _ in range(COMPUTE_PORTS)]
            COMPUTE_ROOTS.append(self.data_dir / "compute")
        return {
            "NEXQ_DATABASES_DIR": str(self.databases_dir),
            "NEXQ_DATABASES_PORTS": ",".join(map(str, self.database_ports)),
            "NEXQ_DATABASES_BACKUP_PORT": str(self.backup_port),
            "NEXQ_COMPUTE_PORTS": ",".join(map(str, self.compute_ports)),
        }

    def remove_databases(self) -> None:
        """Stop and remove every database cluster the server made (they outlive it)."""
        if self.databases_dir is not None:
            remove_database_root(self.databases_dir)

    def remove_instances(self) -> None:
        """Stop every instance the server launched and delete its disk. Their machines
        outlive the server too, and are otherwise stopped when the test process ends, which
        in the gate is the end of the phase: until then each guest keeps its memory (256 MiB
        for a nano) and a little CPU from the tests that run after it. Call it once the
        server is stopped (a running one starts a guest that died again)."""
        if self.compute_ports:
            remove_instance_root(self.data_dir / "compute")

    @property
    def log_path(self) -> Path:
        """Where the server's output goes (the tests' reports quote its end on a failure)."""
        return self.data_dir.parent / f"server-{self.s3_port}.log"

    def last_words(self, lines: int = 60) -> str:
        """The end of the server's log and of the logs of the databases it runs (PostgreSQL's
        and pgBackRest's): what a failed test's report shows of the server's side."""
        parts = [_tail(self.log_path, lines)]
        if self.databases_dir is not None:
            logs = sorted(
                self.databases_dir.glob("**/log/*"),
                key=lambda path: path.stat().st_mtime if path.exists() else 0.0,
            )
            parts += [_tail(path, 15) for path in logs[-4:]]
        return "\n".join(part for part in parts if part)

    def start(self) -> None:
        """Start ``nexq serve`` on the tiers Nexq ships, written to the data dir on first start
        (new accounts are Free; the billing tests add a priced tier beside them). A test
        raises the limits it needs account by account (``raise_limits``), never by changing
        the installation's default tier."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # `nexq admin` on this data dir reaches the same databases as the server.
        ENGINES.setdefault(self.data_dir, {}).update(self.databases_settings())
        engines = {k: v for k, v in self.env.items() if k in CLUSTER_SETTINGS}
        if self.database_url is not None:
            engines["NEXQ_DATABASE_URL"] = self.database_url
        if engines and "NEXQ_DATABASE_URL" not in ENGINES[self.data_dir]:
            ENGINES[self.data_dir].update(engines)
            if self.database_url is not None and not self.migrated:
                nexq("admin", "migrate", data_dir=self.data_dir)
        self.process = forked_cli.spawn(
            [
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--s3-port",
                str(self.s3_port),
                "--api-port",
                str(self.api_port),
                "--registry-port",
                str(self.registry_port),
                *self.extra,
            ],
            {
                **os.environ,
                **self.databases_settings(),
                # A test's server stops within seconds whatever its clients left open.
                "NEXQ_SHUTDOWN_SECONDS": "3",
                **self.env,
                **({"NEXQ_DATABASE_URL": self.database_url} if self.database_url else {}),
            },
            self.log_path,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nexq serve exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.s3_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nexq serve did not start listening within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def pids(self) -> list[int]:
        """The server's main process (its workers are its children)."""
        return [self.process.pid] if self.process is not None else []

    def kill(self) -> None:
        """kill -9: no chance to flush or clean up. Returns once the workers are gone too
        (they die with the main process, a moment later): until then they still hold the
        ports, and a server started at once could be answered by them."""
        assert self.process is not None
        workers = _children(self.process.pid)
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers {workers} outlived their killed server")
            time.sleep(0.02)

    def sql(self, statement: str, *parameters: Any) -> list[Any]:
        """Run one statement (``?`` placeholders) on the server's metadata database, SQLite
        or PostgreSQL: for tests that set a state no API can (a ticket closed weeks ago)."""
        if self.database_url is None:
            with contextlib.closing(sqlite3.connect(self.data_dir / "meta.db")) as conn, conn:
                return conn.execute(statement, parameters).fetchall()
        with psycopg.connect(self.database_url, autocommit=True) as pg:
            cursor = pg.execute(postgres.statement(statement), parameters)
            return cursor.fetchall() if cursor.description is not None else []

    def stored_bytes(self) -> bytes:
        """Every byte the metadata database keeps on disk (its files, and its log)."""
        if self.database_url is None:
            return b"".join(p.read_bytes() for p in self.data_dir.glob("meta.db*"))
        with psycopg.connect(self.database_url, autocommit=True) as pg:
            pg.execute("CHECKPOINT")  # what is committed reaches the table files too
            row = pg.execute(
                "SELECT oid FROM pg_database WHERE datname = current_database()"
            ).fetchone()
            assert row is not None
        cluster = Path(parse_qs(urlsplit(self.database_url).query)["host"][0]) / "data"
        files = [*(cluster / "base" / str(row[0])).rglob("*"), *(cluster / "pg_wal").glob("*")]
        return b"".join(f.read_bytes() for f in files if f.is_file())

    def account(self, email: str, password: str = "correct horse battery") -> str:
        nexq_json(
            "admin",
            "account",
            "create",
            "--email",
            email,
            "--password",
            password,
            data_dir=self.data_dir,
        )
        return email

    def raise_limits(self, email: str, **limits: int | str) -> dict[str, Any]:
        """Operator overrides of the account's limits (``nexq admin account limits --set``),
        e.g. ``raise_limits(email, buckets=50, s3_write_rps=BURST)``; a value is a number or
        "unlimited". Call it right after creating the account, before any request: servers
        keep an account's limits for up to 2 s. Returns the effective limits."""
        args = ["admin", "account", "limits", "--account", email]
        for name, value in limits.items():
            args += ["--set", f"{name}={value}"]
        result: dict[str, Any] = nexq_json(*args, data_dir=self.data_dir)
        return result

    @property
    def api_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.api_port}"

    def api_key(self, account: str, name: str = "test", scopes: tuple[str, ...] = ()) -> str:
        """A token from ``nexq admin api-key create`` (no scopes: every scope)."""
        args = ["admin", "api-key", "create", "--account", account, "--name", name]
        for scope in scopes:
            args += ["--scope", scope]
        return str(nexq_json(*args, data_dir=self.data_dir)["token"])

    def key(self, account: str, label: str = "test", buckets: list[str] | None = None) -> Key:
        args = ["admin", "access-key", "create", "--account", account, "--label", label]
        for bucket in buckets or []:
            args += ["--bucket", bucket]
        out = nexq_json(*args, data_dir=self.data_dir)
        return Key(out["access_key_id"], out["secret_access_key"], account)

    def client(self, key: Key, **config: Any) -> Any:
        params: dict[str, Any] = {
            "s3": {"addressing_style": "path"},
            "retries": {"max_attempts": 1},
        }
        params.update(config)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            region_name=REGION,
            config=Config(**params),
            verify=False,
        )


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return f"--- {path} (last {lines} lines)\n" + "\n".join(text.splitlines()[-lines:])
