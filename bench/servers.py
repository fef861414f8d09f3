"""Start, probe and stop the servers under test, and measure their processes.

Every server is started by the harness itself on 127.0.0.1 with a free port and
a fresh temporary data directory, in its own session (process group) so that it
and the children it forks (uvicorn workers, nginx workers) can be stopped
together by the group id of the process we started, and measured together by
walking ``/proc`` for its descendants. Nexq is started here; the peers it is
measured against (moto, nginx, s3rver) are in peers.py.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The Nexq tree under test: this checkout's src/ unless --nexq-src names another (e.g. a git
# worktree of an older commit, to compare two trees with the same harness).
SRC = REPO / "src"


def use_nexq_src(src: Path) -> None:
    """Run Nexq from ``src`` (a directory holding the ``nexq`` package) instead."""
    global SRC
    SRC = src.resolve()


_CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- durability

# File systems that live in memory: syncfs/fsync return at once and a power cut loses all,
# so a PUT measured there pays nothing for durability.
VOLATILE_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


def filesystem_type(path: Path) -> str:
    """The type of the file system holding ``path``: the last-mounted of the longest mount
    points containing it, as /proc/mounts lists them ("unknown" if none matches)."""
    real = os.path.realpath(path)
    best, kind = "", "unknown"
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 3:
                continue
            # Spaces and other odd characters of mount points are written as octal escapes.
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


def volatile_reason(path: Path) -> str:
    """Why figures measured with a data dir under ``path`` are not durable ("" if they are)."""
    kind = filesystem_type(path)
    if kind not in VOLATILE_FILESYSTEMS:
        return ""
    return (
        f"{path} is on {kind}: syncfs/fsync are no-ops there, so Nexq's figures would not "
        "include the cost of making writes durable"
    )


# --------------------------------------------------------------------------- /proc


def _ppid_map() -> dict[int, int]:
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2 :].split()
        out[int(name)] = int(rest[1])
    return out


def tree_pids(root: int) -> list[int]:
    """``root`` and all of its live descendants."""
    parents = _ppid_map()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = [root] if root in parents else []
    while todo and len(out) < 10_000:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def rss_kib(pids: list[int]) -> int:
    """Sum of VmRSS (KiB) over ``pids`` (vanished processes count as 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds consumed so far by ``pids``."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                rest = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        ticks += int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)
    return ticks / _CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all CPUs, from /proc/stat)."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    return (sum(fields[:8]) - fields[3] - fields[4]) / _CLK_TCK


class CpuMeter:
    """CPU used during a block by the server tree, by this client process, and by the rest."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.server_s = self.client_s = self.other_s = self.elapsed = 0.0

    def __enter__(self) -> CpuMeter:
        self._s0 = cpu_seconds(tree_pids(self.root))
        self._c0 = time.process_time()
        self._m0 = machine_busy_seconds()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self._t0
        self.server_s = cpu_seconds(tree_pids(self.root)) - self._s0
        self.client_s = time.process_time() - self._c0
        machine = machine_busy_seconds() - self._m0
        self.other_s = max(0.0, machine - self.server_s - self.client_s)

    def figures(self, ops: int | None = None) -> dict[str, float]:
        """Figures for a Result's ``extra`` (per request when ``ops`` is given)."""
        ncpu = os.cpu_count() or 1
        out = {
            "seconds": self.elapsed,
            "server_cpu_s": self.server_s,
            "client_cpu_s": self.client_s,
            "other_cpu_pct": 100 * self.other_s / max(self.elapsed * ncpu, 1e-9),
        }
        if ops:
            out["server_cpu_us_per_op"] = self.server_s / ops * 1e6
            out["client_cpu_us_per_op"] = self.client_s / ops * 1e6
        return out


def machine_busy_fraction(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` (to spot other load before a run)."""
    m0, t0 = machine_busy_seconds(), time.perf_counter()
    time.sleep(seconds)
    return (machine_busy_seconds() - m0) / ((time.perf_counter() - t0) * (os.cpu_count() or 1))


class RssSampler:
    """Samples the summed VmRSS of a process tree every ``interval`` seconds in a thread."""

    def __init__(self, root: int, interval: float = 0.05, max_seconds: float = 1800.0) -> None:
        self.root = root
        self.interval = interval
        self.max_seconds = max_seconds
        self.peak_kib = 0
        self.first_kib = 0  # the first sample: the tree as the transfer began
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        pids = tree_pids(self.root)
        n = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            if n % 20 == 0:  # re-walk the tree once a second: workers may fork
                pids = tree_pids(self.root)
            now = rss_kib(pids)
            if not self.samples:
                self.first_kib = now
            self.peak_kib = max(self.peak_kib, now)
            self.samples += 1
            n += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024

    @property
    def growth_mib(self) -> float:
        """How much the tree grew past its first sample (what the transfer itself took)."""
        return (self.peak_kib - self.first_kib) / 1024


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, n: int = 2000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-n:].decode("utf-8", "replace")


def wait_http(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until the port answers an HTTP request (any status) or the process dies."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} during startup")
        try:
            with socket.create_connection((host, port), timeout=1.0) as s:
                s.sendall(
                    f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
                )
                if s.recv(16).startswith(b"HTTP/"):
                    return
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer on {host}:{port} within {timeout:.0f}s ({last!r})")


@dataclass
class Endpoint:
    host: str
    port: int
    access_key: str
    secret_key: str
    pid: int


# --------------------------------------------------------------------------- servers


class Server:
    """Base class: a server process in its own process group with a temp dir."""

    name = "server"
    label = "server"
    s3 = True  # speaks S3 (False: plain HTTP/WebDAV)

    def __init__(self, tmp_root: str | None = None, keep: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"nexq-bench-{self.name}-", dir=tmp_root))
        self.keep = keep
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "server.log"
        self.port = 0
        self.endpoint: Endpoint | None = None

    def _spawn(self, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.dir,
                start_new_session=True,
            )
        return self.proc

    def start(self) -> Endpoint:
        raise NotImplementedError

    def create_bucket(self, bucket: str) -> None:
        assert self.endpoint is not None
        import boto3  # setup only: boto3's per-request cost does not matter here
        from botocore.config import Config

        ep = self.endpoint
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{ep.host}:{ep.port}",
            aws_access_key_id=ep.access_key,
            aws_secret_access_key=ep.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )
        client.create_bucket(Bucket=bucket)

    def log_tail(self) -> str:
        return _tail(self.log)

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the group of the process we started
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        if proc is not None:
            # Children (workers) may outlive the parent briefly; sweep the group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def nexq_cmd() -> list[str]:
    return [sys.executable, "-m", "nexq.cli.nexq"]


def nexq_env() -> dict[str, str]:
    pp = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{pp}" if pp else str(SRC))


@functools.cache
def _has_registry() -> bool:
    out = subprocess.run(
        [*nexq_cmd(), "serve", "--help"],
        env=nexq_env(),
        capture_output=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return b"--registry-port" in out.stdout


def nexq_probe() -> tuple[bool, bool, str]:
    """(available, supports --workers, reason). Cheap: runs ``serve --help`` once."""
    if not (SRC / "nexq" / "cli").is_dir() or not any((SRC / "nexq" / "cli").glob("*.py")):
        return False, False, "src/nexq/cli/ does not exist yet"
    try:
        out = subprocess.run(
            [*nexq_cmd(), "serve", "--help"],
            env=nexq_env(),
            capture_output=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, False, f"`nexq serve --help` failed: {e!r}"
    text = (out.stdout + out.stderr).decode("utf-8", "replace")
    if out.returncode != 0 or "--s3-port" not in text:
        return False, False, f"`nexq serve --help` rc={out.returncode}: {text[-300:].strip()}"
    return True, "--workers" in text, ""


def _last_json(text: str) -> dict[str, object]:
    """The JSON object printed by an admin command (tolerates log lines around it)."""
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            return obj
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict):
                    return obj
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        obj = json.loads(text[start : end + 1])
        if isinstance(obj, dict):
            return obj
    raise ValueError(f"no JSON object in output: {text[-300:]!r}")


class NexqServer(Server):
    name = "nexq"

    def __init__(
        self,
        tmp_root: str | None = None,
        keep: bool = False,
        workers: int | None = None,
        not_durable: bool = False,
    ) -> None:
        super().__init__(tmp_root, keep)
        self.workers = workers
        self.label = f"Nexq {workers or 1}w"
        self.name = f"nexq-w{workers or 1}"
        self.data_dir = self.dir / "data"
        # Nexq's figures are those of fsynced writes: refused on a file system in memory,
        # unless asked for, and then labelled.
        self.volatile = volatile_reason(self.dir)
        if self.volatile and not not_durable:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError(f"{self.volatile}; give --tmp a directory on a disk")
        if self.volatile:
            self.label += " (NOT durable)"
            self.name += "-not-durable"  # the key of its figures in the JSON report

    def env(self) -> dict[str, str]:
        """The environment of ``nexq admin`` and ``nexq serve`` (a subclass adds settings)."""
        return nexq_env()

    def _admin(self, *args: str) -> dict[str, object]:
        cmd = [*nexq_cmd(), "admin", *args]
        out = subprocess.run(
            cmd,
            env=self.env(),
            capture_output=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd=self.dir,
        )
        text = out.stdout.decode("utf-8", "replace")
        if out.returncode != 0:
            err = (text + out.stderr.decode("utf-8", "replace")).strip()
            raise RuntimeError(
                f"`nexq admin {' '.join(args[:2])}` rc={out.returncode}: {err[-500:]}"
            )
        return _last_json(text)

    def _make_key(self) -> tuple[str, str]:
        email = "bench@example.com"
        dd = str(self.data_dir)
        self._admin(
            "account", "create", "--data-dir", dd, "--email", email, "--password",
            secrets.token_urlsafe(16),
        )  # fmt: skip
        # Finite limits far above what the run can reach: every quota and rate check runs
        # (an unlimited tier would skip them) without refusing anything. A tree without
        # tiers has no such command, and nothing to check.
        with contextlib.suppress(RuntimeError):
            self._admin(
                "account", "limits", "--data-dir", dd, "--account", email,
                "--set", f"storage_bytes={10**15}", "--set", f"s3_read_rps={10**9}",
                "--set", f"s3_write_rps={10**9}", "--set", "buckets=1000",
            )  # fmt: skip
        key = self._admin(
            "access-key", "create", "--data-dir", dd, "--account", email, "--label", "bench"
        )
        return str(key["access_key_id"]), str(key["secret_access_key"])

    def _serve(self) -> subprocess.Popen[bytes]:
        self.port = free_port()
        cmd = [
            *nexq_cmd(), "serve", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
            "--s3-port", str(self.port), "--api-port", str(free_port()),
        ]  # fmt: skip
        if _has_registry():  # trees before the registry have no such listener
            cmd += ["--registry-port", str(free_port())]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        # The databases' backup listener: a port of its own, as several servers may run.
        env = {**self.env(), "NEXQ_DATABASES_BACKUP_PORT": str(free_port())}
        proc = self._spawn(cmd, env)
        wait_http("127.0.0.1", self.port, proc, 90)
        return proc

    def start(self) -> Endpoint:
        self.data_dir.mkdir(exist_ok=True)
        admin_error: RuntimeError | None = None
        try:
            ak, sk = self._make_key()
        except RuntimeError as e:
            admin_error = e  # perhaps `serve` must initialise the data dir first
        proc = self._serve()
        if admin_error is not None:
            try:
                ak, sk = self._make_key()
            except RuntimeError as e:
                raise RuntimeError(f"{admin_error}; again after serve: {e}") from e
        self.endpoint = Endpoint("127.0.0.1", self.port, ak, sk, proc.pid)
        return self.endpoint
