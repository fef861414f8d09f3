"""A bounded soak of Nexq's S3 endpoint: mixed traffic, every read verified, resources watched.

    python bench/soak.py                    # short form: 60 s, 16 clients, sizes up to 8 MiB
    python bench/soak.py --long             # long form: 600 s, 64 clients, sizes up to 64 MiB
    python bench/soak.py --duration 120 --clients 32 --max-size 16 --out soak.json

It starts its own ``nexq serve`` (a temporary data dir, free loopback ports, a Free account
with its request rates and stored bytes lifted), then runs ``--clients`` keep-alive
connections for ``--duration`` seconds. Each client owns a key prefix and remembers what it
last stored under each key, so every GET is checked byte for byte, every 404 and every
listing against that memory.
Operations: PUT 30 %, GET 40 %, LIST (prefix, V2) 15 %, DELETE 15 %; object sizes from 0 B to
``--max-size`` MiB, small sizes far more often than large ones.

Every second the server's RSS and open file descriptors (the parent and its worker
processes, from /proc) are sampled. After a warm-up (the first 20 % of the run) the samples
are cut in thirds; the run is *flat* when the last third's mean is within 20 % of the first
third's (plus 16 MiB of RSS and 8 descriptors of slack for small absolute values).

Prints a summary and writes JSON (latency p50/p95/p99 per operation, throughput, errors,
the resource series); exits 1 on any error or if RSS or descriptors were not flat.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from httpc import AsyncConn
from servers import volatile_reason
from sigv4 import UNSIGNED_PAYLOAD, Signer, canonical_query

MiB = 1024 * 1024
BUCKET = "soak"
KEYS_PER_CLIENT = 12
OPS = ["PUT", "GET", "LIST", "DELETE"]
WEIGHTS = [30, 40, 15, 15]
_BLOCK = random.Random(1).randbytes(MiB + 4096)


def sizes(max_mib: int) -> tuple[list[int], list[int]]:
    """Object sizes and their weights: mostly small, now and then the largest."""
    table = [(0, 5), (1, 5), (1000, 20), (4096, 20), (65_536, 15), (300_000, 10), (MiB, 8)]
    table += [(m * MiB, w) for m, w in ((4, 4), (8, 3), (16, 2), (32, 1), (64, 1))]
    chosen = [(s, w) for s, w in table if s <= max_mib * MiB]
    return [s for s, _ in chosen], [w for _, w in chosen]


def body_of(seed: int, size: int) -> bytes:
    """Deterministic bytes for (seed, size), made cheaply from one random block."""
    offset = seed % 4096
    block = _BLOCK[offset : offset + MiB]
    whole, rest = divmod(size, MiB)
    return block * whole + block[:rest]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ the server


@dataclass
class Server:
    data_dir: Path
    workers: int
    s3_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def nexq(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "nexq.cli.nexq", *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"nexq {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        log = open(self.data_dir.parent / "server.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nexq.cli.nexq",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--s3-port",
                str(self.s3_port),
                "--api-port",
                str(self.api_port),
                "--registry-port",
                str(free_port()),
                *(["--workers", str(self.workers)] if self.workers else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its databases' backup listener too on a free port, not the default 9443 that
            # another Nexq on this machine may hold.
            env={**os.environ, "NEXQ_DATABASES_BACKUP_PORT": str(free_port())},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nexq serve exited")
            try:
                with socket.create_connection(("127.0.0.1", self.s3_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nexq serve did not listen within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def sample(pid: int) -> tuple[int, int]:
    """(RSS bytes, open descriptors) of ``pid`` and its descendants."""
    rss = fds = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
    return rss, fds


# ------------------------------------------------------------------------------ the clients


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    errors: list[str] = field(default_factory=list)
    bytes_in: int = 0
    bytes_out: int = 0
    verified_gets: int = 0


async def client(
    n: int,
    port: int,
    signer: Signer,
    deadline: float,
    stats: Stats,
    size_table: tuple[list[int], list[int]],
) -> None:
    rng = random.Random(n)
    conn = AsyncConn("127.0.0.1", port)
    host = conn.hostport
    stored: dict[str, tuple[int, int]] = {}  # key → (seed, size) last acknowledged
    seed = n * 1_000_000
    while time.monotonic() < deadline:
        op = rng.choices(OPS, WEIGHTS)[0]
        key = f"c{n:03d}/k{rng.randrange(KEYS_PER_CLIENT):02d}"
        path = f"/{BUCKET}/{key}"
        started = time.perf_counter()
        try:
            if op == "PUT":
                seed += 1
                size = rng.choices(*size_table)[0]
                body = body_of(seed, size)
                headers = signer.sign("PUT", host, path, "", UNSIGNED_PAYLOAD)
                answer = await conn.request("PUT", path, headers, body)
                if answer.status != 200:
                    raise AssertionError(f"PUT {key}: {answer.status} {answer.body[:200]!r}")
                md5 = hashlib.md5(body).hexdigest()  # noqa: S324 - S3's ETag is an MD5
                expected_etag = f'"{md5}"'
                if answer.headers.get("etag") != expected_etag:
                    raise AssertionError(f"PUT {key}: ETag {answer.headers.get('etag')}")
                stored[key] = (seed, size)
                stats.bytes_in += size
            elif op == "GET":
                headers = signer.sign("GET", host, path)
                answer = await conn.request("GET", path, headers)
                if key in stored:
                    want = body_of(*stored[key])
                    if answer.status != 200 or answer.body != want:
                        raise AssertionError(
                            f"GET {key}: {answer.status}, {len(answer.body)} B, "
                            f"expected {len(want)} B"
                        )
                    stats.verified_gets += 1
                    stats.bytes_out += len(answer.body)
                elif answer.status != 404:
                    raise AssertionError(f"GET {key} (deleted): {answer.status}")
            elif op == "LIST":
                query = canonical_query([("list-type", "2"), ("prefix", f"c{n:03d}/")])
                headers = signer.sign("GET", host, f"/{BUCKET}", query)
                answer = await conn.request("GET", f"/{BUCKET}?{query}", headers)
                listed = {
                    part.split(b"</Key>")[0].decode() for part in answer.body.split(b"<Key>")[1:]
                }
                if answer.status != 200 or listed != set(stored):
                    raise AssertionError(f"LIST c{n:03d}/: {sorted(listed ^ set(stored))[:5]}")
            else:
                headers = signer.sign("DELETE", host, path)
                answer = await conn.request("DELETE", path, headers)
                if answer.status != 204:
                    raise AssertionError(f"DELETE {key}: {answer.status}")
                stored.pop(key, None)
        except (AssertionError, ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            stats.errors.append(f"client {n}: {exc}")
            conn.close()
            continue
        stats.latencies[op].append(time.perf_counter() - started)
    conn.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def flat(series: list[float], slack: float) -> tuple[bool, float, float]:
    """Whether the last third of ``series`` stays within 20 % (+ slack) of its first third."""
    third = max(1, len(series) // 3)
    first = statistics.fmean(series[:third])
    last = statistics.fmean(series[-third:])
    return last <= first * 1.2 + slack, first, last


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="nexq-soak-", dir=args.tmp))
    data = root / "data"
    data.mkdir()
    # Latencies from a data dir where fsync costs nothing are labelled, never passed off.
    volatile = volatile_reason(data)
    if volatile:
        print(f"warning: the soak's latencies are NOT durable: {volatile}", file=sys.stderr)
    server = Server(data, args.workers)
    server.start()
    try:
        email = "soak@example.com"
        server.nexq("admin", "account", "create", "--email", email, "--password", "soak password 1")
        # A new account is Free. The soak measures the server, not the tier: it lifts the
        # request rates, and the stored bytes (64 clients x 12 keys x up to 64 MiB in the long
        # form is more than Free's 10 GB); the account's other limits stay Free's.
        lifted = ("s3_read_rps", "s3_write_rps", "storage_bytes")
        sets = [arg for name in lifted for arg in ("--set", f"{name}=unlimited")]
        server.nexq("admin", "account", "limits", "--account", email, *sets)
        key = json.loads(
            server.nexq("admin", "access-key", "create", "--account", email, "--label", "soak")
        )
        signer = Signer(key["access_key_id"], key["secret_access_key"])
        assert server.process is not None
        pid = server.process.pid

        async def main() -> Stats:
            conn = AsyncConn("127.0.0.1", server.s3_port)
            made = await conn.request(
                "PUT", f"/{BUCKET}", signer.sign("PUT", conn.hostport, f"/{BUCKET}"), b""
            )
            conn.close()
            if made.status != 200:
                raise RuntimeError(f"CreateBucket: {made.status} {made.body[:200]!r}")
            stats = Stats()
            deadline = time.monotonic() + args.duration
            table = sizes(args.max_size)
            await asyncio.gather(
                *(
                    client(n, server.s3_port, signer, deadline, stats, table)
                    for n in range(args.clients)
                )
            )
            return stats

        samples: list[tuple[float, int, int]] = []
        stop = threading.Event()

        def sampler() -> None:
            began = time.monotonic()
            while not stop.wait(1.0):
                rss, fds = sample(pid)
                samples.append((time.monotonic() - began, rss, fds))

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        began = time.monotonic()
        stats = asyncio.run(main())
        elapsed = time.monotonic() - began
        stop.set()
        thread.join()
        alive = server.process.poll() is None
    finally:
        server.stop()
        log = (root / "server.log").read_text(errors="replace")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    steady = [s for s in samples if s[0] >= args.duration * 0.2]
    rss_flat, rss_first, rss_last = flat([s[1] for s in steady], 16 * MiB)
    fds_flat, fds_first, fds_last = flat([s[2] for s in steady], 8)
    operations = {
        op: {
            "count": len(values),
            "per_second": round(len(values) / elapsed, 1),
            "p50_ms": round(percentile(values, 0.50) * 1000, 2),
            "p95_ms": round(percentile(values, 0.95) * 1000, 2),
            "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        }
        for op, values in stats.latencies.items()
    }
    return {
        "duration_s": round(elapsed, 1),
        "clients": args.clients,
        "max_size_mib": args.max_size,
        "workers": args.workers or "one per core",
        "durable": not volatile,  # False: the data dir was on tmpfs/ramfs
        "operations": operations,
        "total_operations": sum(o["count"] for o in operations.values()),
        "verified_gets": stats.verified_gets,
        "mib_in": round(stats.bytes_in / MiB, 1),
        "mib_out": round(stats.bytes_out / MiB, 1),
        "errors": len(stats.errors),
        "first_errors": stats.errors[:20],
        "server_alive": alive,
        "tracebacks_in_log": log.count("Traceback"),
        "rss_mib": {
            "first_third": round(rss_first / MiB, 1),
            "last_third": round(rss_last / MiB, 1),
        },
        "fds": {"first_third": round(fds_first, 1), "last_third": round(fds_last, 1)},
        "rss_flat": rss_flat,
        "fds_flat": fds_flat,
        "flat_criterion": "after 20 % warm-up: mean of last third <= 1.2 x first third "
        "(+16 MiB RSS, +8 descriptors)",
        "samples": [
            {"t": round(t, 1), "rss_mib": round(r / MiB, 1), "fds": f} for t, r, f in samples
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="600 s, 64 clients, up to 64 MiB")
    parser.add_argument("--duration", type=float, help="seconds of traffic (default 60)")
    parser.add_argument("--clients", type=int, help="concurrent connections (default 16)")
    parser.add_argument("--max-size", type=int, help="largest object in MiB (default 8)")
    parser.add_argument("--workers", type=int, default=0, help="server workers (0: per core)")
    parser.add_argument("--out", type=Path, help="write the JSON figures here")
    parser.add_argument("--tmp", help="where the data dir goes (default: the system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and log")
    args = parser.parse_args()
    args.duration = args.duration or (600 if args.long else 60)
    args.clients = args.clients or (64 if args.long else 16)
    args.max_size = args.max_size or (64 if args.long else 8)
    result = run(args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    ok = (
        result["errors"] == 0
        and result["server_alive"]
        and result["tracebacks_in_log"] == 0
        and result["rss_flat"]
        and result["fds_flat"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
