"""Nexq on PostgreSQL + Ceph beside Ceph's own S3 gateway (RGW), and one node beside three.

    python bench/cluster.py --quick --out bench/cluster-results.md

One run starts a throwaway single-node Ceph cluster (scripts/ceph-single-node: a monitor,
a manager, one BlueStore OSD on a file) and a PostgreSQL 15 of its own, then measures,
one after the other, with the workloads of bench/run.py (bench/workloads.py):

- ``rgw``: radosgw (beast frontend, one instance) on that Ceph cluster;
- ``nexq-1n2w``: one ``nexq serve --database postgresql://… --blobs rados://…``, 2 workers;
- ``nexq-1n1w``: the same with 1 worker;
- ``nexq-1n1w-lb``: that node behind nginx (round robin over one node: the proxy's cost);
- ``nexq-3n1w-lb``: three nodes of 1 worker behind nginx, as docs/scale-out.md lays out.

Every Nexq configuration gets a database and a RADOS namespace of its own. Around every
workload the CPU time (utime+stime from /proc) of each process group is read: the client
(this process), Nexq's processes or radosgw, nginx, PostgreSQL, ceph-osd, ceph-mon+mgr;
with the OSD's operation counters (its admin socket), PostgreSQL's statement counters
(pg_stat_statements) and a sampler of who holds the group committer's advisory lock. The
report (``--out``) has the figures, the ratios, these costs per request and a simple model
of which component saturates first as nodes are added. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg

import run as _run
import servers as _servers
from report import Row, figures_table, fmt, rows_for
from run import log, wait_quiet
from servers import (
    REPO,
    Endpoint,
    NexqServer,
    Server,
    free_port,
    machine_busy_seconds,
    nexq_env,
    tree_pids,
    wait_http,
)
from workloads import (
    BUCKET,
    LIST_BUCKET,
    Client,
    MiB,
    Params,
    Result,
    big_get,
    big_put,
    idle_rss,
    list_load,
    list_pages,
    multipart,
    small_get,
    small_head,
    small_put,
)

CEPH_SCRIPT = REPO / "scripts" / "ceph-single-node"
POOL = "nexq"
# nexq.core.postgres.WRITE_LOCK: the transaction-level advisory lock every node's group
# committer takes for each batch. A bigint key shows in pg_locks as classid (high 32 bits),
# objid (low 32 bits), objsubid 1.
WRITE_LOCK = 0x6E657871
_CLK_TCK = os.sysconf("SC_CLK_TCK")

STEPS = ["put4k", "get4k", "head4k", "listload", "list", "bigput", "bigget", "mpu"]
WORKLOADS = ["put4k", "get4k", "head4k", "list", "bigput", "bigget", "mpu"]
SMALL = ("put4k", "get4k", "head4k", "listload", "list")


# --------------------------------------------------------------------------- PostgreSQL


class Postgres:
    """PostgreSQL 15 in a folder of its own, on a Unix socket only (as tests/postgres.py),
    durable (fsync, synchronous_commit on: the defaults), with pg_stat_statements loaded."""

    def __init__(self, tmp_root: str | None, keep: bool) -> None:
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="nexq-bench-pg-", dir=tmp_root))
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
        )
        if not found:
            raise RuntimeError("PostgreSQL is not installed (Debian's postgresql package)")
        self.bin = found[-1].parent
        # PostgreSQL refuses to run as root: as root, the server runs as Debian's postgres.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.port = 5432  # on a socket in self.root: no clash with any other server
        self._pg("initdb", "-D", str(self.root / "data"), "-U", "nexq", "--auth=trust",
                 "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        options = (
            f"-k {self.root} -p {self.port} -c listen_addresses='' -c max_connections=300 "
            "-c shared_buffers=256MB -c shared_preload_libraries=pg_stat_statements "
            "-c pg_stat_statements.track_utility=on -c track_wal_io_timing=on"
        )
        self._pg("pg_ctl", "-D", str(self.root / "data"), "-o", options, "-l",
                 str(self.root / "log"), "-w", "start")  # fmt: skip
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        self.version = self._version()

    def _pg(self, program: str, *args: str) -> None:
        cmd = [str(self.bin / program), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, cwd=self.root, timeout=120, check=False)
        if done.returncode != 0:
            err = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
            raise RuntimeError(f"{program} failed ({done.returncode}): {err[-500:]}")

    def _version(self) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://nexq@/{database}?host={self.root}&port={self.port}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def postmaster(self) -> int | None:
        try:
            return int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self) -> list[int]:
        pid = self.postmaster()
        return tree_pids(pid) if pid else []

    def statements(self, database: str) -> dict[str, tuple[int, float]]:
        """pg_stat_statements of ``database``: query text -> (calls, total execution ms).
        Unlike the cumulative statistics views, these counters are updated as each
        statement ends, so a difference across a workload is that workload's."""
        out: dict[str, tuple[int, float]] = {}
        with psycopg.connect(self.url(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT s.query, s.calls, s.total_exec_time FROM pg_stat_statements s "
                "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s",
                (database,),
            ).fetchall()
        for query, calls, ms in rows:
            c0, m0 = out.get(query, (0, 0.0))
            out[query] = (c0 + int(calls), m0 + float(ms))
        return out

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._pg("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


class LockSampler:
    """Samples, every ``interval`` s from a thread, who holds the group committer's write
    lock and how many committers wait for it: the share of time the cluster's single commit
    stream is busy, and what its holder is doing (PostgreSQL's view of that backend)."""

    SQL = (
        "SELECT l.granted, a.state, a.wait_event_type, a.wait_event "
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s AND l.objsubid = 1"
    )

    def __init__(self, url: str, interval: float = 0.02) -> None:
        self.url = url
        self.interval = interval
        self.samples = self.held = self.waiting = 0
        self.states: dict[str, int] = {}  # what the holder was doing, sample counts
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-sampler", daemon=True)

    @staticmethod
    def state(state: str | None, kind: str | None, event: str | None) -> str:
        """What a backend holding the lock is doing: "wal" (flushing or writing the WAL, or
        waiting for another backend's flush), "pg" (running a statement, or waiting for a
        CPU to run it), "nexq" (idle in its transaction: waiting for the node's next
        statement, i.e. a round trip plus Nexq's own work), or "other"."""
        if kind == "IO" or (kind == "LWLock" and event and event.startswith("WAL")):
            return "wal" if event and "WAL" in event else "other"
        if kind == "Client" or (state or "").startswith("idle"):
            return "nexq"
        if state == "active" and kind is None:
            return "pg"
        return "other"

    def _run(self) -> None:
        key = (WRITE_LOCK >> 32, WRITE_LOCK & 0xFFFFFFFF)
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                while not self._stop.wait(self.interval):
                    rows = conn.execute(self.SQL, key).fetchall()
                    self.samples += 1
                    for granted, state, kind, event in rows:
                        if granted:
                            self.held += 1
                            name = self.state(state, kind, event)
                            self.states[name] = self.states.get(name, 0) + 1
                        else:
                            self.waiting += 1
        except psycopg.Error as e:
            self.error = str(e)[:200]

    def __enter__(self) -> LockSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# --------------------------------------------------------------------------- Ceph


class Ceph:
    """The single-node cluster of scripts/ceph-single-node (pool ``nexq``)."""

    def __init__(self, tmp_root: str | None, keep: bool) -> None:
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="nexq-bench-ceph-", dir=tmp_root))
        self.dir = self.root / "cluster"
        began = time.monotonic()
        done = subprocess.run(
            [str(CEPH_SCRIPT), "start", str(self.dir)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"ceph-single-node start failed: {done.stderr[-800:]}")
        self.conf = Path(done.stdout.strip())
        self.started_in = time.monotonic() - began
        self.version = _first_line(["ceph-osd", "--version"])

    def pid(self, name: str) -> int | None:
        try:
            return int((self.dir / "run" / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def osd_counters(self) -> dict[str, float]:
        """The OSD's operation counters, from its admin socket ({} if it does not answer)."""
        try:
            dump = admin_socket(self.dir / "run" / "osd.0.asok", {"prefix": "perf dump"})
        except (OSError, ValueError, struct.error):
            return {}
        osd = dump.get("osd", {})
        out = {k: float(osd.get(k, 0)) for k in ("op", "op_r", "op_w", "op_rw")}
        for k in ("op_in_bytes", "op_out_bytes"):
            out[k] = float(osd.get(k, 0))
        lat = osd.get("op_latency", {})
        out["op_latency_s"] = float(lat.get("sum", 0.0))
        return out

    def stop(self) -> None:
        subprocess.run(
            [str(CEPH_SCRIPT), "stop", str(self.dir)], capture_output=True, timeout=120, check=False
        )
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def admin_socket(path: Path, command: dict[str, str]) -> dict[str, Any]:
    """One command on a Ceph daemon's admin socket: the JSON command and a NUL byte out, a
    32-bit big-endian length and that much JSON back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(json.dumps(command).encode() + b"\0")
        (length,) = struct.unpack(">I", _recv_exact(s, 4))
        data = _recv_exact(s, length)
    obj = json.loads(data)
    if not isinstance(obj, dict):
        raise ValueError("admin socket answered no object")
    return obj


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("admin socket closed early")
        buf += chunk
    return bytes(buf)


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (out.stdout + out.stderr).decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else "?"


@dataclass
class Infra:
    ceph: Ceph
    pg: Postgres


# --------------------------------------------------------------------------- servers


RGW_SECTION = """
# Added by bench/cluster.py: one radosgw, its own key, listening on 127.0.0.1 only.
[client.rgw.bench]
keyring = {d}/keyring
rgw frontends = beast endpoint=127.0.0.1:{port}{options}
rgw data = {d}/data
log file = {d}/rgw.log
admin socket = {d}/rgw.asok
"""


class RgwServer(Server):
    """Ceph's S3 gateway on the bench's cluster. Its pools (``.rgw.root``,
    ``default.rgw.*``) are made by radosgw itself with the cluster's defaults (one replica,
    8 placement groups each), the bucket index and data pools at the first bucket."""

    name = "rgw"
    label = "RGW"

    def __init__(
        self,
        infra: Infra,
        tmp_root: str | None = None,
        keep: bool = False,
        frontend_options: str = "",
        name: str = "rgw",
    ) -> None:
        self.name = name
        self.label = "RGW" if name == "rgw" else f"RGW ({name})"
        super().__init__(tmp_root, keep)
        self.infra = infra
        self.conf = self.dir / "ceph.conf"
        self.frontend_options = frontend_options
        self.log_start = 0

    def _ceph(self, *args: str) -> str:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=120, check=False, cwd=self.dir
        )
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(args[3:6])} failed: {done.stderr.strip()[-400:]}")
        return done.stdout

    def start(self) -> Endpoint:
        self.port = free_port()
        (self.dir / "data").mkdir(exist_ok=True)
        cluster_conf = str(self.infra.ceph.conf)
        keyring = self._ceph(
            "ceph", "-c", cluster_conf, "-n", "client.admin", "auth", "get-or-create",
            "client.rgw.bench", "mon", "allow rw", "osd", "allow rwx", "mgr", "allow rw",
        )  # fmt: skip
        (self.dir / "keyring").write_text(keyring)
        os.chmod(self.dir / "keyring", 0o600)
        self.conf.write_text(
            self.infra.ceph.conf.read_text()
            + RGW_SECTION.format(d=self.dir, port=self.port, options=self.frontend_options)
        )
        proc = self._spawn(["radosgw", "-f", "-c", str(self.conf), "-n", "client.rgw.bench"])
        wait_http("127.0.0.1", self.port, proc, 180)
        ak = "AKIDBENCHRGW" + os.urandom(4).hex().upper()
        sk = base64.b64encode(os.urandom(30)).decode()
        # A tenant per configuration: its buckets ("bench", "bench-list") are its own, so a
        # second RGW configuration of the run starts empty without deleting the first's.
        self._ceph(
            "radosgw-admin", "-c", str(self.conf), "-n", "client.admin", "user", "create",
            "--tenant", self.name.replace("-", "_"), "--uid", "bench", "--display-name",
            "bench", "--access-key", ak, "--secret", sk,
        )  # fmt: skip
        self.endpoint = Endpoint("127.0.0.1", self.port, ak, sk, proc.pid)
        self.log_start = _size(self.dir / "rgw.log")  # startup (and its probes) left out
        return self.endpoint

    def log_tail(self) -> str:
        return _servers._tail(self.log) + _servers._tail(self.dir / "rgw.log")

    def create_bucket(self, bucket: str) -> None:
        """The bucket; with the first one, one multipart upload begun and aborted, untimed:
        radosgw makes its multipart pool (``default.rgw.buckets.non-ec``) on the first
        upload, and waiting for a new pool's placement groups is no cost of an upload."""
        super().create_bucket(bucket)
        if bucket != BUCKET:
            return
        import boto3
        from botocore.config import Config as BotoConfig

        assert self.endpoint is not None
        ep = self.endpoint
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://{ep.host}:{ep.port}",
            aws_access_key_id=ep.access_key,
            aws_secret_access_key=ep.secret_key,
            region_name="us-east-1",
            config=BotoConfig(s3={"addressing_style": "path"}),
        )
        upload = s3.create_multipart_upload(Bucket=bucket, Key="warm-up/multipart")
        s3.upload_part(
            Bucket=bucket, Key="warm-up/multipart", UploadId=upload["UploadId"],
            PartNumber=1, Body=b"x" * 1024,
        )  # fmt: skip
        s3.abort_multipart_upload(
            Bucket=bucket, Key="warm-up/multipart", UploadId=upload["UploadId"]
        )

    def problems(self) -> list[str]:
        """Error lines and 5xx answers in radosgw's log."""
        return _scan_log(
            self.dir / "rgw.log",
            re.compile(r"ERROR|error|http_status=5\d\d|abort|Aborted|failed"),
            ignore=re.compile(r"NoSuchKey|NoSuchBucket|http_status=[234]\d\d"),
            start=self.log_start,
        )


BALANCER_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 0;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_buffer_size 256k;
    proxy_buffers 4 256k;
    proxy_busy_buffers_size 256k;
    proxy_read_timeout 300s;
    proxy_next_upstream error timeout;
    upstream s3 {{
{servers}
        keepalive 32;
        keepalive_requests 1000000;
    }}
    server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://s3; }} }}
}}
"""


class NexqCluster(NexqServer):
    """``nodes`` x ``nexq serve --workers W`` on the bench's PostgreSQL (a database of its
    own, migrated first) and Ceph (a RADOS namespace of its own), sharing one master key;
    behind nginx (round robin, as docs/scale-out.md) when ``balancer``.

    The nodes and nginx are started by one ``sh`` (in its own session), so that the
    harness's process-tree measures (CPU, RSS) see them all as one server."""

    def __init__(
        self,
        infra: Infra,
        nodes: int,
        workers: int,
        balancer: bool,
        tmp_root: str | None = None,
        keep: bool = False,
    ) -> None:
        super().__init__(tmp_root, keep, workers)
        self.infra = infra
        self.nodes = nodes
        self.balancer = balancer
        self.name = f"nexq-{nodes}n{workers}w" + ("-lb" if balancer else "")
        self.label = f"Nexq {nodes} node{'s' if nodes > 1 else ''} x {workers}w" + (
            " + nginx" if balancer else ""
        )
        self.data_dir = self.dir / "node0"
        self.database = self.name.replace("-", "_")
        self.namespace = f"bench_{self.database}_{os.getpid()}"
        self.master_key = base64.b64encode(os.urandom(32)).decode()
        self.database_url = ""
        self.blobs_url = f"rados://{POOL}?conf={infra.ceph.conf}&id=nexq&namespace={self.namespace}"
        self.node_ports: list[int] = []
        self.log_starts: list[int] = []

    def env(self) -> dict[str, str]:
        return dict(
            nexq_env(),
            NEXQ_DATABASE_URL=self.database_url,
            NEXQ_BLOBS_URL=self.blobs_url,
            NEXQ_MASTER_KEY=self.master_key,
            NEXQ_NODES=str(self.nodes),
        )

    def start(self) -> Endpoint:
        self.database_url = self.infra.pg.create_database(self.database)
        self._admin("migrate", "--database", self.database_url)
        self.data_dir.mkdir(exist_ok=True)
        ak, sk = self._make_key()

        lines = ["#!/bin/sh", "# Made by bench/cluster.py: the nodes, and nginx in front."]
        self.node_ports = []
        for i in range(self.nodes):
            node_dir = self.dir / f"node{i}"
            node_dir.mkdir(exist_ok=True)
            port = free_port()
            self.node_ports.append(port)
            cmd = [
                *_servers.nexq_cmd(), "serve", "--data-dir", str(node_dir),
                "--host", "127.0.0.1", "--s3-port", str(port), "--api-port", str(free_port()),
                "--registry-port", str(free_port()),
                "--workers", str(self.workers or 1), "--database", self.database_url,
                "--blobs", self.blobs_url, "--nodes", str(self.nodes),
            ]  # fmt: skip
            log_file = self.dir / f"node{i}.log"
            # Each node's databases' backup listener on a port of its own.
            backup = f"NEXQ_DATABASES_BACKUP_PORT={free_port()}"
            lines.append(f"{backup} {shlex.join(cmd)} >{shlex.quote(str(log_file))} 2>&1 &")
        self.port = self.node_ports[0]
        if self.balancer:
            self.port = free_port()
            ngx = self.dir / "nginx"
            ngx.mkdir(exist_ok=True)
            servers = "\n".join(
                f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;"
                for p in self.node_ports
            )
            user = "user root root;" if os.geteuid() == 0 else ""
            (ngx / "nginx.conf").write_text(
                BALANCER_CONF.format(d=ngx, user=user, servers=servers, port=self.port)
            )
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            cmd = [
                nginx,
                "-e",
                str(ngx / "error.log"),
                "-p",
                str(ngx),
                "-c",
                str(ngx / "nginx.conf"),
            ]
            lines.append(f"{shlex.join(cmd)} >>{shlex.quote(str(self.log))} 2>&1 &")
        lines.append("wait")
        script = self.dir / "launch.sh"
        script.write_text("\n".join(lines) + "\n")
        proc = self._spawn(["/bin/sh", str(script)], self.env())
        for port in self.node_ports:
            wait_http("127.0.0.1", port, proc, 120)
        if self.balancer:
            wait_http("127.0.0.1", self.port, proc, 30)
        self.endpoint = Endpoint("127.0.0.1", self.port, ak, sk, proc.pid)
        self.log_starts = [_size(self.dir / f"node{i}.log") for i in range(self.nodes)]
        return self.endpoint

    def stop(self) -> None:
        """SIGTERM to the whole group (the nodes finish what they have and flush their usage
        counts), wait for every process of the tree, then sweep the group with SIGKILL."""
        proc = self.proc
        if proc is not None:
            pids = tree_pids(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(_alive_pid(p) for p in pids):
                time.sleep(0.1)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        self.proc = None
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self) -> str:
        return "".join(_servers._tail(self.dir / f"node{i}.log") for i in range(self.nodes))

    def problems(self) -> list[str]:
        """Tracebacks, errors and 5xx answers in the nodes' logs."""
        out: list[str] = []
        for i in range(self.nodes):
            found = _scan_log(
                self.dir / f"node{i}.log",
                re.compile(r"Traceback|ERROR|Error|Exception|\" 5\d\d|exited|Killed"),
                start=self.log_starts[i] if i < len(self.log_starts) else 0,
            )
            out += [f"node{i}: {line}" for line in found]
        if self.balancer:
            out += [
                f"nginx: {x}" for x in _scan_log(self.dir / "nginx" / "error.log", re.compile("."))
            ]
        return out


def _alive_pid(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _scan_log(
    path: Path, pattern: re.Pattern[str], ignore: re.Pattern[str] | None = None, start: int = 0
) -> list[str]:
    """Distinct matching lines of a log from byte ``start`` on (numbers folded), counted."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    try:
        with open(path, "rb") as f:
            f.seek(start)
            for raw in f:
                line = raw.decode("utf-8", "replace")
                if not pattern.search(line) or (ignore and ignore.search(line)):
                    continue
                text = line.strip()
                folded = re.sub(r"0x[0-9a-f]+|\d+", "N", text)[:160]
                counts[folded] = counts.get(folded, 0) + 1
                first.setdefault(folded, text[:300])
    except OSError:
        return []
    return [f"{counts[k]}x {first[k]}" for k in list(counts)[:12]]


# --------------------------------------------------------------------------- measuring


def _pid_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            rest = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(rest[11]) + int(rest[12])) / _CLK_TCK


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


GROUPS = ["client", "front", "nginx", "postgres", "ceph-osd", "ceph-mon+mgr", "kernel", "other"]


def _kernel_threads() -> list[int]:
    """kthreadd and its children (kworkers, the file system's journal thread …)."""
    return [2, *(pid for pid, ppid in _servers._ppid_map().items() if ppid == 2)]


def _irq_seconds() -> float:
    """CPU time the machine spent in hard and soft interrupts (not charged to any process:
    loopback TCP's receive side, block I/O completions)."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (fields[5] + fields[6]) / _CLK_TCK


@dataclass
class Cost:
    """What one workload cost: CPU seconds by process group, the OSD's operations, the
    database's statements, the write lock's occupancy."""

    ops: float = 0.0  # what the figures are divided by (requests, pages or MB)
    unit: str = "request"
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    osd: dict[str, float] = field(default_factory=dict)
    statements: int = 0
    statement_ms: float = 0.0
    batches: int = 0  # pg_advisory_xact_lock calls: one per group-commit batch
    lock_ms: float = 0.0  # time in pg_advisory_xact_lock (mostly waiting for it)
    lock_samples: int = 0
    lock_held: float | None = None  # share of samples with the lock held
    lock_waiters: float | None = None  # mean number of committers waiting for it
    # What the holder was doing, as shares of the samples in which the lock was held.
    lock_states: dict[str, float] = field(default_factory=dict)
    # The statements PostgreSQL ran most: (query, calls per op, exec µs per op).
    top_statements: list[tuple[str, float, float]] = field(default_factory=list)

    def per_op(self, group: str) -> float | None:
        if not self.ops or group not in self.cpu:
            return None
        return self.cpu[group] / self.ops * 1e6


class GroupMeter:
    """CPU of every process group, OSD and PostgreSQL counters around one workload."""

    def __init__(self, infra: Infra, server: Server, database: str | None) -> None:
        self.infra = infra
        self.server = server
        self.database = database
        self.cost = Cost()
        self._sampler: LockSampler | None = None
        self._top: list[tuple[int, float, str]] = []

    def _groups(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {g: [] for g in GROUPS if g not in ("client", "other")}
        groups["kernel"] = _kernel_threads()
        if self.server.proc is not None:
            for pid in tree_pids(self.server.proc.pid):
                groups["nginx" if _comm(pid) == "nginx" else "front"].append(pid)
        groups["postgres"] = self.infra.pg.pids()
        osd = self.infra.ceph.pid("osd.0")
        groups["ceph-osd"] = [osd] if osd else []
        groups["ceph-mon+mgr"] = [p for n in ("mon.a", "mgr.x") if (p := self.infra.ceph.pid(n))]
        return groups

    def _cpu(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for group, pids in self._groups().items():
            out[group] = {pid: s for pid in pids if (s := _pid_cpu(pid)) is not None}
        return out

    def __enter__(self) -> GroupMeter:
        self._osd0 = self.infra.ceph.osd_counters()
        self._st0 = self.infra.pg.statements(self.database) if self.database else {}
        if self.database:
            self._sampler = LockSampler(self.infra.pg.url()).__enter__()
        self._cpu0 = self._cpu()
        self._m0 = machine_busy_seconds()
        self._irq0 = _irq_seconds()
        self._c0 = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        c = self.cost
        c.elapsed = time.perf_counter() - self._t0
        client = time.process_time() - self._c0
        machine = machine_busy_seconds() - self._m0
        irq = _irq_seconds() - self._irq0
        cpu1 = self._cpu()
        for group, now in cpu1.items():
            before = self._cpu0.get(group, {})
            # A process that started during the workload counts whole; one that ended is lost.
            c.cpu[group] = sum(s - before.get(pid, 0.0) for pid, s in now.items())
        c.cpu["client"] = client
        c.cpu["kernel"] = c.cpu.get("kernel", 0.0) + irq
        c.cpu["other"] = max(0.0, machine - sum(c.cpu.values()))
        if self._sampler is not None:
            self._sampler.__exit__()
            s = self._sampler
            c.lock_samples = s.samples
            if s.samples:
                c.lock_held = s.held / s.samples
                c.lock_waiters = s.waiting / s.samples
            if s.held:
                c.lock_states = {k: n / s.held for k, n in s.states.items()}
        osd1 = self.infra.ceph.osd_counters()
        c.osd = {k: v - self._osd0.get(k, 0.0) for k, v in osd1.items()} if self._osd0 else {}
        if self.database:
            st1 = self.infra.pg.statements(self.database)
            deltas: list[tuple[int, float, str]] = []
            for query, (calls, ms) in st1.items():
                c0, m0 = self._st0.get(query, (0, 0.0))
                dc, dm = calls - c0, ms - m0
                if dc <= 0:
                    continue
                deltas.append((dc, dm, query))
                c.statements += dc
                c.statement_ms += dm
                if "pg_advisory_xact_lock" in query:
                    c.batches += dc
                    c.lock_ms += dm
            self._top = sorted(deltas, reverse=True)[:10]

    def finish(self, ops: float) -> None:
        """Once the workload's number of operations is known: per-op statement figures."""
        if ops and self.database:
            self.cost.top_statements = [
                (" ".join(q.split())[:160], n / ops, ms * 1e3 / ops) for n, ms, q in self._top
            ]


# --------------------------------------------------------------------------- the run


def bench_config(
    server: Server, infra: Infra, p: Params, selected: list[str], wait_idle: float
) -> tuple[dict[str, Result], dict[str, Cost], list[str]]:
    """Start ``server``, run every selected workload under a GroupMeter, stop it."""
    res: dict[str, Result] = {}
    costs: dict[str, Cost] = {}
    problems: list[str] = []
    log(f"{server.label}: starting")
    try:
        ep = server.start()
        server.create_bucket(BUCKET)
        if "list" in selected:
            server.create_bucket(LIST_BUCKET)
    except Exception as e:
        tail = server.log_tail().strip().splitlines()[-5:]
        msg = f"start failed: {e}"[:400] + (f" | log: {' / '.join(tail)}"[:400] if tail else "")
        log(f"{server.label}: {msg}")
        server.stop()
        return {w: Result(error=msg) for w in [*STEPS, "rss_idle"]}, {}, []
    database = server.database if isinstance(server, NexqCluster) else None
    client = Client(ep)
    res["rss_idle"] = idle_rss(client)
    log(f"{server.label}: up on port {ep.port}, idle RSS {res['rss_idle'].value or 0:.0f} MiB")

    n_keys = p.small_n
    steps: dict[str, Callable[[], Result]] = {
        "put4k": lambda: small_put(client, p),
        "get4k": lambda: small_get(client, p, n_keys),
        "head4k": lambda: small_head(client, p, n_keys),
        "listload": lambda: list_load(client, p),
        "list": lambda: list_pages(client, p),
        "bigput": lambda: big_put(client, p),
        "bigget": lambda: big_get(client, p),
        "mpu": lambda: multipart(client, p),
    }
    try:
        for name, fn in steps.items():
            if name not in selected and not (name == "listload" and "list" in selected):
                continue
            if server.proc is None or server.proc.poll() is not None:
                res[name] = Result(error="server process died earlier")
                continue
            if name in ("get4k", "head4k") and "put4k" in res:
                put = res["put4k"]
                if put.value is None:
                    res[name] = Result(error="skipped: the 4 KiB PUTs failed")
                    continue
                n_keys = max(1, int(put.extra.get("requests", p.small_n)))
            if (
                name == "list"
                and (res.get("listload") or Result()).extra.get("ok", 0) < p.list_keys
            ):
                load = res.get("listload") or Result()
                res[name] = Result(
                    error=f"loading {p.list_keys} keys failed: {load.error or load.note}"
                )
                continue
            os.sync()
            wait_quiet(min(wait_idle, 60.0), sample=0.5)
            log(f"{server.label}: {name} ...")
            meter = GroupMeter(infra, server, database)
            try:
                with meter:
                    r = fn()
            except Exception as e:  # a harness or protocol surprise: record it, go on
                r = Result(error=f"{type(e).__name__}: {e}"[:400])
            res[name] = r
            costs[name] = meter.cost
            _count_ops(name, r, meter.cost, p)
            meter.finish(meter.cost.ops)
            shown = f"{r.value:,.1f}" if r.value is not None else f"ERROR {r.error}"
            log(f"{server.label}: {name} = {shown} {r.note} ({meter.cost.elapsed:.1f}s)")
            if name == "bigput":
                res["rss_bigput"] = _run._rss(r)
            if name == "bigget":
                res["rss_bigget"] = _run._rss(r)
    finally:
        problems = server.problems() if isinstance(server, RgwServer | NexqCluster) else []
        server.stop()
        log(f"{server.label}: stopped")
    return res, costs, problems


def _count_ops(name: str, r: Result, cost: Cost, p: Params) -> None:
    """What the costs of ``name`` are divided by: every request the meter saw (the small
    workloads' untimed warm-up requests are of the same kind, so they count), or MB."""
    if name in ("put4k", "get4k", "head4k"):
        warm = p.warmup if r.value is not None else 0
        cost.ops, cost.unit = r.extra.get("requests", 0) + warm, "request"
    elif name == "listload":
        cost.ops, cost.unit = r.extra.get("requests", 0), "request"
    elif name == "list":
        cost.ops, cost.unit = r.extra.get("pages", 0), "page"
    elif name in ("bigput", "bigget"):
        cost.ops, cost.unit = p.big_bytes / 1e6, "MB"
    elif name == "mpu":
        cost.ops, cost.unit = p.mp_bytes // p.mp_part * p.mp_part / 1e6, "MB"


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    make: Callable[[Infra], Server]
    default: bool = True  # measured unless --configs says otherwise


def configs(tmp: str | None, keep: bool) -> list[Config]:
    def nexq(nodes: int, workers: int, lb: bool) -> Callable[[Infra], Server]:
        return lambda infra: NexqCluster(infra, nodes, workers, lb, tmp, keep)

    def rgw(options: str, name: str) -> Callable[[Infra], Server]:
        return lambda infra: RgwServer(infra, tmp, keep, options, name)

    return [
        # beast's tcp_nodelay=1, as nginx (tcp_nodelay on) and Nexq's server do: with
        # Nagle's algorithm on (beast's default) a small response waits for the client's
        # delayed ACK (see bench/README.md, "Cluster").
        Config("rgw", "RGW", rgw(" tcp_nodelay=1", "rgw")),
        Config("rgw-nagle", "RGW (beast defaults)", rgw("", "rgw-nagle"), default=False),
        Config("nexq-1n2w", "Nexq 1 node x 2w", nexq(1, 2, False)),
        Config("nexq-1n1w", "Nexq 1 node x 1w", nexq(1, 1, False)),
        Config("nexq-1n1w-lb", "Nexq 1 node x 1w + nginx", nexq(1, 1, True)),
        Config("nexq-3n1w-lb", "Nexq 3 nodes x 1w + nginx", nexq(3, 1, True)),
    ]


RATIOS = [
    ("nexq-1n2w", "rgw"),
    ("nexq-3n1w-lb", "rgw"),
    ("nexq-3n1w-lb", "nexq-1n1w-lb"),
    ("nexq-3n1w-lb", "nexq-1n1w"),
]
SHORT = {
    "rgw": "RGW",
    "rgw-nagle": "RGW (Nagle)",
    "nexq-1n2w": "1nx2w",
    "nexq-1n1w": "1nx1w",
    "nexq-1n1w-lb": "1nx1w+nginx",
    "nexq-3n1w-lb": "3n+nginx",
}


def table_rows(p: Params) -> list[Row]:
    rows = rows_for(p)
    at = next(i for i, r in enumerate(rows) if r.key == "list")
    rows.insert(at, Row("listload", f"100 B PUT, loading {p.list_keys:,} keys (c=16)", "ops/s"))
    return rows


def render(
    results: dict[str, dict[str, Result]],
    costs: dict[str, dict[str, Cost]],
    problems: dict[str, list[str]],
    labels: dict[str, str],
    p: Params,
    header: str,
) -> str:
    cols = list(results)
    pairs = [(a, b) for a, b in RATIOS if a in cols and b in cols]
    out = [header, ""]
    titles = [f"{SHORT[a]} ÷ {SHORT[b]}" for a, b in pairs]
    out += figures_table(results, table_rows(p), [labels[c] for c in cols], pairs, titles)
    out += [
        "",
        "Ratios are column ÷ column: >1x means the first is faster (throughput rows) or uses "
        "more memory (RSS rows, which count the S3 front only: Nexq's processes and nginx, or "
        "radosgw; not the OSD, not PostgreSQL). `*` = see notes. ERR¹ = see errors.",
    ]

    # Latency.
    out += [
        "",
        "### Latency",
        "",
        "| Workload | Metric | " + " | ".join(labels[c] for c in cols) + " |",
    ]
    out.append("|---|---|" + "---:|" * len(cols))
    for row in table_rows(p):
        if row.key not in SMALL:
            continue
        for key, name in (("p50_ms", "p50 (ms)"), ("p99_ms", "p99 (ms)")):
            vals = []
            for c in cols:
                r = results[c].get(row.key)
                x = r.extra.get(key) if r is not None else None
                vals.append("—" if x is None or x != x else fmt(x))
            out.append(f"| {row.label} | {name} | " + " | ".join(vals) + " |")

    out += render_costs(costs, labels, cols)
    out += render_model(costs, p)

    notes: list[str] = []
    for c in cols:
        for row in table_rows(p):
            r = results[c].get(row.key)
            if r is not None and r.error and (len(r.error) > 40 or r.value is None):
                notes.append(f"- ¹ **{labels[c]} — {row.label}**: {r.error}")
            elif r is not None and r.note and r.value is not None:
                notes.append(f"- * **{labels[c]} — {row.label}**: {r.note}")
    for c in cols:
        for line in problems.get(c, []):
            notes.append(f"- log of **{labels[c]}**: `{line}`")
    if notes:
        out += ["", "### Errors, notes and log lines", "", *notes]
    return "\n".join(out) + "\n"


def _us(x: float | None) -> str:
    return "—" if x is None else fmt(x)


def render_costs(
    costs: dict[str, dict[str, Cost]], labels: dict[str, str], cols: list[str]
) -> list[str]:
    out = [
        "",
        "### What each request costs, by process group",
        "",
        "CPU µs per request (per page for listing, per MB for large transfers): utime+stime "
        "from /proc over the whole workload (the small workloads' warm-up requests included, "
        "and counted). *front* is Nexq's processes (all nodes, all workers) or radosgw. "
        "*kernel*: kernel threads (block I/O, the file system's journal under the OSD's file) "
        "and interrupts (loopback TCP's receive side is counted there, not in the "
        "processes). *other*: the rest of the machine's busy time, i.e. other processes: "
        "noise from other work on the machine. *server side* = front "
        "+ nginx + PostgreSQL + ceph-osd. *busy* is the machine's CPU use during the workload "
        "(200% = both CPUs).",
        "",
        "| Workload | Server | per | client | front | nginx | PostgreSQL | ceph-osd | "
        "mon+mgr | kernel | other | server side | busy |",
        "|---|---|---|" + "---:|" * 10,
    ]
    for w in STEPS:
        for c in cols:
            cost = costs.get(c, {}).get(w)
            if cost is None or not cost.ops:
                continue
            side = sum(cost.cpu.get(g, 0.0) for g in ("front", "nginx", "postgres", "ceph-osd"))
            busy = sum(cost.cpu.values()) / max(cost.elapsed, 1e-9) * 100
            cells = [
                w, labels[c], cost.unit, *(_us(cost.per_op(g)) for g in GROUPS),
                _us(side / cost.ops * 1e6), f"{busy:.0f}%",
            ]  # fmt: skip
            out.append("| " + " | ".join(cells) + " |")

    out += [
        "",
        "### The OSD and the commit stream",
        "",
        "| Workload | Server | OSD ops/req | OSD writes/req | PG statements/req | reqs/batch | "
        "batches/s | lock held | waiting (mean) | holder: WAL | holder: PG | holder: Nexq | "
        "serial µs/req |",
        "|---|---|" + "---:|" * 11,
    ]
    for w in SMALL:
        for c in cols:
            cost = costs.get(c, {}).get(w)
            if cost is None or not cost.ops:
                continue
            osd_ops = cost.osd.get("op")
            writes = cost.osd.get("op_w", 0.0) + cost.osd.get("op_rw", 0.0)
            cells = [w, labels[c]]
            cells += [
                _us(osd_ops / cost.ops) if osd_ops is not None else "—",
                _us(writes / cost.ops) if osd_ops is not None else "—",
            ]
            if c.startswith("nexq") and cost.lock_held is not None:
                st = cost.lock_states
                cells += [
                    _us(cost.statements / cost.ops),
                    _us(cost.ops / cost.batches) if cost.batches else "—",
                    _us(cost.batches / cost.elapsed),
                    f"{cost.lock_held:.0%}",
                    _us(cost.lock_waiters or 0.0),
                    *(f"{st.get(k, 0.0):.0%}" for k in ("wal", "pg", "nexq")),
                    _us(cost.lock_held * cost.elapsed / cost.ops * 1e6),
                ]
            else:
                cells += ["—"] * 9
            out.append("| " + " | ".join(cells) + " |")
    out += [
        "",
        "*OSD ops*: RADOS operations the OSD served per request (its `op` counter; *writes*: "
        "`op_w` + `op_rw`). *PG statements*: statements PostgreSQL ran per request "
        "(pg_stat_statements, reads included; it missed most of the committer's BEGIN, "
        "SAVEPOINT, RELEASE and COMMIT, so those are not in). *reqs/batch*: requests per "
        "group-commit batch (batches = calls of `pg_advisory_xact_lock`, including the nodes' "
        "own once-a-second usage flushes). *lock held*: share of 20 ms samples of `pg_locks` "
        "in which a committer held the write lock, i.e. how busy the cluster's single commit "
        "stream was; *waiting*: mean number of other committers queued for it. *holder*: what "
        "the holding backend was doing in those samples (`pg_stat_activity`): flushing or "
        "writing the WAL, running a statement (or waiting for a CPU to run it), or idle in "
        "its transaction, waiting for the node's next statement (the round trip, the node's "
        "Python, and the node waiting for a CPU or for its GIL). *serial µs/req* = lock held "
        "x wall time ÷ requests: the time each request kept the whole cluster's writes "
        "waiting.",
    ]
    return out


def _pick(costs: dict[str, dict[str, Cost]]) -> str | None:
    for key in ("nexq-3n1w-lb", "nexq-1n1w-lb", "nexq-1n1w", "nexq-1n2w"):
        if costs.get(key):
            return key
    return None


# Round trips a PUT's write makes to PostgreSQL while its batch holds the write lock
# (nexq.storage.metadata.sqlite, put_object's write, and nexq.core.db.Committer): SAVEPOINT,
# the conditions' SELECT, UPDATE account_storage, UPDATE buckets, INSERT INTO objects,
# RELEASE; and per batch: BEGIN, pg_advisory_xact_lock, COMMIT.
# Waits of a new-key PUT for PostgreSQL since the committer pipelines (core.postgres): the
# conditions' SELECT (versioning and the current object at once) and the counters' UPDATEs,
# checked together; SAVEPOINT, INSERT and RELEASE are sent without waiting. Per batch: the
# COMMIT (BEGIN and the lock go ahead of the first write's statements).
PUT_ROUND_TRIPS = 2
BATCH_ROUND_TRIPS = 1
ROUND_TRIPS_US = (200.0, 100.0, 50.0)  # round trips of other deployments, for the model


def render_model(costs: dict[str, dict[str, Cost]], p: Params) -> list[str]:
    key = _pick(costs)
    if key is None:
        return []
    out = [
        "",
        "### Cost model: where the limit is as nodes are added",
        "",
        f"From the costs of **{key}** above. Assumptions, kept simple: every component gets "
        "cores of its own (not this 2-CPU box, where they all share two); a component's CPU "
        "cost per request stays what it was here, so its capacity is cores ÷ cost; Nexq "
        "nodes have one core each and add up linearly behind the balancer (they share "
        "nothing but PostgreSQL and Ceph); the OSD side grows with OSDs (RADOS spreads "
        "objects over placement groups) and PostgreSQL's CPU with its cores (reads run on "
        "pooled connections, in parallel).",
        "",
        "**CPU.** One core of PostgreSQL (of OSD, of nginx) keeps up with this many one-core "
        "Nexq nodes doing only this workload:",
        "",
        "| Workload | Nexq µs/req (req/s per node) | PostgreSQL µs/req: nodes per core | "
        "ceph-osd µs/req: nodes per core | nginx µs/req: nodes per core |",
        "|---|---:|---:|---:|---:|",
    ]
    for w in ("put4k", "listload", "get4k", "head4k", "list"):
        cost = costs[key].get(w)
        nexq = cost.per_op("front") if cost is not None else None
        if cost is None or not nexq:
            continue

        def per(group: str, c: Cost = cost, n: float = nexq) -> str:
            x = c.per_op(group)
            return f"{fmt(x)}: {n / x:.1f}" if x else "—"

        out.append(
            f"| {w} (per {cost.unit}) | {fmt(nexq)} ({fmt(1e6 / nexq)}) | {per('postgres')} | "
            f"{per('ceph-osd')} | {per('nginx')} |"
        )
    rts = " | ".join(f"at {t:.0f} µs" for t in ROUND_TRIPS_US)
    out += [
        "",
        "**The commit stream.** It does not grow with cores or nodes: every node's batches "
        "take one advisory lock for their whole transaction, so the cluster's writes run one "
        "batch at a time. A PUT keeps it for *k* round trips between the node and "
        f"PostgreSQL ({PUT_ROUND_TRIPS} per write, the others pipelined: the conditions' "
        f"SELECT and the counters' UPDATEs; plus {BATCH_ROUND_TRIPS} per batch: the COMMIT, "
        "shared by the batch's *b* writes) and *e*, PostgreSQL's own work (statements "
        "and the WAL flush: the samples in which the holder was busy in PostgreSQL). Serial "
        "time per PUT = k x t + e, where *t* is a round trip as the lock holder sees it "
        "(network, the node's Python between statements, and on this box, waiting for a "
        "CPU or for the node's GIL); capacity = 1 ÷ serial time, whatever the number of "
        "nodes. *t* here is derived: (measured serial time - e) ÷ k. The other columns put "
        "in the round trip of other deployments (same rack, no CPU contention).",
        "",
        f"| Workload | b | k | e µs | serial µs (measured) | t µs (derived) | PUT/s at t here "
        f"| {rts} | nodes fed: here | "
        + " | ".join(f"at {t:.0f} µs" for t in ROUND_TRIPS_US)
        + " |",
        "|---|" + "---:|" * (5 + 2 * (1 + len(ROUND_TRIPS_US))),
    ]
    for w in ("put4k", "listload"):
        cost = costs[key].get(w)
        nexq = cost.per_op("front") if cost is not None else None
        if cost is None or not nexq or not cost.batches or not cost.lock_held:
            continue
        b = cost.ops / cost.batches
        k = PUT_ROUND_TRIPS + BATCH_ROUND_TRIPS / b
        serial = cost.lock_held * cost.elapsed / cost.ops * 1e6
        e = serial * (cost.lock_states.get("wal", 0.0) + cost.lock_states.get("pg", 0.0))
        t = max(0.0, (serial - e) / k)
        caps = [1e6 / serial] + [1e6 / (k * x + e) for x in ROUND_TRIPS_US]
        cells = [w, fmt(b), fmt(k), fmt(e), fmt(serial), fmt(t)]
        cells += [fmt(c) for c in caps]
        cells += [f"{c * nexq / 1e6:.1f}" for c in caps]
        out.append("| " + " | ".join(cells) + " |")
    out += [
        "",
        "The smallest number of nodes saturates first. Measured serial time is inflated here "
        "(the holder waits for a CPU like every process of this box); *b* grows with more "
        "concurrent writers, which shares the per-batch round trips and WAL flush but not "
        "the per-write ones, so k stays at least "
        f"{PUT_ROUND_TRIPS}.",
    ]
    for w in ("put4k", "get4k"):
        cost = costs[key].get(w)
        if cost is None or not cost.top_statements:
            continue
        out += [
            "",
            f"Statements PostgreSQL ran per request in {w} ({key}; pg_stat_statements, the "
            "most called first; execution time only, without round trips; it counted only a "
            "few of the committer's BEGIN, SAVEPOINT, RELEASE and COMMIT, which are left "
            "out):",
            "",
            "| Statement | calls/req | exec µs/req |",
            "|---|---:|---:|",
        ]
        for query, calls, us in cost.top_statements:
            text = query.replace("|", "\\|")
            out.append(f"| `{text}` | {calls:.2f} | {fmt(us)} |")
    return out


def header_text(infra: Infra, p: Params, quick: bool, elapsed: float) -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, timeout=10, check=False,
        ).stdout.decode().strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True, timeout=10, check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        commit, dirty = "", b""
    if commit and dirty:
        commit += " + uncommitted changes in src/"
    import platform

    big = f"{p.big_bytes // MiB} MiB"
    return "\n".join(
        [
            f"## Nexq on PostgreSQL + Ceph vs Ceph RGW ({'quick' if quick else 'full'} mode)",
            "",
            f"- When: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, run took "
            f"{elapsed / 60:.1f} min",
            f"- Machine: {os.cpu_count()} CPUs ({platform.machine()}), Linux "
            f"{platform.release()}, Python {platform.python_version()}; client, servers, "
            "PostgreSQL and Ceph all share the CPUs over loopback",
            f"- Nexq: working tree at {commit or '?'}; {infra.ceph.version}; "
            f"PostgreSQL {infra.pg.version}; nginx {_first_line(['nginx', '-v']).split('/')[-1]}",
            "- Ceph: scripts/ceph-single-node (1 mon, 1 mgr, 1 BlueStore OSD on a file on the "
            "same ext4 disk, 1 replica, 8 PGs per pool); PostgreSQL: fsync and "
            "synchronous_commit on, shared_buffers 256MB, pg_stat_statements loaded",
            "- RGW: one `radosgw -f` with its own cephx key (mon `allow rw`, osd `allow rwx`), "
            "`rgw frontends = beast endpoint=127.0.0.1:PORT tcp_nodelay=1` (*RGW (beast "
            "defaults)*: without `tcp_nodelay=1`), everything else at Ceph's defaults (its pools "
            "made by radosgw itself, default bucket index sharding, one log line per request); "
            "one user by `radosgw-admin user create`",
            "- Nexq: `nexq serve --database postgresql://… --blobs "
            "'rados://nexq?conf=…&id=nexq&namespace=…' --nodes N --workers W` per node, "
            "`nexq admin migrate` first, one NEXQ_MASTER_KEY for all nodes; nginx (1 worker, "
            "round robin, keepalive to the nodes) in front where the column says so",
            f"- Small ops: {p.small_n:,} requests (+{p.warmup} warm-up) each, {p.small_conc} "
            f"keep-alive connections; large: {big} in one stream; multipart "
            f"{p.mp_bytes // MiB} MiB; payload hash: "
            f"{'UNSIGNED-PAYLOAD' if p.unsigned else 'real SHA-256 (precomputed)'}",
            "- Configurations ran one after the other in the order of the columns, on the same "
            "Ceph cluster and PostgreSQL (each Nexq one in a database and RADOS namespace of "
            "its own). MB/s = 10^6 bytes per second",
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    keys = [c.key for c in configs(None, False)]
    defaults = [c.key for c in configs(None, False) if c.default]
    ap.add_argument("--quick", action="store_true", help="smaller, faster run (256 MiB objects)")
    ap.add_argument("--configs", default=",".join(defaults), help=f"any of {','.join(keys)}")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="subset to run")
    ap.add_argument("--out", default=None, help="write the markdown report here (and .json)")
    ap.add_argument("--small-n", type=int, default=None, help="requests per small-op workload")
    ap.add_argument("--big-mib", type=int, default=None, help="size of the large PUT/GET")
    ap.add_argument("--unsigned-payload", action="store_true", help="send UNSIGNED-PAYLOAD")
    ap.add_argument("--tmp", default=None, help="parent directory of Ceph, PostgreSQL, data dirs")
    ap.add_argument("--keep", action="store_true", help="keep every temp dir")
    ap.add_argument("--wait-idle", type=float, default=120.0, help="see bench/run.py")
    args = ap.parse_args()

    p = Params(unsigned=args.unsigned_payload)
    if args.quick:
        p.small_n, p.list_seconds, p.warmup = 1000, 5.0, 100
        p.big_bytes, p.mp_bytes = 256 * MiB, 128 * MiB
    if args.small_n:
        p.small_n = args.small_n
    if args.big_mib:
        p.big_bytes = args.big_mib * MiB
    selected = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if set(selected) - set(WORKLOADS):
        ap.error(f"unknown workloads: {sorted(set(selected) - set(WORKLOADS))}")
    wanted = [k.strip() for k in args.configs.split(",") if k.strip()]
    if set(wanted) - set(keys):
        ap.error(f"unknown configurations: {sorted(set(wanted) - set(keys))}")
    if shutil.which("radosgw") is None and any(k.startswith("rgw") for k in wanted):
        ap.error("radosgw is not installed: apt-get install -y --no-install-recommends radosgw")
    reason = _servers.volatile_reason(Path(args.tmp or tempfile.gettempdir()))
    if reason:
        ap.error(f"refusing: {reason}")

    t_start = time.perf_counter()
    log("starting Ceph (scripts/ceph-single-node) and PostgreSQL")
    ceph = Ceph(args.tmp, args.keep)
    try:
        pg = Postgres(args.tmp, args.keep)
    except BaseException:
        ceph.stop()
        raise
    infra = Infra(ceph, pg)
    log(f"Ceph ready in {ceph.started_in:.1f}s ({ceph.conf}); PostgreSQL {pg.version} in {pg.root}")
    results: dict[str, dict[str, Result]] = {}
    costs: dict[str, dict[str, Cost]] = {}
    problems: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    try:
        for config in configs(args.tmp, args.keep):
            if config.key not in wanted:
                continue
            labels[config.key] = config.label
            os.sync()
            wait_quiet(args.wait_idle)
            try:
                server = config.make(infra)
            except Exception as e:
                results[config.key] = {w: Result(error=f"{e}"[:400]) for w in STEPS}
                continue
            try:
                results[config.key], costs[config.key], problems[config.key] = bench_config(
                    server, infra, p, selected, args.wait_idle
                )
            except KeyboardInterrupt:
                server.stop()
                raise
    finally:
        pg.stop()
        ceph.stop()

    report = render(
        results, costs, problems, labels, p,
        header_text(infra, p, args.quick, time.perf_counter() - t_start),
    )  # fmt: skip
    print(report)
    if args.out:
        out = Path(args.out)
        out.write_text(report)
        raw = {
            "results": {c: {k: asdict(v) for k, v in r.items()} for c, r in results.items()},
            "costs": {c: {k: asdict(v) for k, v in r.items()} for c, r in costs.items()},
            "log_lines": problems,
        }
        out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
        log(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
