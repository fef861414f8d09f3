"""The rows of bench/run.py's report, the median of its rounds, and the markdown it prints."""

from __future__ import annotations

import math
import os
import platform
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass

import peers
import servers as _servers
from boto_workloads import THREADS
from servers import REPO
from workloads import MiB, Params, Result


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    higher_is_better: bool = True
    s3_only: bool = False  # no equivalent on plain nginx: n/a there


def _size(n: int) -> str:
    return f"{n >> 30} GiB" if n >= 1 << 30 and n % (1 << 30) == 0 else f"{n // MiB} MiB"


def rows_for(p: Params) -> list[Row]:
    big = _size(p.big_bytes)
    mp = f"{p.mp_bytes // MiB} MiB"
    c = p.small_conc
    return [
        Row("put4k", f"4 KiB PUT (c={c})", "ops/s"),
        Row("get4k", f"4 KiB GET (c={c})", "ops/s"),
        Row("head4k", f"4 KiB HEAD (c={c})", "ops/s"),
        Row(
            "put4k_dirty",
            f"4 KiB PUT, another program's {_size(p.dirty_mib * MiB)} unsynced (c={c})",
            "ops/s",
        ),
        Row("boto_put", f"boto3 4 KiB PUT ({THREADS} threads)", "ops/s", s3_only=True),
        Row("boto_get", f"boto3 4 KiB GET ({THREADS} threads)", "ops/s", s3_only=True),
        Row("boto_head", f"boto3 4 KiB HEAD ({THREADS} threads)", "ops/s", s3_only=True),
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
        Row(
            "growth_bigput",
            f"Server RSS growth during {big} PUT (peak - as it began)",
            "MiB",
            higher_is_better=False,
        ),
        Row(
            "growth_bigget",
            f"Server RSS growth during {big} GET (peak - as it began)",
            "MiB",
            higher_is_better=False,
        ),
        Row("rss_idle", "Server RSS after start (idle)", "MiB", higher_is_better=False),
    ]


# --------------------------------------------------------------------------- rounds

# Figures whose worst round is the one to report (a stall in any round is a stall).
WORST_OF = frozenset({"max_ms"})


def combine(runs: list[Result]) -> Result:
    """One result for the rounds of a workload: the median of the rounds that succeeded,
    their min and max in ``extra`` (``round_min``, ``round_max``, ``rounds_ok``, ``rounds``),
    and each detail figure's median (``WORST_OF``: the maximum)."""
    if len(runs) == 1:
        return runs[0]
    good = [r for r in runs if r.value is not None]
    if not good:
        return runs[0]
    values = sorted(r.value for r in good if r.value is not None)
    extra: dict[str, float] = {}
    for key in dict.fromkeys(k for r in good for k in r.extra):
        xs = [r.extra[key] for r in good if key in r.extra and not math.isnan(r.extra[key])]
        if not xs:
            extra[key] = math.nan
        else:
            extra[key] = max(xs) if key in WORST_OF else statistics.median(xs)
    extra |= {
        "round_min": values[0],
        "round_max": values[-1],
        "rounds_ok": len(good),
        "rounds": len(runs),
    }
    notes = []
    failed = [r for r in runs if r.value is None]
    if failed:
        first = failed[0].error or failed[0].note
        notes.append(f"{len(failed)} of {len(runs)} rounds failed; first: {first}")
    notes += [
        f"round {i}: {r.note}" for i, r in enumerate(runs, 1) if r.value is not None and r.note
    ]
    return Result(value=statistics.median(values), note="; ".join(notes), extra=extra)


# --------------------------------------------------------------------------- cells


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
    ("p999_ms", "p99.9 latency (ms)"),
    ("max_ms", "max latency (ms, worst round)"),
    ("server_cpu_us_per_op", "server CPU per request (µs)"),
    ("client_cpu_us_per_op", "client CPU per request (µs)"),
    ("server_cpu_s", "server CPU (s)"),
    ("client_cpu_s", "client CPU (s)"),
    ("other_cpu_pct", "other processes' CPU (% of machine)"),
    ("seconds", "wall time (s)"),
    ("load_ops_per_s", "10k-key load, PUT ops/s (c=16)"),
    ("full_walks", "complete 10k-key walks (key count verified)"),
    ("connects", "TCP connections opened"),
    ("retries", "retries by the SDK (RetryAttempts, summed)"),
    ("dirty_write_s", "the other program's write took (s, untimed)"),
    ("dirty_mib_at_start", "machine's dirty page cache as the PUTs began (MiB)"),
    ("dirty_mib_at_end", "machine's dirty page cache after them (MiB)"),
]
COUNTS = {"full_walks", "connects", "retries"}
# The tail of the latency (p99.9, max) is shown for the PUT rows, where a stall would be.
TAIL = {"p999_ms", "max_ms"}
TAIL_ROWS = {"put4k", "put4k_dirty"}
PER_OP = {"put4k", "get4k", "head4k", "put4k_dirty", "boto_put", "boto_get", "boto_head", "list"}
PEERS = ("s3rver", "moto", "nginx")


def ratio_base(cols: list[str]) -> str | None:
    """The Nexq column the ratios are taken from: 2 workers (the default) when measured."""
    nexqs = [c for c in cols if c.startswith("nexq")]
    return next((c for c in nexqs if c.startswith("nexq-w2")), nexqs[0] if nexqs else None)


def _range_cells(vals: list[Result | None]) -> list[str]:
    shown = []
    for v in vals:
        if v is None or v.value is None or "round_min" not in v.extra:
            shown.append("—")
            continue
        x = v.extra
        cell_ = f"{fmt(x['round_min'])} / {fmt(v.value)} / {fmt(x['round_max'])}"
        if x["rounds_ok"] < x["rounds"]:
            cell_ += f" ({int(x['rounds_ok'])} of {int(x['rounds'])} rounds)"
        shown.append(cell_)
    return shown


def _details(
    results: dict[str, dict[str, Result]], labels: dict[str, str], p: Params, rounds: int
) -> list[str]:
    cols = list(results)
    details = ["", "### Details", ""]
    details.append("| Workload | Metric | " + " | ".join(labels[c] for c in cols) + " |")
    details.append("|---|---|" + "---:|" * len(cols))
    n_head = len(details)
    for row in rows_for(p):
        vals = [results[c].get(row.key) for c in cols]
        if rounds > 1 and row.higher_is_better and any(v and v.value for v in vals):
            name = f"{row.unit}: min / median / max of {rounds} rounds"
            details.append(f"| {row.label} | {name} | " + " | ".join(_range_cells(vals)) + " |")
        for key, label in METRICS:
            if row.key in PER_OP and key in ("server_cpu_s", "client_cpu_s"):
                continue
            if key in TAIL and row.key not in TAIL_ROWS:
                continue
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
    return details if len(details) > n_head else []


def figures_table(
    results: dict[str, dict[str, Result]],
    rows: list[Row],
    headings: list[str],
    pairs: list[tuple[str, str]],
    pair_titles: list[str],
) -> list[str]:
    """The markdown lines of the main table: one line per row some server has a figure for,
    a column per server (``headings``, in ``results``' order), then one per ratio pair."""
    cols = list(results)
    head = ["Workload", "Unit", *headings, *pair_titles]
    out = ["| " + " | ".join(head) + " |"]
    out.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
    for row in rows:
        if all(row.key not in results[c] for c in cols):
            continue
        unit = row.unit + ("" if row.higher_is_better else " (lower is better)")
        cells = [row.label, unit] + [cell(results[c].get(row.key)) for c in cols]
        cells += [ratio(results[a].get(row.key), results[b].get(row.key)) for a, b in pairs]
        out.append("| " + " | ".join(cells) + " |")
    return out


def render(
    results: dict[str, dict[str, Result]],
    labels: dict[str, str],
    p: Params,
    header: str,
    background: dict[str, list[float]],
    rounds: int = 1,
) -> str:
    cols = list(results)
    base = ratio_base(cols)
    refs = [c for c in PEERS if c in cols]
    pairs = [(base, r) for r in refs] if base else []
    # With several worker counts, each against the default: how Nexq scales with workers.
    pairs += [(n, base) for n in cols if base and n.startswith("nexq") and n != base]
    out = [header, ""]
    titles = [f"{labels[a]} / {labels[b]}" for a, b in pairs]
    out += figures_table(results, rows_for(p), [labels[c] for c in cols], pairs, titles)
    out.append("")
    med = f"Each figure is the median of {rounds} rounds (a fresh server each). " * (rounds > 1)
    out.append(
        med + "Ratios are column ÷ column, so >1x means the first is faster for throughput rows "
        "and uses more memory for RSS rows. n/a: the workload has no equivalent on plain nginx. "
        "`*` = see notes."
    )
    out += _details(results, labels, p, rounds)
    busy = [
        f"{labels[c]} " + "/".join(f"{b:.0f}" for b in background[c]) + "%"
        for c in cols
        if background.get(c)
    ]
    if busy:
        out += [
            "",
            "Machine CPU busy in the second before each server started (per round): "
            + ", ".join(busy),
        ]

    notes = []
    for c in cols:
        # One error for every workload (the server did not start): said once.
        errs = {r.error for r in results[c].values()}
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


# --------------------------------------------------------------------------- header


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout + out.stderr).decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "?"


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(_servers.SRC), *args], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.decode().strip()


def header_text(
    p: Params,
    quick: bool,
    nexq_reason: str,
    elapsed: float | None = None,
    volatile: str = "",
    rounds: int = 1,
) -> str:
    import boto3
    import moto

    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "--", "."):
        commit += " + uncommitted changes in src/"
    if _servers.SRC != REPO / "src":
        commit += f" ({_servers.SRC})"
    nginx = _version([shutil.which("nginx") or "nginx", "-v"]).replace("nginx version: ", "")
    s3rver = peers.installed_s3rver() or "not installed"
    lines = [
        f"## Nexq benchmark ({'quick' if quick else 'full'} mode, {rounds} round"
        + ("s" * (rounds != 1))
        + ")",
        "",
        f"- When: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        + (f", run took {elapsed / 60:.1f} min" if elapsed else ""),
        f"- Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Linux {platform.release()}, Python {platform.python_version()}; client and servers "
        "share the CPUs over loopback",
        f"- Nexq: working tree at {commit or 'no commit yet'}",
        f"- Peers: s3rver {s3rver} (npm, Node.js {peers.node_version()}); moto {moto.__version__}; "
        f"nginx {nginx} (1 worker, WebDAV PUT, static GET); boto3 {boto3.__version__} drives "
        "the boto3 rows",
        f"- Small ops: {p.small_n:,} requests each, {p.small_conc} keep-alive connections; "
        f"payload hash: {'UNSIGNED-PAYLOAD' if p.unsigned else 'real SHA-256 (precomputed)'}",
        "- MB/s = 10^6 bytes per second",
    ]
    if nexq_reason:
        lines.append(f"- Nexq not measured: {nexq_reason}")
    if volatile:
        lines.append(f"- **Nexq's figures are NOT durable** (run with --not-durable): {volatile}")
    return "\n".join(lines)
