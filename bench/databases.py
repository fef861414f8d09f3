"""Databases (managed PostgreSQL 15) side by side with a bare PostgreSQL 15 that the bench
makes itself, in one run on this machine:

1. Create -> Running of a micro database through the REST API, backups off and on (and with
   them on, until the first FULL backup is listed), against ``initdb`` + ``pg_ctl start``
   (with WAL archiving, and pgBackRest's stanza-create + full backup to a local repository);
2. pgbench TPS (TPC-B-like and select-only, -s 10, -c 8 -j 2) on a small database over TLS,
   against a bare cluster given the plan's shared_buffers and work_mem, reached over TCP in
   clear and with TLS (a self-made certificate): TLS's cost apart from Nexq's;
3. restoring a ~1 GiB database from its backups into a new database, against
   pg_dump | pg_restore and pg_basebackup into bare clusters.

    .venv/bin/python bench/databases.py [--rounds 3] [--seconds 20] [--out FILE.md]

As root (Nexq's volumes are loop-mounted; the bare clusters run as the postgres OS user
through runuser, in a folder under /var/tmp it can reach). Everything it made is removed at
the end: Nexq's databases (the server stopped, then each cluster), the bare clusters, and its
temporary folders. 5 to 7 minutes on 2 (busy) cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pwd
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.databases.live_databases import (  # noqa: E402
    account_api,
    ca_file,
    connect,
    database_id,
    delete,
)
from tests.live import LiveServer, free_port  # noqa: E402

BIN = Path("/usr/lib/postgresql/15/bin")  # Debian's PostgreSQL 15, as Nexq runs it
POLL = 0.05  # seconds between two GETs of a database's state
ROWS_PER_SCALE = 100_000  # pgbench_accounts rows per unit of -s

Figures = dict[str, list[float]]


# --------------------------------------------------------------------------- helpers


def as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the postgres OS user when the bench is root (PostgreSQL refuses
    root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> str:
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
        cwd="/",  # the postgres OS user cannot reach root's folders
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-600:]
        raise RuntimeError(f"{Path(command[0]).name} {command[1:4]} failed: {detail}")
    return done.stdout


def own(path: Path) -> None:
    """Give ``path`` to the postgres OS user (when the bench is root)."""
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def write_owned(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text)
    path.chmod(mode)
    own(path)


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def poll(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Ask ``check`` every POLL seconds until it answers something true; that answer."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {seconds:.0f} s: {what}")
        time.sleep(POLL)


# --------------------------------------------------------------------------- bare clusters


class BareCluster:
    """A bare PostgreSQL 15 cluster in a folder of its own under the bench's work folder:
    ``initdb``, the settings the bench gives it, ``pg_ctl start``; reached over TCP on
    127.0.0.1 as postgres with a SCRAM password, or on its Unix socket by peer."""

    def __init__(self, work: Path, name: str) -> None:
        self.root = work / name
        self.root.mkdir(mode=0o700)
        own(self.root)
        self.pgdata = self.root / "pgdata"
        self.sockets = self.root / "run"
        self.sockets.mkdir(mode=0o700)
        own(self.sockets)
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.certificate: Path | None = None

    def initdb(self) -> None:
        secret = self.root / "password"
        write_owned(secret, self.password + "\n")
        run(
            as_postgres(
                [
                    str(BIN / "initdb"), "--pgdata", str(self.pgdata), "--username", "postgres",
                    "--auth-local", "peer", "--auth-host", "scram-sha-256",
                    f"--pwfile={secret}", "--encoding", "UTF8", "--locale", "C.UTF-8",
                ]
            )
        )  # fmt: skip
        secret.unlink()

    def configure(self, **settings: str) -> None:
        """Write the bench's settings (each call replaces the last) beside initdb's."""
        values = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.sockets),
            **settings,
        }
        lines = [f"{name} = '{value}'" for name, value in values.items()]
        write_owned(self.pgdata / "bench.conf", "\n".join(lines) + "\n")
        main = self.pgdata / "postgresql.conf"
        if "include = 'bench.conf'" not in main.read_text():
            with main.open("a") as conf:  # appended: the file stays the postgres user's
                conf.write("\ninclude = 'bench.conf'\n")

    def tls_settings(self) -> dict[str, str]:
        """A self-signed certificate for 127.0.0.1 (EC P-256, as Nexq's), and the settings
        that turn TLS on with it."""
        key, certificate = self.root / "server.key", self.root / "server.crt"
        run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                "-out", str(certificate),
            ]
        )  # fmt: skip
        for path, mode in ((key, 0o600), (certificate, 0o644)):
            path.chmod(mode)
            own(path)
        self.certificate = certificate
        return {
            "ssl": "on",
            "ssl_cert_file": str(certificate),
            "ssl_key_file": str(key),
            "ssl_min_protocol_version": "TLSv1.2",
        }

    def start(self, action: str = "start") -> None:
        """``pg_ctl start`` (or ``restart``), returning once the server accepts connections."""
        run(
            as_postgres(
                [
                    str(BIN / "pg_ctl"), action, "--pgdata", str(self.pgdata), "--wait",
                    "--timeout", "120", "--log", str(self.root / "server.log"), "--silent",
                ]
            )
        )  # fmt: skip

    def promoted(self) -> bool:
        """Whether the server finished recovery (a restored cluster promotes itself)."""
        try:
            return self.psql("SELECT pg_is_in_recovery()") == "f"
        except RuntimeError:
            return False  # not accepting connections yet

    def psql(self, statement: str, database: str = "postgres") -> str:
        return run(
            as_postgres(
                [
                    str(BIN / "psql"), "-h", str(self.sockets), "-p", str(self.port),
                    "-U", "postgres", "-d", database, "-Atqc", statement,
                ]
            )
        ).strip()  # fmt: skip

    def client_env(self, database: str, tls: bool = False) -> dict[str, str]:
        """libpq's settings for a client over TCP, in clear or with TLS (verify-full)."""
        env = {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "PGPASSWORD": self.password,
            "PGDATABASE": database,
            "PGSSLMODE": "disable",
        }
        if tls:
            assert self.certificate is not None, "tls_settings() first"
            env.update(PGSSLMODE="verify-full", PGSSLROOTCERT=str(self.certificate))
        return env

    def remove(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                run(
                    as_postgres(
                        [str(BIN / "pg_ctl"), "stop", "--pgdata", str(self.pgdata), "--mode",
                         "immediate", "--wait", "--silent"]
                    ),
                    timeout=60,
                )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def archive_to_local_repository(cluster: BareCluster) -> tuple[Path, dict[str, str]]:
    """pgBackRest for ``cluster`` with a repository on this disk, configured as Nexq
    configures its own (lz4, fast start): its configuration file, and the server's settings
    that archive the WAL to it."""
    config = cluster.root / "pgbackrest.conf"
    write_owned(
        config,
        f"""[global]
repo1-path={cluster.root / "repository"}
log-path={cluster.root}
lock-path={cluster.root}
log-level-console=warn
log-level-stderr=error
start-fast=y
compress-type=lz4

[bench]
pg1-path={cluster.pgdata}
pg1-port={cluster.port}
pg1-socket-path={cluster.sockets}
pg1-user=postgres
""",
    )
    return config, {
        "archive_mode": "on",
        "archive_command": f"pgbackrest --config={config} --stanza=bench archive-push %p",
        "archive_timeout": "60",
    }


# --------------------------------------------------------------------------- Nexq


class Nexq:
    """The bench's Nexq server, an account whose database limits are raised, its API client
    and the databases' CA certificate."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.live = LiveServer(work / "nexq")
        self.api: httpx.Client | None = None
        self.ca = work / "nexq-databases-ca.pem"

    def start(self) -> None:
        self.live.start()
        self.api = account_api(self.live)
        self.ca = ca_file(self.api, self.work)

    @property
    def client(self) -> httpx.Client:
        assert self.api is not None, "start() first"
        return self.api

    def create(
        self,
        name: str,
        plan: str,
        backups: bool,
        restore: str | None = None,
        replicas: int = 0,
    ) -> tuple[dict[str, Any], str, float]:
        """A database made through the REST API: its JSON once Running, its owner's password,
        and the seconds from the POST to Running."""
        body: dict[str, Any] = {
            "name": name,
            "plan": plan,
            "backups": backups,
            "replicas": replicas,
        }
        if restore is not None:
            body["restore"] = {"source": restore}
        began = time.perf_counter()
        answer = self.client.post("/v1/databases", json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"POST /v1/databases {name}: {answer.status_code} {answer.text}")
        password = str(answer.json()["password"])
        found = poll(lambda: self._running(name), 600, f"{name} Running")
        return found, password, time.perf_counter() - began

    def _running(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] = self.client.get(f"/v1/databases/{name}").json()
        if found["status"] == "Error":
            raise RuntimeError(f"{name}: Error: {found['reason']}")
        return found if found["status"] == "Running" else None

    def full_backups(self, name: str) -> list[dict[str, Any]]:
        answer = self.client.get(f"/v1/databases/{name}/backups")
        if answer.status_code != 200:
            raise RuntimeError(f"GET backups of {name}: {answer.status_code} {answer.text}")
        return [b for b in answer.json()["backups"] if b["type"] == "FULL"]

    def client_env(self, database: dict[str, Any], password: str) -> dict[str, str]:
        """libpq's settings for a customer's client: TLS, the server verified by the CA."""
        conn = database["connection"]
        return {
            **os.environ,
            "PGHOST": str(conn["host"]),
            "PGPORT": str(conn["port"]),
            "PGUSER": str(conn["user"]),
            "PGPASSWORD": password,
            "PGDATABASE": str(conn["database"]),
            "PGSSLMODE": "verify-full",
            "PGSSLROOTCERT": str(self.ca),
        }

    def query(self, database: dict[str, Any], password: str, statement: str) -> Any:
        with connect(database, password, self.ca) as session:
            row = session.execute(statement).fetchone()
        assert row is not None
        return row[0]

    def delete(self, name: str) -> None:
        delete(self.client, name)

    def stop(self) -> None:
        """Stop the server, then every database cluster it made (they outlive it)."""
        if self.api is not None:
            self.api.close()
        self.live.stop()
        self.live.remove_databases()


# --------------------------------------------------------------------------- 1. creation


def nexq_creation(nexq: Nexq, n: int) -> dict[str, float]:
    """Create -> Running of a micro database with backups off, then of one with backups on
    and on until its first FULL backup is listed; each deleted before the next."""
    name = f"bench-plain-{n}"
    _, _, plain = nexq.create(name, "micro", backups=False)
    nexq.delete(name)
    name = f"bench-backed-{n}"
    began = time.perf_counter()
    _, _, backed = nexq.create(name, "micro", backups=True)
    poll(lambda: nexq.full_backups(name), 300, f"{name}'s first FULL backup")
    first_full = time.perf_counter() - began
    nexq.delete(name)
    return {"nexq_create": plain, "nexq_create_backups": backed, "nexq_first_full": first_full}


def bare_creation(work: Path, n: int) -> dict[str, float]:
    """initdb + pg_ctl start; then the same with WAL archived by pgBackRest, and on until
    its first full backup is in a repository on the local disk."""
    figures: dict[str, float] = {}
    bare = BareCluster(work, f"create-{n}")
    try:
        began = time.perf_counter()
        bare.initdb()
        bare.configure()
        bare.start()
        figures["bare_create"] = time.perf_counter() - began
    finally:
        bare.remove()
    archived = BareCluster(work, f"archived-{n}")
    try:
        began = time.perf_counter()
        archived.initdb()
        config, archiving = archive_to_local_repository(archived)
        archived.configure(**archiving)
        archived.start()
        figures["bare_create_archive"] = time.perf_counter() - began
        for command in (["stanza-create"], ["backup", "--type=full"]):
            run(as_postgres(["pgbackrest", f"--config={config}", "--stanza=bench", *command]))
        figures["bare_first_full"] = time.perf_counter() - began
    finally:
        archived.remove()
    return figures


def creation(nexq: Nexq, work: Path, rounds: int) -> Figures:
    """Create -> Running (and -> the first FULL backup) against initdb + pg_ctl start;
    every other round the peer goes first."""
    figures: Figures = {}
    for n in range(rounds):
        steps: list[Callable[[], dict[str, float]]] = [
            lambda: nexq_creation(nexq, n),  # noqa: B023
            lambda: bare_creation(work, n),  # noqa: B023
        ]
        for step in steps if n % 2 == 0 else steps[::-1]:
            for key, value in step().items():
                figures.setdefault(key, []).append(value)
        print("create", n, {k: round(v[-1], 2) for k, v in figures.items()}, flush=True)
    return figures


# --------------------------------------------------------------------------- 2. pgbench


def pgbench(env: dict[str, str], *args: str) -> str:
    return run([str(BIN / "pgbench"), *args], env=env)


def tps(env: dict[str, str], *args: str) -> float:
    """pgbench's TPS (without the initial connection time)."""
    out = pgbench(env, *args)
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    if found is None:
        raise RuntimeError(f"no TPS in pgbench's output: {out[-400:]}")
    return float(found.group(1))


def throughput(
    nexq: Nexq, work: Path, scale: int, seconds: int, rounds: int, backups: bool
) -> tuple[Figures, dict[str, str]]:
    """pgbench on a small database against a bare cluster with the same memory settings."""
    figures: Figures = {}
    name = "bench-pgbench"
    database, password, _ = nexq.create(name, "small", backups=backups)
    if backups:  # the first FULL backup is taken at once: not during the measurement
        poll(lambda: nexq.full_backups(name), 300, f"{name}'s first FULL backup")
    settings = {
        setting: str(nexq.query(database, password, f"SHOW {setting}"))
        for setting in ("shared_buffers", "work_mem")
    }
    bare = BareCluster(work, "pgbench")
    try:
        bare.initdb()
        bare.configure(**settings, **bare.tls_settings())
        bare.start()
        bare.psql("CREATE DATABASE bench")
        targets = {
            "nexq": nexq.client_env(database, password),
            "bare": bare.client_env("bench"),
            "bare_tls": bare.client_env("bench", tls=True),
        }
        for target in ("nexq", "bare"):
            figures[f"{target}_init"] = [
                timed(lambda: pgbench(targets[target], "-i", "-q", "-s", str(scale)))  # noqa: B023
            ]
        for n in range(rounds):
            order = list(targets) if n % 2 == 0 else list(targets)[::-1]
            for mode, extra in (("tpcb", ()), ("select", ("-S",))):
                for target in order:
                    rate = tps(targets[target], "-c", "8", "-j", "2", "-T", str(seconds), *extra)
                    figures.setdefault(f"{target}_{mode}", []).append(rate)
                    print("pgbench", n, target, mode, round(rate, 1), flush=True)
    finally:
        bare.remove()
        nexq.delete(name)
    return figures, settings


# --------------------------------------------------------------------------- 3. restore


def pgbackrest_seconds(log: Path, command: str) -> float | None:
    """How long pgBackRest's last ``command`` took, from its own log."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    found = re.findall(rf"{command} command end: completed successfully \((\d+)ms\)", text)
    return int(found[-1]) / 1000 if found else None


def dump_and_restore(source: dict[str, str], target: dict[str, str]) -> None:
    """pg_dump | pg_restore, the dump in the custom format, uncompressed (in a pipe)."""
    with tempfile.TemporaryFile() as dump_errors:
        dump = subprocess.Popen(
            [str(BIN / "pg_dump"), "-Fc", "-Z", "0"],
            env=source,
            stdout=subprocess.PIPE,
            stderr=dump_errors,
            stdin=subprocess.DEVNULL,
        )
        assert dump.stdout is not None
        restored = subprocess.run(
            [str(BIN / "pg_restore"), "--no-owner", "--no-privileges", "-d", target["PGDATABASE"]],
            env=target,
            stdin=dump.stdout,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        dump.stdout.close()
        dump.wait(timeout=60)
        dump_errors.seek(0)
        if dump.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {dump_errors.read().decode()[-600:]}")
    if restored.returncode != 0:
        raise RuntimeError(f"pg_restore failed: {restored.stderr[-600:]}")


def restoring(nexq: Nexq, work: Path, scale: int) -> Figures:
    """A database filled to about 1 GiB, backed up, and restored into a new one, against
    pg_dump | pg_restore and pg_basebackup of the same data into bare clusters."""
    figures: Figures = {}
    name, copy_name = "bench-source", "bench-restored"
    source, password, _ = nexq.create(name, "small", backups=True)
    poll(lambda: nexq.full_backups(name), 300, f"{name}'s first FULL backup")
    source_env = nexq.client_env(source, password)
    # Server-side generation (G): the rows are not sent through TLS one by one.
    figures["fill"] = [
        timed(lambda: pgbench(source_env, "-i", "-q", "-I", "dtGvp", "-s", str(scale)))
    ]
    figures["size_bytes"] = [
        float(nexq.query(source, password, "SELECT pg_database_size(current_database())"))
    ]
    settings = {
        setting: str(nexq.query(source, password, f"SHOW {setting}"))
        for setting in ("shared_buffers", "work_mem", "maintenance_work_mem")
    }
    print("restore: filled", {k: round(v[-1], 1) for k, v in figures.items()}, flush=True)

    before = len(nexq.full_backups(name))
    began = time.perf_counter()
    asked = nexq.client.post(f"/v1/databases/{name}/backups")
    if asked.status_code != 202:
        raise RuntimeError(f"Back up now: {asked.status_code} {asked.text}")

    def new_full() -> list[dict[str, Any]] | None:
        found = nexq.full_backups(name)
        return found if len(found) > before else None

    fulls = poll(new_full, 900, "the new FULL backup")
    figures["backup_wall"] = [time.perf_counter() - began]
    figures["backup_duration"] = [float(fulls[-1]["duration_seconds"])]
    figures["backup_size_bytes"] = [float(fulls[-1]["size"])]

    restored, new_password, seconds = nexq.create(copy_name, "small", backups=False, restore=name)
    figures["nexq_restore"] = [seconds]
    assert nexq.live.databases_dir is not None
    source_id = database_id(nexq.live, name)
    log = nexq.live.databases_dir / database_id(nexq.live, copy_name) / "log"
    pgbackrest = pgbackrest_seconds(log / f"{source_id}-restore.log", "restore")
    if pgbackrest is not None:
        figures["nexq_restore_pgbackrest"] = [pgbackrest]
    rows = nexq.query(restored, new_password, "SELECT count(*) FROM pgbench_accounts")
    if rows != scale * ROWS_PER_SCALE:
        raise RuntimeError(f"the restored copy has {rows} accounts, not {scale * ROWS_PER_SCALE}")
    nexq.delete(copy_name)
    print("restore: Nexq", {k: round(v[-1], 1) for k, v in figures.items()}, flush=True)

    dumped = BareCluster(work, "dumped")
    try:
        figures.update(logical_peer(dumped, source_env, settings, scale))
        figures.update(physical_peer(dumped, work, settings, scale))
        figures.update(pgbackrest_peer(dumped, work, settings, scale))
    finally:
        dumped.remove()
        nexq.delete(name)
    print("restore: peers", {k: round(v[-1], 1) for k, v in figures.items()}, flush=True)
    return figures


def check_branches(cluster: BareCluster, scale: int, what: str) -> None:
    branches = int(cluster.psql("SELECT count(*) FROM pgbench_branches", "bench"))
    if branches != scale:
        raise RuntimeError(f"{what} has {branches} pgbench branches, not {scale}")


def logical_peer(
    dumped: BareCluster, source: dict[str, str], settings: dict[str, str], scale: int
) -> Figures:
    """A new bare cluster filled by pg_dump | pg_restore of Nexq's source database."""
    began = time.perf_counter()
    dumped.initdb()
    dumped.configure(**settings)
    dumped.start()
    dumped.psql("CREATE DATABASE bench")
    made = time.perf_counter() - began
    dump_and_restore(source, dumped.client_env("bench"))
    figures = {"dump_cluster": [made], "dump_restore": [time.perf_counter() - began]}
    rows = int(dumped.psql("SELECT count(*) FROM pgbench_accounts", "bench"))
    if rows != scale * ROWS_PER_SCALE:
        raise RuntimeError(f"pg_restore gave {rows} accounts, not {scale * ROWS_PER_SCALE}")
    return figures


def physical_peer(dumped: BareCluster, work: Path, settings: dict[str, str], scale: int) -> Figures:
    """pg_basebackup of the bare copy into a new folder, started."""
    copied = BareCluster(work, "copied")
    try:

        def base_backup() -> None:
            run(
                as_postgres(
                    [
                        str(BIN / "pg_basebackup"), "-D", str(copied.pgdata), "-h",
                        str(dumped.sockets), "-p", str(dumped.port), "-U", "postgres",
                        "-X", "stream", "-c", "fast",
                    ]
                )
            )  # fmt: skip
            copied.configure(**settings)  # its own port and socket folder
            copied.start()

        figures = {"basebackup": [timed(base_backup)]}
        check_branches(copied, scale, "the base backup's copy")
    finally:
        copied.remove()
    return figures


def pgbackrest_peer(
    dumped: BareCluster, work: Path, settings: dict[str, str], scale: int
) -> Figures:
    """What Nexq runs, with a repository on the local disk instead of Nexq's Object Storage:
    a full backup of the bare copy (WAL archiving turned on first, untimed), then a restore
    into a new folder, started and promoted."""
    config, archiving = archive_to_local_repository(dumped)
    dumped.configure(**settings, **archiving)
    dumped.start("restart")
    pgbackrest = ["pgbackrest", f"--config={config}", "--stanza=bench"]
    run(as_postgres([*pgbackrest, "stanza-create"]))
    figures = {"local_backup_wall": [timed(lambda: run(as_postgres([*pgbackrest, "backup"])))]}
    backup = pgbackrest_seconds(dumped.root / "bench-backup.log", "backup")
    if backup is not None:
        figures["local_backup"] = [backup]
    restored = BareCluster(work, "pgbackrest-restored")
    try:
        restored.pgdata.mkdir(mode=0o700)
        own(restored.pgdata)

        def restore() -> None:
            # To the end of the archived WAL, where the server promotes itself (as Nexq's).
            run(as_postgres([*pgbackrest, f"--pg1-path={restored.pgdata}", "restore"]))
            restored.configure(**settings)  # its own port, no archiving
            restored.start()
            poll(restored.promoted, 300, "the restored bare cluster promoted")

        figures["local_restore"] = [timed(restore)]
        command = pgbackrest_seconds(dumped.root / "bench-restore.log", "restore")
        if command is not None:
            figures["local_restore_command"] = [command]
        check_branches(restored, scale, "pgBackRest's local restore")
    finally:
        restored.remove()
    return figures


# --------------------------------------------------------------------------- report


def spread(values: list[float], digits: int) -> str:
    """min / median / max, or the one value."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{low:.{digits}f} / **{mid:.{digits}f}** / {high:.{digits}f}"


# (Nexq's key, peer's key, what Nexq does, what the peer does, digits)
COMPARED = (
    ("nexq_create", "bare_create",
     "Create -> Running, micro, backups off (s)", "initdb + pg_ctl start", 2),
    ("nexq_create_backups", "bare_create_archive",
     "Create -> Running, micro, backups on (s)",
     "initdb + pg_ctl start, WAL archived by pgBackRest", 2),
    ("nexq_first_full", "bare_first_full",
     "Create -> first FULL backup listed, micro (s)",
     "the same + stanza-create + full backup (local repository, lz4)", 2),
    ("nexq_init", "bare_init",
     "pgbench -i -s {scale}, small, TLS (s)", "pgbench -i -s {scale}, TCP in clear", 1),
    ("nexq_tpcb", "bare_tpcb",
     "pgbench TPC-B-like, -c 8 -j 2 (TPS)", "the same, TCP in clear", 0),
    ("nexq_tpcb", "bare_tls_tpcb",
     "pgbench TPC-B-like, -c 8 -j 2 (TPS)", "the same, TLS (self-signed, verify-full)", 0),
    ("nexq_select", "bare_select",
     "pgbench select-only (-S), -c 8 -j 2 (TPS)", "the same, TCP in clear", 0),
    ("nexq_select", "bare_tls_select",
     "pgbench select-only (-S), -c 8 -j 2 (TPS)", "the same, TLS (self-signed, verify-full)", 0),
    ("nexq_restore", "dump_restore",
     "Restore {size} into a new database, POST -> Running (s)",
     "initdb + start + pg_dump -Fc -Z0 \\| pg_restore", 1),
    ("nexq_restore", "basebackup",
     "Restore {size} into a new database, POST -> Running (s)",
     "pg_basebackup -X stream of a bare copy + pg_ctl start", 1),
    ("nexq_restore", "local_restore",
     "Restore {size} into a new database, POST -> Running (s)",
     "pgBackRest restore from a local repository + start + promotion", 1),
    ("nexq_restore_pgbackrest", "local_restore_command",
     "  of which pgBackRest's restore command, from Nexq's Object Storage (s, its log)",
     "pgBackRest's restore command, from a local repository", 1),
    ("backup_duration", "local_backup",
     "pgBackRest full backup of the source into Nexq's Object Storage (s)",
     "pgBackRest full backup of the bare copy into a local repository", 1),
)  # fmt: skip

# Nexq's figures that have no peer: the parts of the restore.
PARTS = (
    ("fill", "pgbench -i -s {scale} -I dtGvp of the source, over TLS (s)", 1),
    ("backup_wall", "Back up now: POST .../backups -> the new FULL listed (s)", 1),
    ("backup_duration", "  of which pgBackRest's backup (duration_seconds of GET .../backups)", 1),
    ("nexq_restore_pgbackrest", "Restore: pgBackRest's restore command (its log)", 1),
    ("dump_cluster", "Peer: initdb + start + CREATE DATABASE before pg_restore (s)", 1),
)


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    return (
        f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB memory, "
        f"Linux {platform.release()}, {run([str(BIN / 'postgres'), '--version']).strip()}, "
        f"{run(['pgbackrest', 'version']).strip()}"
    )


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    figures: Figures = {
        **results["creation"],
        **results["throughput"],
        **results["restore"],
    }
    restore = results["restore"]
    lines = [
        "# Databases: Nexq's managed PostgreSQL vs a bare PostgreSQL 15, same run",
        "",
        f"{results['date']}, on {results['machine']}. Load average at the start "
        f"{results['load_before']}, at the end {results['load_after']}.",
        "",
        "Nothing else ran on the machine but the bench (the load average above says how "
        "quiet it was); one run: compare ratios, not seconds, across machines.",
        "",
        f"Create rows: {args.rounds} round(s) (min / **median** / max). pgbench: {args.seconds} s "
        f"per run, {args.pgbench_rounds} round(s), -s {args.scale}. Restore: one run, "
        f"-s {args.restore_scale}. Ratio: Nexq ÷ peer of the medians — for times >1 means "
        "Nexq is slower, for TPS <1 means Nexq is slower.",
        "",
        "| Nexq | Nexq figure | peer | peer figure | Nexq ÷ peer |",
        "|---|---:|---|---:|---:|",
    ]
    size = restore["size_bytes"][0] / 2**30
    names = {"scale": args.scale, "size": f"{size:.2f} GiB"}
    for ours, theirs, label, peer, digits in COMPARED:
        if ours not in figures or theirs not in figures:
            continue
        ratio = statistics.median(figures[ours]) / statistics.median(figures[theirs])
        lines.append(
            f"| {label.format(**names)} | {spread(figures[ours], digits)} | "
            f"{peer.format(**names)} | "
            f"{spread(figures[theirs], digits)} | {ratio:.2f}x |"
        )
    backup_size = restore["backup_size_bytes"][0] / 2**30
    lines += [
        "",
        f"The restore in parts (source: {size:.2f} GiB by pg_database_size; its FULL backup "
        f"{backup_size:.2f} GiB in the repository, lz4):",
        "",
        "| part | seconds |",
        "|---|---:|",
    ]
    for key, label, digits in PARTS:
        if key in figures:
            text = label.format(scale=args.restore_scale)
            lines.append(f"| {text} | {spread(figures[key], digits)} |")
    if "nexq_restore_pgbackrest" in restore:
        rest = restore["nexq_restore"][0] - restore["nexq_restore_pgbackrest"][0]
        lines.append(
            "| Restore: the rest (waiting for the provisioner, the source's WAL switch and "
            f"archive, two ext4 volumes, WAL replay, promotion, renaming) | {rest:.1f} |"
        )
    settings = ", ".join(f"{k} = {v}" for k, v in results["settings"].items())
    lines += [
        "",
        "## What each figure means",
        "",
        "- **Create -> Running**: from `POST /v1/databases` (plan micro: 1 vCPU, 512 MiB, "
        "1 GiB) to the first `GET /v1/databases/{name}` that says Running, polled every "
        f"{POLL} s. Nexq's provisioner picks the database up within a second, makes two "
        "loop-mounted ext4 volumes, issues a TLS certificate, runs initdb (with data "
        "checksums), starts the server and creates the owner and the database. The peer "
        "times `initdb` (no checksums) + `pg_ctl start --wait` of Debian's PostgreSQL 15 in "
        "a folder under /var/tmp, as the postgres OS user.",
        "- **Backups on**: the same with WAL archiving to pgBackRest configured; **first FULL "
        "listed** runs on until `GET .../backups` lists a FULL backup (Nexq: pgBackRest "
        "into Nexq's own Object Storage over TLS, taken by a job that looks every 2 s). The "
        "peer archives to, and backs up into, a pgBackRest repository on the local disk "
        "(stanza-create + backup --type=full, lz4, start-fast), which costs no S3 or TLS.",
        f"- **pgbench**: `pgbench -i -s {args.scale}`, then `pgbench -c 8 -j 2 -T "
        f"{args.seconds}` (TPC-B-like) and the same with `-S` (select-only), on a database "
        "of plan small (1 vCPU, 1 GiB, 10 GiB; backups "
        f"{'on' if args.pgbench_backups else 'off, so no WAL archiving'}) over TLS "
        "(verify-full against `GET /v1/databases/ca`, the owner's SCRAM password), against "
        f"a bare cluster given the plan's memory settings ({settings}, read with SHOW from "
        "the Nexq database; everything else initdb's defaults) reached over TCP on 127.0.0.1 "
        "with a SCRAM password, in clear and with TLS (a self-signed EC P-256 certificate, "
        "verify-full). The clear/TLS pair shows what TLS costs by itself; Nexq ÷ bare TLS "
        "is what Nexq costs beyond it (loop volumes, data checksums, its other settings). "
        "pgbench runs on the same 2 cores as the server. Nexq's vCPU count is not enforced "
        "(no cgroup), so both servers may use both cores.",
        "- **Restore**: a small database with backups on is filled with pgbench -s "
        f"{args.restore_scale} (server-side generation), a FULL backup is asked for (Back "
        'up now) and waited for, then `POST /v1/databases` with `{"restore": {"source": '
        "...}}` (latest point, plan small, backups off) is timed until Running, and the "
        "copy's pgbench_accounts rows are counted. Nexq's restore is pgBackRest's restore "
        "from its repository in Nexq's Object Storage (over TLS), then WAL replay and "
        "promotion. Peers: a new bare cluster (initdb + start + CREATE DATABASE) filled by "
        "`pg_dump -Fc -Z 0 | pg_restore` of the same source database (logical: rows "
        "reloaded, indexes rebuilt); `pg_basebackup -X stream` of that bare copy into "
        "a new folder + `pg_ctl start` (physical, from a running server on the same disk, "
        "no repository, no compression: the floor of a physical restore here); and what "
        "Nexq runs with a repository on the local disk instead of Nexq's Object Storage: "
        "the bare copy restarted with WAL archiving (untimed), a pgBackRest full backup "
        "(lz4) timed, then `pgbackrest restore` into a new folder + start until promoted "
        "(`pg_is_in_recovery()` false) timed. Those last two rows show what Nexq's S3 "
        "repository adds to pgBackRest's own work. pgBackRest's own times come from its "
        "logs (its `command end` lines); Nexq's backup time is GET .../backups' "
        "duration_seconds (whole seconds, as pgBackRest records them).",
        "",
        "Every figure:",
        "",
        "```",
        json.dumps(
            {k: results[k] for k in ("creation", "throughput", "restore", "settings")}, indent=1
        ),
        "```",
        "",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def work_folder() -> Iterator[Path]:
    """A folder the postgres OS user can reach (root's temporary folders are private)."""
    folder = Path(tempfile.mkdtemp(prefix="nexq-bench-databases-", dir="/var/tmp"))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the create rows")
    parser.add_argument("--seconds", type=int, default=20, help="pgbench -T")
    parser.add_argument("--pgbench-rounds", type=int, default=1)
    parser.add_argument("--scale", type=int, default=10, help="pgbench -s of the TPS rows")
    parser.add_argument("--restore-scale", type=int, default=70, help="-s 70 is ~1 GiB")
    parser.add_argument(
        "--pgbench-backups", action="store_true", help="WAL archiving on during pgbench"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "databases-results.md")
    args = parser.parse_args()
    for program in ("initdb", "pg_ctl", "pgbench", "pg_dump", "pg_restore", "pg_basebackup"):
        if not (BIN / program).exists():
            parser.error(f"{BIN / program} is missing: apt-get install postgresql-15")
    if shutil.which("pgbackrest") is None:
        parser.error("pgbackrest is missing: apt-get install pgbackrest")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    began = time.perf_counter()
    with work_folder() as work:
        nexq = Nexq(work)
        try:
            nexq.start()
            results["creation"] = creation(nexq, work, args.rounds)
            results["throughput"], results["settings"] = throughput(
                nexq, work, args.scale, args.seconds, args.pgbench_rounds, args.pgbench_backups
            )
            results["restore"] = restoring(nexq, work, args.restore_scale)
        finally:
            nexq.stop()
    results["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"run: {time.perf_counter() - began:.0f} s", flush=True)
    text = report(results, args)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
