"""Benchmark Nexq against moto and nginx in one run.

    python bench/run.py [--quick] [--only nexq,moto,nginx] [--out bench/results.md]

Each server is started here on 127.0.0.1 (free port, temp data dir), the same
workloads run against each, the server is stopped, and a markdown table with
absolute figures and Nexq/moto, Nexq/nginx ratios is printed (and written to
``--out``). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers as _servers
from servers import (
    REPO,
    MotoServer,
    NexqServer,
    NginxServer,
    Server,
    machine_busy_fraction,
    nexq_probe,
    use_nexq_src,
    volatile_reason,
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


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    higher_is_better: bool = True
    s3_only: bool = False


def rows_for(p: Params) -> list[Row]:
    big = f"{p.big_bytes // MiB} MiB" if p.big_bytes < 1 << 30 else f"{p.big_bytes >> 30} GiB"
    mp = f"{p.mp_bytes // MiB} MiB"
    return [
        Row("put4k", f"4 KiB PUT (c={p.small_conc})", "ops/s"),
        Row("get4k", f"4 KiB GET (c={p.small_conc})", "ops/s"),
        Row("head4k", f"4 KiB HEAD (c={p.small_conc})", "ops/s"),
        Row(
            "list",
            f"ListObjectsV2, {p.list_keys:,} keys, {p.list_page}/page (c={p.list_conc})",
            "pages/s",
            s3_only=True,
        ),
        Row("bigput", f"{big} PUT (1 stream)", "MB/s"),
        Row("bigget", f"{big} GET (1 stream)", "MB/s"),
        Row(
            "mpu",
            f"{mp} multipart upload ({p.mp_part // MiB} MiB parts, c={p.mp_conc})",
            "MB/s",
            s3_only=True,
        ),
        Row("rss_bigput", f"Peak server RSS during {big} PUT", "MiB", higher_is_better=False),
        Row("rss_bigget", f"Peak server RSS during {big} GET", "MiB", higher_is_better=False),
        Row("rss_idle", "Server RSS after start (idle)", "MiB", higher_is_better=False),
    ]


WORKLOADS = ["put4k", "get4k", "head4k", "list", "bigput", "bigget", "mpu"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _alive(server: Server) -> bool:
    return server.proc is not None and server.proc.poll() is None


def bench_server(
    server: Server, p: Params, selected: list[str], wait_idle: float
) -> dict[str, Result]:
    """Start ``server``, run every selected workload, stop it. Never raises."""
    res: dict[str, Result] = {}
    log(f"{server.label}: starting")
    try:
        ep = server.start()
        server.create_bucket(BUCKET)
        if server.s3 and "list" in selected:
            server.create_bucket(LIST_BUCKET)
    except Exception as e:
        tail = server.log_tail().strip().splitlines()[-5:]
        msg = f"start failed: {e}"[:400] + (f" | log: {' / '.join(tail)}"[:400] if tail else "")
        log(f"{server.label}: {msg}")
        server.stop()
        return {w: Result(error=msg) for w in [*WORKLOADS, "rss_idle"]}
    client = Client(ep)
    res["rss_idle"] = idle_rss(client)
    log(
        f"{server.label}: up on port {ep.port} (pid {ep.pid}), "
        f"idle RSS {res['rss_idle'].value or 0:.0f} MiB"
    )

    n_keys = p.small_n
    steps: list[tuple[str, Callable[[], Result]]] = [
        ("put4k", lambda: small_put(client, p)),
        ("get4k", lambda: small_get(client, p, n_keys)),
        ("head4k", lambda: small_head(client, p, n_keys)),
        ("list", lambda: _list(client, p)),
        ("bigput", lambda: big_put(client, p)),
        ("bigget", lambda: big_get(client, p)),
        ("mpu", lambda: multipart(client, p)),
    ]
    try:
        for name, fn in steps:
            if name not in selected:
                continue
            if not server.s3 and name in ("list", "mpu"):
                res[name] = Result(note="n/a")
                continue
            if not _alive(server):
                res[name] = Result(error="server process died earlier")
                continue
            if name in ("get4k", "head4k") and "put4k" in res:
                put = res["put4k"]
                if put.value is None:
                    res[name] = Result(error="skipped: the 4 KiB PUTs failed")
                    continue
                n_keys = max(1, int(put.extra.get("requests", p.small_n)))
            # Start each workload from the same state: no dirty page cache left by the
            # previous one (Nexq fsyncs, so it would pay for others' writeback), and
            # (bounded) wait for other work on this 2-CPU machine to stop.
            os.sync()
            wait_quiet(min(wait_idle, 60.0), sample=0.5)
            log(f"{server.label}: {name} ...")
            t0 = time.perf_counter()
            try:
                r = fn()
            except Exception as e:  # a harness or protocol surprise: record it, go on
                r = Result(error=f"{type(e).__name__}: {e}"[:400])
            if not _alive(server):
                last = " / ".join(server.log_tail().strip().splitlines()[-3:])
                r.error = (r.error or "") + f" (server died: {last[:300]})"
            res[name] = r
            shown = f"{r.value:,.1f}" if r.value is not None else f"ERROR {r.error}"
            log(f"{server.label}: {name} = {shown} {r.note} ({time.perf_counter() - t0:.1f}s)")
            if name == "bigput":
                res["rss_bigput"] = _rss(r)
            if name == "bigget":
                res["rss_bigget"] = _rss(r)
    finally:
        server.stop()
        log(f"{server.label}: stopped")
    return res


def wait_quiet(max_wait: float, busy_limit: float = 0.15, sample: float = 1.0) -> float:
    """Wait (bounded) until other processes leave the CPUs mostly idle; return busy %."""
    if max_wait <= 0:
        return machine_busy_fraction(sample) * 100
    deadline = time.monotonic() + max_wait
    busy = machine_busy_fraction(sample)
    warned = False
    while busy > busy_limit and time.monotonic() < deadline:
        if not warned:
            log(f"machine is {busy:.0%} busy with other work; waiting up to {max_wait:.0f}s")
            warned = True
        busy = machine_busy_fraction(2.0)
    if busy > busy_limit:
        log(f"going ahead although the machine is {busy:.0%} busy: figures will be noisy")
    return busy * 100


def _rss(r: Result) -> Result:
    peak = r.extra.get("peak_rss_mib")
    if not peak:
        return Result(error=r.error or "no RSS samples")
    return Result(value=peak, note="(transfer failed)" if r.error else "")


def _list(client: Client, p: Params) -> Result:
    load = list_load(client, p)
    if load.value is None:
        return Result(error=f"loading {p.list_keys} keys failed: {load.error}")
    if load.extra.get("ok", 0) < p.list_keys:
        return Result(
            error=f"loaded only {load.extra.get('ok')} of {p.list_keys} keys: {load.note}"
        )
    r = list_pages(client, p)
    r.extra["load_ops_per_s"] = load.value
    return r


# --------------------------------------------------------------------------- report


def fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:,.1f}"
    return f"{v:,.2f}"


def cell(r: Result | None) -> str:
    if r is None:
        return "—"
    if r.value is None:
        if r.error:
            return "ERR¹" if len(r.error) > 40 else f"ERR: {r.error}".replace("|", "/")
        return r.note or "n/a"
    return fmt(r.value) + ("*" if r.note else "")


def ratio(a: Result | None, b: Result | None) -> str:
    if a is None or b is None or a.value is None or b.value is None or b.value == 0:
        return "—"
    return f"{a.value / b.value:.2f}x"


METRICS = [
    ("p50_ms", "p50 latency (ms)"),
    ("p99_ms", "p99 latency (ms)"),
    ("server_cpu_us_per_op", "server CPU per request (µs)"),
    ("client_cpu_us_per_op", "client CPU per request (µs)"),
    ("server_cpu_s", "server CPU (s)"),
    ("client_cpu_s", "client CPU (s)"),
    ("other_cpu_pct", "other processes' CPU (% of machine)"),
    ("seconds", "wall time (s)"),
    ("load_ops_per_s", "10k-key load, PUT ops/s (c=16)"),
    ("full_walks", "complete 10k-key walks (key count verified)"),
    ("connects", "TCP connections opened"),
]
COUNTS = {"full_walks", "connects"}


def render(
    results: dict[str, dict[str, Result]],
    labels: dict[str, str],
    p: Params,
    header: str,
    background: dict[str, float],
) -> str:
    cols = list(results)
    nexqs = [c for c in cols if c.startswith("nexq")]
    refs = [c for c in ("moto", "nginx") if c in cols]
    out = [header, ""]
    head = ["Workload", "Unit"] + [labels[c] for c in cols]
    head += [f"{labels[n]} / {labels[r]}" for n in nexqs for r in refs]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
    for row in rows_for(p):
        if all(row.key not in results[c] for c in cols):
            continue
        unit = row.unit + ("" if row.higher_is_better else " (lower is better)")
        cells = [row.label, unit] + [cell(results[c].get(row.key)) for c in cols]
        cells += [
            ratio(results[n].get(row.key), results[r].get(row.key)) for n in nexqs for r in refs
        ]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append(
        "Ratios are Nexq ÷ reference, so >1x means Nexq is faster for throughput rows "
        "and uses more memory for RSS rows. n/a: the workload has no equivalent on plain nginx. "
        "`*` = see notes."
    )

    # Details: latency and CPU per request.
    details = ["", "### Details", ""]
    details.append("| Workload | Metric | " + " | ".join(labels[c] for c in cols) + " |")
    details.append("|---|---|" + "---:|" * len(cols))
    n_head = len(details)
    for row in rows_for(p):
        per_op = row.key in ("put4k", "get4k", "head4k", "list")
        for key, label in METRICS:
            if per_op and key in ("server_cpu_s", "client_cpu_s"):
                continue
            vals = [results[c].get(row.key) for c in cols]
            if not any(v is not None and key in v.extra for v in vals):
                continue
            shown = []
            for v in vals:
                x = v.extra.get(key) if v is not None else None
                if x is None or math.isnan(x):
                    shown.append("—")
                elif key in COUNTS:
                    shown.append(f"{int(x):,}")
                else:
                    shown.append(fmt(x))
            details.append(f"| {row.label} | {label} | " + " | ".join(shown) + " |")
    if len(details) > n_head:
        out += details
    busy = [f"{labels[c]} {background[c]:.0f}%" for c in cols if c in background]
    if busy:
        out += ["", "Machine CPU busy in the second before each server started: " + ", ".join(busy)]

    notes = []
    for c in cols:
        errs = {r.error for r in results[c].values() if r.value is None}
        if len(errs) == 1 and None not in errs and len(results[c]) > 2:
            notes.append(f"- ¹ **{labels[c]} — every workload**: {errs.pop()}")
            continue
        for row in rows_for(p):
            r = results[c].get(row.key)
            if r is not None and r.error and len(r.error) > 40:
                notes.append(f"- ¹ **{labels[c]} — {row.label}**: {r.error}")
            elif r is not None and r.note and r.value is not None:
                notes.append(f"- * **{labels[c]} — {row.label}**: {r.note}")
    if notes:
        out += ["", "### Errors and notes", "", *notes]
    return "\n".join(out) + "\n"


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (out.stdout + out.stderr).decode("utf-8", "replace").strip().splitlines()[0]


def header_text(
    p: Params, quick: bool, nexq_reason: str, elapsed: float | None = None, volatile: str = ""
) -> str:
    import moto

    try:
        commit = (
            subprocess.run(
                ["git", "-C", str(_servers.SRC), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            .stdout.decode()
            .strip()
        )
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    try:
        dirty = subprocess.run(
            ["git", "-C", str(_servers.SRC), "status", "--porcelain", "--", "."],
            capture_output=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        dirty = b""
    if commit and dirty:
        commit += " + uncommitted changes in src/"
    if _servers.SRC != REPO / "src":
        commit += f" ({_servers.SRC})"
    nginx = _version([shutil.which("nginx") or "nginx", "-v"]).replace("nginx version: ", "")
    lines = [
        f"## Nexq benchmark ({'quick' if quick else 'full'} mode)",
        "",
        f"- When: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        + (f", run took {elapsed / 60:.1f} min" if elapsed else ""),
        f"- Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Linux {platform.release()}, Python {platform.python_version()}; client and servers "
        "share the CPUs over loopback",
        f"- Nexq: working tree at {commit or 'no commit yet'}; moto {moto.__version__}; "
        f"nginx {nginx} (1 worker, WebDAV PUT, static GET)",
        f"- Small ops: {p.small_n:,} requests each, {p.small_conc} keep-alive connections; "
        f"payload hash: {'UNSIGNED-PAYLOAD' if p.unsigned else 'real SHA-256 (precomputed)'}",
        "- MB/s = 10^6 bytes per second",
    ]
    if nexq_reason:
        lines.append(f"- Nexq not measured: {nexq_reason}")
    if volatile:
        lines.append(f"- **Nexq's figures are NOT durable** (run with --not-durable): {volatile}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller, faster run")
    ap.add_argument("--only", default="nexq,moto,nginx", help="servers: nexq,moto,nginx")
    ap.add_argument("--out", default=None, help="write the markdown report here")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="subset to run")
    ap.add_argument(
        "--nexq-workers", default="auto", help="'auto' (1 and 2 if --workers exists) or e.g. 1,2"
    )
    ap.add_argument("--unsigned-payload", action="store_true", help="send UNSIGNED-PAYLOAD")
    ap.add_argument("--small-n", type=int, default=None, help="requests per small-op workload")
    ap.add_argument("--big-mib", type=int, default=None, help="size of the large PUT/GET")
    ap.add_argument("--tmp", default=None, help="parent directory for server data dirs")
    ap.add_argument("--keep", action="store_true", help="keep server temp dirs")
    ap.add_argument(
        "--not-durable",
        action="store_true",
        help="measure Nexq even if its data dir is on tmpfs/ramfs (where fsync costs nothing); "
        "its figures are then labelled NOT durable",
    )
    ap.add_argument(
        "--nexq-src",
        default=None,
        help="run Nexq from this src/ dir instead of this checkout's (e.g. a git worktree of an "
        "older commit: compare two trees with the same harness)",
    )
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=120.0,
        help="before each server, wait up to this many seconds for other load to stop",
    )
    args = ap.parse_args()
    if args.nexq_src:
        use_nexq_src(Path(args.nexq_src))

    p = Params(unsigned=args.unsigned_payload)
    if args.quick:
        p.small_n, p.list_seconds, p.warmup = 1000, 5.0, 100
        p.big_bytes, p.mp_bytes = 256 * MiB, 128 * MiB
    if args.small_n:
        p.small_n = args.small_n
    if args.big_mib:
        p.big_bytes = args.big_mib * MiB
    selected = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(selected) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workloads: {sorted(unknown)}; choose from {WORKLOADS}")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if only - {"nexq", "moto", "nginx"}:
        ap.error("--only takes nexq, moto, nginx")

    # Nexq's figures are those of fsynced writes: never reported from a file system in memory
    # unless asked for, and then labelled.
    volatile = volatile_reason(Path(args.tmp or tempfile.gettempdir())) if "nexq" in only else ""
    if volatile and not args.not_durable:
        ap.error(
            f"refusing to measure Nexq: {volatile}. Give --tmp a directory on a disk file "
            "system, or pass --not-durable to measure anyway (figures labelled NOT durable)."
        )

    t_start = time.perf_counter()
    servers: list[Server] = []
    nexq_reason = ""
    if "moto" in only:
        servers.append(MotoServer(args.tmp, args.keep))
    if "nginx" in only:
        servers.append(NginxServer(args.tmp, args.keep))
    if "nexq" in only:
        ok, has_workers, nexq_reason = nexq_probe()
        if ok:
            if args.nexq_workers == "auto":
                workers: list[int | None] = [1, 2] if has_workers else [None]
            else:
                workers = [int(w) for w in args.nexq_workers.split(",")]
                if not has_workers:
                    nexq_reason = "`nexq serve` has no --workers flag; measured its default"
                    workers = [None]
            servers += [
                NexqServer(args.tmp, args.keep, w, not_durable=args.not_durable) for w in workers
            ]
        else:
            log(f"Nexq not available: {nexq_reason}")

    results: dict[str, dict[str, Result]] = {}
    labels: dict[str, str] = {}
    background: dict[str, float] = {}
    for server in servers:
        labels[server.name] = server.label
        os.sync()  # flush what the previous server wrote (and deleted) before starting
        background[server.name] = wait_quiet(args.wait_idle)
        try:
            results[server.name] = bench_server(server, p, selected, args.wait_idle)
        except KeyboardInterrupt:
            server.stop()
            raise
    if "nexq" in only and not any(n.startswith("nexq") for n in results):
        results["nexq"] = {w: Result(error=f"not available: {nexq_reason}") for w in WORKLOADS}
        labels["nexq"] = "Nexq"

    elapsed = time.perf_counter() - t_start
    header = header_text(p, args.quick, nexq_reason, elapsed, volatile)
    report = render(results, labels, p, header, background)
    print(report)
    if args.out:
        out = Path(args.out)
        out.write_text(report)
        raw = {c: {k: asdict(v) for k, v in r.items()} for c, r in results.items()}
        out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
        log(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
