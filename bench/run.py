"""Benchmark Nexq against s3rver, moto and nginx in one run.

    python bench/run.py [--quick] [--only nexq,s3rver,moto,nginx] [--rounds 3] [--out FILE]

Each server is started here on 127.0.0.1 (free port, temp data dir), the same
workloads run against each, the server is stopped; every server does this once per
round. A markdown table of the rounds' medians with Nexq ÷ peer ratios is printed
(and written to ``--out``). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from boto_workloads import boto_get, boto_head, boto_put
from dirty_cache import put4k_dirty
from peers import MotoServer, NginxServer, S3rverServer, ensure_s3rver
from report import PEERS, combine, header_text, render, rows_for
from servers import (
    NexqServer,
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

WORKLOADS = [
    "put4k", "get4k", "head4k", "put4k_dirty", "boto_put", "boto_get", "boto_head",
    "list", "bigput", "bigget", "mpu",
]  # fmt: skip
# A workload that reads what another wrote, and the writer (run first, even if not asked).
NEEDS = {
    "get4k": "put4k",
    "head4k": "put4k",
    "boto_get": "boto_put",
    "boto_head": "boto_put",
    "bigget": "bigput",
}


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
        return {w: Result(error=msg) for w in [*selected, "rss_idle"]}
    client = Client(ep)
    res["rss_idle"] = idle_rss(client)
    log(
        f"{server.label}: up on port {ep.port} (pid {ep.pid}), "
        f"idle RSS {res['rss_idle'].value or 0:.0f} MiB"
    )

    # How many keys a writer (put4k, boto_put) left for its readers.
    keys = {"put4k": p.small_n, "boto_put": p.small_n}
    steps: list[tuple[str, Callable[[], Result]]] = [
        ("put4k", lambda: small_put(client, p)),
        ("get4k", lambda: small_get(client, p, keys["put4k"])),
        ("head4k", lambda: small_head(client, p, keys["put4k"])),
        # The unsynced file goes beside the data dir (every server's is inside server.dir).
        ("put4k_dirty", lambda: put4k_dirty(client, p, server.dir)),
        ("boto_put", lambda: boto_put(ep, p)),
        ("boto_get", lambda: boto_get(ep, p, keys["boto_put"])),
        ("boto_head", lambda: boto_head(ep, p, keys["boto_put"])),
        ("list", lambda: _list(client, p)),
        ("bigput", lambda: big_put(client, p)),
        ("bigget", lambda: big_get(client, p)),
        ("mpu", lambda: multipart(client, p)),
    ]
    s3_only = {row.key for row in rows_for(p) if row.s3_only}
    try:
        for name, fn in steps:
            if name not in selected:
                continue
            if not server.s3 and name in s3_only:
                res[name] = Result(note="n/a")
                continue
            if not _alive(server):
                res[name] = Result(error="server process died earlier")
                continue
            writer = NEEDS.get(name)
            if writer is not None and writer in res:
                put = res[writer]
                if put.value is None:
                    res[name] = Result(error=f"skipped: the {writer} workload failed")
                    continue
                keys[writer] = max(1, int(put.extra.get("requests", p.small_n)))
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
            if name in ("bigput", "bigget"):
                res[f"rss_{name}"] = _rss(r)
                res[f"growth_{name}"] = _rss(r, "rss_growth_mib")
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


def _rss(r: Result, figure: str = "peak_rss_mib") -> Result:
    value = r.extra.get(figure)
    if value is None or not r.extra.get("rss_samples"):
        return Result(error=r.error or "no RSS samples")
    return Result(value=value, note="(transfer failed)" if r.error else "")


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


# --------------------------------------------------------------------------- the run


def _arguments() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller, faster run")
    ap.add_argument(
        "--only", default="nexq,s3rver,moto,nginx", help="servers: nexq,s3rver,moto,nginx"
    )
    ap.add_argument("--out", default=None, help="write the markdown report here")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="subset to run")
    ap.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="run every server through every workload this many times, report the median "
        "(default 3; 1 with --quick)",
    )
    ap.add_argument(
        "--nexq-workers",
        default="2",
        help="Nexq's worker counts, e.g. 1,2,4 (default 2, the product's default; the ratios "
        "are taken from 2 when measured); 'auto': 1 and 2",
    )
    ap.add_argument("--unsigned-payload", action="store_true", help="send UNSIGNED-PAYLOAD")
    ap.add_argument("--small-n", type=int, default=None, help="requests per small-op workload")
    ap.add_argument("--big-mib", type=int, default=None, help="size of the large PUT/GET")
    ap.add_argument(
        "--dirty-mib", type=int, default=1024, help="put4k_dirty: MiB written unsynced (1024)"
    )
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
    return ap


def _selected(ap: argparse.ArgumentParser, text: str) -> list[str]:
    asked = [w.strip() for w in text.split(",") if w.strip()]
    unknown = set(asked) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workloads: {sorted(unknown)}; choose from {WORKLOADS}")
    for reader in list(asked):
        writer = NEEDS.get(reader)
        if writer is not None and writer not in asked:
            log(f"{reader} reads what {writer} writes: running {writer} too")
            asked.append(writer)
    return [w for w in WORKLOADS if w in asked]


def _nexq_workers(spec: str, has_workers: bool) -> tuple[list[int | None], str]:
    """The worker counts to measure, and why the asked ones cannot be (or "")."""
    if not has_workers:
        return [None], "`nexq serve` has no --workers flag; measured its default"
    if spec == "auto":
        return [1, 2], ""
    return [int(w) for w in spec.split(",") if w.strip()], ""


Plan = list[Callable[[], Server]]


def _plan(args: argparse.Namespace, only: set[str]) -> tuple[Plan, dict[str, str], str]:
    """Factories of the servers to measure, in the report's column order (a fresh server
    for every round); the ones that cannot run, with why; why Nexq cannot."""
    plan: Plan = []
    missing: dict[str, str] = {}
    nexq_reason = ""
    if "nexq" in only:
        ok, has_workers, nexq_reason = nexq_probe()
        if ok:
            workers, nexq_reason = _nexq_workers(args.nexq_workers, has_workers)
            for w in workers:
                plan.append(partial(NexqServer, args.tmp, args.keep, w, args.not_durable))
        else:
            log(f"Nexq not available: {nexq_reason}")
            missing["nexq"] = f"not available: {nexq_reason}"
    if "s3rver" in only:
        ok, why = ensure_s3rver()
        if ok:
            plan.append(partial(S3rverServer, args.tmp, args.keep))
        else:
            log(f"s3rver not available: {why}")
            missing["s3rver"] = f"not available: {why}"
    if "moto" in only:
        plan.append(partial(MotoServer, args.tmp, args.keep))
    if "nginx" in only:
        plan.append(partial(NginxServer, args.tmp, args.keep))
    return plan, missing, nexq_reason


def main() -> int:
    ap = _arguments()
    args = ap.parse_args()
    if args.nexq_src:
        use_nexq_src(Path(args.nexq_src))

    p = Params(unsigned=args.unsigned_payload, dirty_mib=args.dirty_mib)
    if args.quick:
        p.small_n, p.list_seconds, p.warmup = 1000, 5.0, 100
        p.big_bytes, p.mp_bytes = 256 * MiB, 128 * MiB
    if args.small_n:
        p.small_n = args.small_n
    if args.big_mib:
        p.big_bytes = args.big_mib * MiB
    rounds = args.rounds or (1 if args.quick else 3)
    selected = _selected(ap, args.workloads)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if only - {"nexq", *PEERS}:
        ap.error("--only takes nexq, s3rver, moto, nginx")

    # Nexq's figures are those of fsynced writes: never reported from a file system in memory
    # unless asked for, and then labelled.
    volatile = volatile_reason(Path(args.tmp or tempfile.gettempdir())) if "nexq" in only else ""
    if volatile and not args.not_durable:
        ap.error(
            f"refusing to measure Nexq: {volatile}. Give --tmp a directory on a disk file "
            "system, or pass --not-durable to measure anyway (figures labelled NOT durable)."
        )

    t_start = time.perf_counter()
    plan, missing, nexq_reason = _plan(args, only)
    per_round: dict[str, list[dict[str, Result]]] = {}
    labels: dict[str, str] = {}
    background: dict[str, list[float]] = {}
    for n in range(rounds):
        # Every other round in reverse order, so the machine's drift weighs on all alike.
        order = plan if n % 2 == 0 else plan[::-1]
        for make in order:
            server = make()
            log(f"round {n + 1} of {rounds}: {server.label}")
            labels[server.name] = server.label
            os.sync()  # flush what the previous server wrote (and deleted) before starting
            background.setdefault(server.name, []).append(wait_quiet(args.wait_idle))
            try:
                res = bench_server(server, p, selected, args.wait_idle)
            except KeyboardInterrupt:
                server.stop()
                raise
            per_round.setdefault(server.name, []).append(res)
    # Columns in the plan's order (Nexq, then the peers), whatever order the last round ran.
    results: dict[str, dict[str, Result]] = {}
    for name, runs in sorted(per_round.items(), key=lambda kv: _column_rank(kv[0])):
        keys = dict.fromkeys(k for r in runs for k in r)
        results[name] = {k: combine([r[k] for r in runs if k in r]) for k in keys}
    for kind, why in missing.items():
        results[kind] = {w: Result(error=why) for w in selected}
        labels[kind] = "Nexq" if kind == "nexq" else kind

    elapsed = time.perf_counter() - t_start
    header = header_text(p, args.quick, nexq_reason, elapsed, volatile, rounds)
    report = render(results, labels, p, header, background, rounds)
    print(report)
    if args.out:
        out = Path(args.out)
        out.write_text(report)
        raw = {
            "rounds": rounds,
            "median": {c: {k: asdict(v) for k, v in r.items()} for c, r in results.items()},
            "per_round": {
                c: [{k: asdict(v) for k, v in r.items()} for r in runs]
                for c, runs in per_round.items()
            },
        }
        out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
        log(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


def _column_rank(name: str) -> tuple[int, int, str]:
    """Nexq's columns first (by worker count), then s3rver, moto, nginx."""
    if name.startswith("nexq-w"):
        digits = "".join(ch for ch in name[len("nexq-w") :] if ch.isdigit())
        return 0, int(digits or 0), name
    return 1, PEERS.index(name) if name in PEERS else len(PEERS), name


if __name__ == "__main__":
    sys.exit(main())
