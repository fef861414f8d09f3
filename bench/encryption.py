"""What sealing every blob at rest costs: Nexq with and without it, in one run.

    python bench/encryption.py [--out bench/encryption-results.md] [--rounds 4] [--quick]

Each round runs the unsealed baseline, then the sealed server, then (in the next round)
the other way round, so drift of the machine weighs on both alike. Each server is a fresh
`nexq serve --workers 1` on a temporary data dir (bench/servers.py), given the workloads of
bench/run.py: 4 KiB PUT and GET (5,000 requests, 16 connections) and 1 GiB PUT and GET (one
stream). Targets (issue 12): under 10 % on small objects, under 20 % on 1 GiB.

The baseline is Nexq with its blob layer built without keys (``SealedBlobs(raw, None)``),
which writes plain blobs: the one way to turn sealing off, reached only by this harness,
which starts the server through this file (``serve-unsealed``) to select it. Nexq itself has
no setting for it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import _git
from run import bench_server, log, wait_quiet
from servers import NexqServer, free_port, nexq_env, wait_http
from workloads import MiB, Params, Result

WORKLOADS = ["put4k", "get4k", "bigput", "bigget"]
TARGETS = {"put4k": 10.0, "get4k": 10.0, "bigput": 20.0, "bigget": 20.0}


def serve_unsealed(args: list[str]) -> None:
    """Run `nexq` with blobs written plain (the baseline); ``args`` are nexq's own."""
    import nexq.app
    from nexq.storage.blobs.port import BlobStore
    from nexq.storage.blobs.sealed import SealedBlobs

    class Unsealed(SealedBlobs):
        def __init__(self, raw: BlobStore, keys: Any) -> None:
            super().__init__(raw, None)

    nexq.app.SealedBlobs = Unsealed  # type: ignore[misc]
    from nexq.cli.nexq import main

    sys.argv = ["nexq", *args]
    main()


class UnsealedNexq(NexqServer):
    """Nexq started through :func:`serve_unsealed`."""

    def __init__(self, tmp_root: str | None, keep: bool) -> None:
        super().__init__(tmp_root, keep, workers=1)
        self.label = "Nexq, blobs plain"
        self.name = "unsealed"

    def _serve(self) -> subprocess.Popen[bytes]:
        self.port = free_port()
        cmd = [
            sys.executable, str(Path(__file__).resolve()), "serve-unsealed", "serve",
            "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
            "--s3-port", str(self.port), "--api-port", str(free_port()),
            "--registry-port", str(free_port()), "--workers", "1",
        ]  # fmt: skip
        # A backup port of its own, as NexqServer gives each server: two at once otherwise
        # both take the default ("Address already in use").
        proc = self._spawn(cmd, {**nexq_env(), "NEXQ_DATABASES_BACKUP_PORT": str(free_port())})
        wait_http("127.0.0.1", self.port, proc, 90)
        return proc


def sealed_server(tmp_root: str | None, keep: bool) -> NexqServer:
    server = NexqServer(tmp_root, keep, workers=1)
    server.label, server.name = "Nexq, blobs sealed", "sealed"
    return server


def measure(args: argparse.Namespace, p: Params) -> dict[str, dict[str, list[Result]]]:
    runs: dict[str, dict[str, list[Result]]] = {"unsealed": {}, "sealed": {}}
    for round_number in range(args.rounds):
        order = ["unsealed", "sealed"] if round_number % 2 == 0 else ["sealed", "unsealed"]
        for name in order:
            server = (
                UnsealedNexq(args.tmp, args.keep)
                if name == "unsealed"
                else sealed_server(args.tmp, args.keep)
            )
            os.sync()
            wait_quiet(args.wait_idle)
            log(f"round {round_number + 1}: {server.label}")
            for workload, result in bench_server(server, p, WORKLOADS, args.wait_idle).items():
                runs[name].setdefault(workload, []).append(result)
    return runs


def _median(results: list[Result]) -> float | None:
    # The median: one round disturbed by the machine (an fsync stall, a neighbour's burst)
    # moves a mean of four by a quarter of its error, and the median not at all.
    values = [r.value for r in results if r.value is not None]
    return statistics.median(values) if len(values) == len(results) and values else None


def _cpu_per_op(results: list[Result]) -> float | None:
    # A large workload is one request (one stream): its server CPU is the request's, which
    # shows what AES and the reader's hand-offs add to a 1 GiB GET (docs/performance.md).
    values = [
        r.extra.get("server_cpu_us_per_op", r.extra.get("server_cpu_s", 0.0) * 1e6)
        for r in results
        if "server_cpu_us_per_op" in r.extra or "server_cpu_s" in r.extra
    ]
    return statistics.median(values) if values else None


def _cpu(results: list[Result], key: str, digits: int = 0) -> str:
    values = [r.extra[key] for r in results if key in r.extra]
    return f"{statistics.mean(values):,.{digits}f}" if values else "—"


def report(runs: dict[str, dict[str, list[Result]]], p: Params, args: argparse.Namespace) -> str:
    labels = {
        "put4k": "4 KiB PUT (c=16)",
        "get4k": "4 KiB GET (c=16)",
        "bigput": f"{p.big_bytes // MiB} MiB PUT (1 stream)",
        "bigget": f"{p.big_bytes // MiB} MiB GET (1 stream)",
    }
    units = {"put4k": "ops/s", "get4k": "ops/s", "bigput": "MB/s", "bigget": "MB/s"}
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--", "."):  # run in src/, as bench/run.py's header
        commit += " + uncommitted changes in src/"
    lines = [
        "# Encryption at rest: what it costs",
        "",
        f"- When: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{args.rounds} rounds, each server fresh, order alternating; medians",
        f"- Machine: {os.cpu_count()} CPUs ({platform.machine()}), Linux {platform.release()}, "
        f"Python {platform.python_version()}; client and server share the CPUs",
        f"- Nexq: `nexq serve --workers 1`, working tree at {commit}; "
        "baseline = the same server with its blob layer built without keys (plain blobs)",
        f"- Small ops: {p.small_n:,} requests, {p.small_conc} connections; "
        "MB/s = 10^6 bytes per second; `bench/encryption.py` made this file",
        "",
        "| Workload | Unit | Plain | Sealed | Cost | Target | Met | Server CPU per request, "
        "plain → sealed (µs) |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for workload in WORKLOADS:
        plain = _median(runs["unsealed"].get(workload, []))
        sealed = _median(runs["sealed"].get(workload, []))
        if plain is None or sealed is None:
            errors = {r.error for name in runs for r in runs[name].get(workload, []) if r.error}
            lines.append(f"| {labels[workload]} | {units[workload]} | — | — | — | — | "
                         f"error: {'; '.join(sorted(errors))[:200]} |")  # fmt: skip
            continue
        cost = (plain - sealed) / plain * 100
        target = TARGETS[workload]
        cpu_plain = _cpu_per_op(runs["unsealed"].get(workload, []))
        cpu_sealed = _cpu_per_op(runs["sealed"].get(workload, []))
        cpu = (
            f"{cpu_plain:,.0f} → {cpu_sealed:,.0f} ({(cpu_sealed / cpu_plain - 1) * 100:+.1f} %)"
            if cpu_plain and cpu_sealed
            else "—"
        )
        lines.append(
            f"| {labels[workload]} | {units[workload]} | {plain:,.1f} | {sealed:,.1f} | "
            f"{cost:+.1f} % | < {target:.0f} % | {'yes' if cost < target else 'NO'} | {cpu} |"
        )
    lines += [
        "",
        "Cost = (plain - sealed) ÷ plain of the median rounds: positive is slower with "
        "sealing (a negative cost is noise). Server CPU per request (medians) is the steadier "
        "figure for small objects, whose throughput moves with the machine's fsync latency.",
        "",
        "### Each run",
        "",
        "| Workload | Server | Figures per round | Server CPU per request (µs) | "
        "Server CPU (s) | Other processes' CPU (%) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for workload in WORKLOADS:
        for name, label in (("unsealed", "plain"), ("sealed", "sealed")):
            results = runs[name].get(workload, [])
            shown = ", ".join(f"{r.value:,.1f}" if r.value is not None else "ERR" for r in results)
            lines.append(
                f"| {labels[workload]} | {label} | {shown} | "
                f"{_cpu(results, 'server_cpu_us_per_op')} | {_cpu(results, 'server_cpu_s', 2)} | "
                f"{_cpu(results, 'other_cpu_pct')} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-unsealed":
        serve_unsealed(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=None, help="write the markdown report here")
    ap.add_argument("--rounds", type=int, default=4, help="rounds of both servers")
    ap.add_argument("--quick", action="store_true", help="1,000 requests, 256 MiB")
    ap.add_argument("--tmp", default=None, help="parent directory for the data dirs")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs")
    ap.add_argument("--wait-idle", type=float, default=60.0, help="wait for a quiet machine")
    args = ap.parse_args()
    p = Params()
    if args.quick:
        p.small_n, p.warmup, p.big_bytes = 1000, 100, 256 * MiB
    text = report(measure(args, p), p, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
