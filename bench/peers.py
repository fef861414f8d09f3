"""The peers Nexq is measured against: moto, nginx and s3rver.

Each is a :class:`servers.Server`: started by the harness on 127.0.0.1 with a free port
and a fresh temporary directory (its data lives inside ``Server.dir``), in a process group
of its own. s3rver is installed from npm into ``bench/.peers`` on first use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import servers as _servers
from servers import Endpoint, Server, free_port, wait_http


class MotoServer(Server):
    name = "moto"
    label = "moto"

    def start(self) -> Endpoint:
        self.port = free_port()
        env = dict(os.environ, TMPDIR=str(self.dir))  # moto spools large values to temp files
        proc = self._spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], env
        )
        wait_http("127.0.0.1", self.port, proc, 60)
        self.endpoint = Endpoint("127.0.0.1", self.port, "AKIDBENCHMOTO", "secret", proc.pid)
        return self.endpoint


NGINX_CONF = """\
worker_processes {workers};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_max_body_size 0;
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fastcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {d}/data;
        location / {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
"""


class NginxServer(Server):
    """nginx as a plain-HTTP ceiling: static GET/HEAD, WebDAV PUT, no S3 semantics."""

    name = "nginx"
    label = "nginx"
    s3 = False

    def __init__(self, tmp_root: str | None = None, keep: bool = False, workers: int = 1) -> None:
        super().__init__(tmp_root, keep)
        self.workers = workers

    def start(self) -> Endpoint:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.port = free_port()
        (self.dir / "data").mkdir()
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = self.dir / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(workers=self.workers, d=self.dir, user=user, port=self.port)
        )
        proc = self._spawn(
            [nginx, "-e", str(self.dir / "error.log"), "-p", str(self.dir), "-c", str(conf)]
        )
        wait_http("127.0.0.1", self.port, proc, 30)
        self.endpoint = Endpoint("127.0.0.1", self.port, "AKIDBENCHNGINX", "secret", proc.pid)
        return self.endpoint

    def create_bucket(self, bucket: str) -> None:
        (self.dir / "data" / bucket).mkdir(parents=True, exist_ok=True)

    def log_tail(self) -> str:
        return _servers._tail(self.log) + _servers._tail(self.dir / "error.log")


# --------------------------------------------------------------------------- s3rver

S3RVER_VERSION = "3.7.1"
# npm's cache of the peers (gitignored): bench/.peers/node_modules/s3rver.
PEERS_DIR = Path(__file__).resolve().parent / ".peers"
S3RVER_DIR = PEERS_DIR / "node_modules" / "s3rver"


def installed_s3rver() -> str:
    """The version of the s3rver in ``bench/.peers`` ("" if there is none)."""
    try:
        meta = json.loads((S3RVER_DIR / "package.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(meta.get("version", ""))


def ensure_s3rver() -> tuple[bool, str]:
    """Install s3rver ``S3RVER_VERSION`` with npm unless it is there: (ok, reason)."""
    if shutil.which("node") is None:
        return False, "node is not installed"
    if installed_s3rver() == S3RVER_VERSION:
        return True, ""
    npm = shutil.which("npm")
    if npm is None:
        return False, "npm is not installed (needed once, to fetch s3rver)"
    cmd = [
        npm, "install", "--prefix", str(PEERS_DIR), "--no-audit", "--no-fund",
        "--save-exact", f"s3rver@{S3RVER_VERSION}",
    ]  # fmt: skip
    try:
        out = subprocess.run(
            cmd, capture_output=True, timeout=600, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"`npm install s3rver@{S3RVER_VERSION}` failed: {e!r}"
    if out.returncode != 0 or installed_s3rver() != S3RVER_VERSION:
        text = (out.stdout + out.stderr).decode("utf-8", "replace").strip()
        return False, f"`npm install s3rver@{S3RVER_VERSION}` rc={out.returncode}: {text[-300:]}"
    return True, ""


def node_version() -> str:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.decode().strip() or "?"


def _node_major() -> int:
    digits = node_version().lstrip("v").split(".")[0]
    return int(digits) if digits.isdigit() else 0


class S3rverServer(Server):
    """s3rver, an S3 server in Node.js that keeps objects as files and fsyncs nothing.

    It checks SigV4 signatures against its one built-in key pair, S3RVER/S3RVER.
    """

    name = "s3rver"
    label = "s3rver"

    def start(self) -> Endpoint:
        self.port = free_port()
        data = self.dir / "data"
        data.mkdir()
        cli = S3RVER_DIR / "bin" / "s3rver.js"
        # node itself is the process started (no npx or shell between), so the group and
        # the /proc tree measured are s3rver's own. s3rver makes ListObjectsV2's
        # continuation tokens with DES, which OpenSSL 3 (Node.js 17 and later) keeps in its
        # legacy provider: without it every truncated listing is a 500.
        legacy = ["--openssl-legacy-provider"] if _node_major() >= 17 else []
        cmd = ["node", *legacy, str(cli), "-d", str(data), "-a", "127.0.0.1", "-p", str(self.port)]
        proc = self._spawn([*cmd, "--silent"])
        wait_http("127.0.0.1", self.port, proc, 60)
        self.endpoint = Endpoint("127.0.0.1", self.port, "S3RVER", "S3RVER", proc.pid)
        return self.endpoint
