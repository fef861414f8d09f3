"""``nexq admin status``: is the server up, what does the installation hold, and how are its
background jobs doing (docs/operations.md, "The server's status").

It reads what the running server's processes publish in the data dir's ``run`` folder
(``core.run_dir``), measures the data dir, and counts accounts, buckets, objects, registries
and databases through the services. It works whether the server runs or not.
"""

from __future__ import annotations

import importlib.metadata
import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from nexq.adminkit import DataDir, fail
from nexq.app import Nexq, build
from nexq.cli.data_usage import usage
from nexq.core import sql
from nexq.core.db import SchemaMismatch
from nexq.core.errors import DomainError
from nexq.core.job_log import merge
from nexq.core.keyring import KeyringError
from nexq.core.run_dir import PUBLISH_SECONDS, RunDir
from nexq.settings import Settings
from nexq.web.console.formats import binary_size, count

LAST_ERRORS = 5  # the most recent failures shown, over every job and worker
SILENT_SECONDS = 5 * PUBLISH_SECONDS  # a worker that has not published for so long is stuck
RUNNING, NOT_RUNNING, FAILING = 0, 1, 2  # the exit codes


def version() -> str:
    """The installed Nexq's version."""
    try:
        return importlib.metadata.version("nexq")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        from nexq import __version__

        return __version__


def status(
    data_dir: DataDir = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object (keys in docs/operations.md).")
    ] = False,
) -> None:
    """Version, whether the server runs (uptime, listeners, workers), data dir usage, what
    the installation holds, its background jobs and their last errors. Exit 0: running and no
    job failing; 1: not running; 2: running, but some job's latest run failed."""
    try:
        settings = Settings.from_env(data_dir=data_dir)
    except ValueError as exc:
        fail(str(exc))
    if not settings.data_dir.is_dir():
        fail(f"{settings.data_dir} is not a directory: no installation there (--data-dir)")
    report = gather(settings, time.time())
    typer.echo(json.dumps(report, indent=2) if as_json else render(report))
    raise typer.Exit(exit_code(report))


def exit_code(report: dict[str, Any]) -> int:
    if not report["server"]["running"]:
        return NOT_RUNNING
    return FAILING if any(job["failing"] for job in report["jobs"]) else RUNNING


def gather(settings: Settings, now: float) -> dict[str, Any]:
    """Everything the command says, as the JSON it prints."""
    run_dir = RunDir(settings.data_dir / "run")
    server = run_dir.server()
    # Workers outlive no server (they die with it): without one, their files are stale.
    workers = run_dir.workers() if server is not None else []
    jobs, errors = merge(workers)
    report: dict[str, Any] = {
        "version": version(),
        "checked_at": _iso(now),
        "data_dir": str(settings.data_dir.resolve()),
        "server": _server(server, now),
        "workers": [
            {
                "pid": worker["pid"],
                "started_at": _iso(worker.get("started_at")),
                "uptime_seconds": _ago(worker.get("started_at"), now),
                "control_plane": bool(worker.get("control_plane")),
                "published_ago_seconds": _ago(worker.get("published_at"), now),
            }
            for worker in workers
        ],
        "usage": usage(settings),
        "installation": installation(settings),
        "jobs": [
            {
                "name": job.name,
                "every_seconds": job.every,
                "once": job.once,
                "runs": job.runs,
                "failures": job.failures,
                "last_run_at": _iso(job.last_started),
                "last_run_ago_seconds": _ago(job.last_started, now),
                "last_run_seconds": _round(job.last_seconds),
                "failing": job.failing,
                "last_error": job.last_error,
                "last_error_at": _iso(job.last_error_at),
                "last_error_ago_seconds": _ago(job.last_error_at, now),
            }
            for job in jobs
        ],
        "last_errors": [
            {"job": e.job, "at": _iso(e.at), "ago_seconds": _ago(e.at, now), "error": e.error}
            for e in errors[:LAST_ERRORS]
        ],
    }
    report["status"] = {RUNNING: "running", NOT_RUNNING: "not running", FAILING: "failing"}[
        exit_code(report)
    ]
    return report


def _server(found: dict[str, Any] | None, now: float) -> dict[str, Any]:
    if found is None:
        return {"running": False}
    return {
        "running": True,
        "pid": found["pid"],
        "version": found.get("version"),
        "node": found.get("node"),
        "started_at": _iso(found.get("started_at")),
        "uptime_seconds": _ago(found.get("started_at"), now),
        "listen": found.get("listen", {}),
    }


# what the installation holds --------------------------------------------------------------


def installation(settings: Settings) -> dict[str, Any]:
    """Accounts, buckets, objects, stored bytes, registries and databases, through the
    services; ``{"error": …}`` if the installation cannot be opened (status still says the
    rest)."""
    if not settings.database_url and not (settings.data_dir / "meta.db").exists():
        return {"error": "no metadata database (meta.db): the server never started here"}
    try:
        nexq = build(settings)
    except sql.postgresql_errors(SchemaMismatch, KeyringError, OSError) as exc:
        return {"error": str(exc)}
    except DomainError as exc:
        return {"error": exc.message}
    try:
        return _holdings(nexq)
    finally:
        nexq.close()


def _holdings(nexq: Nexq) -> dict[str, int]:
    held = dict.fromkeys(
        ("accounts", "operators", "buckets", "objects", "stored_bytes", "registries", "databases"),
        0,
    )
    after: tuple[float, str] | None = None
    while page := nexq.accounts.list(after, 1000):
        for account in page:
            buckets, objects, stored = nexq.store.account_usage(account.id)
            held["accounts"] += 1
            held["operators"] += account.role == "operator"
            held["buckets"] += buckets
            held["objects"] += objects
            held["stored_bytes"] += stored
            held["registries"] += nexq.registries.registries_of(account.id)
            held["databases"] += nexq.databases.databases_of(account.id)
        after = (page[-1].created_at, page[-1].id)
    return held


# the text for people ------------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    """The report as an operator reads it."""
    server = report["server"]
    lines = [f"Nexq {report['version']}"]
    if server["running"]:
        # A server started before an upgrade still runs the version it started with.
        newer = "" if server["version"] == report["version"] else f", version {server['version']}"
        uptime = _span(server["uptime_seconds"])
        lines.append(f"Server:      running (pid {server['pid']}{newer}), up {uptime}")
        listen = server["listen"]
        scheme, host = listen.get("scheme", "http"), listen.get("host", "")
        lines.append(
            f"  listening: S3 {scheme}://{host}:{listen.get('s3')}, control plane "
            f"{scheme}://{host}:{listen.get('api')}, registry {host}:{listen.get('registry')}"
        )
        for worker in report["workers"]:
            role = " (control plane)" if worker["control_plane"] else ""
            silent = worker["published_ago_seconds"] > SILENT_SECONDS  # busy, or stuck
            lines.append(
                f"  worker {worker['pid']}{role}: up {_span(worker['uptime_seconds'])}, "
                f"reported {_span(worker['published_ago_seconds'])} ago"
                + (" (not reporting)" if silent else "")
            )
    else:
        lines.append("Server:      not running")
    used = report["usage"]
    # The operator's disk figures read as du -h and df -h write them (binary units); what a
    # customer reads, in the console and dcp, is decimal as billed.
    size = binary_size
    lines.append(f"Data dir:    {report['data_dir']}")
    parts = [
        f"{name} {size(used[f'{name}_bytes'])}"
        for name in ("metadata", "blobs", "databases", "other")
        if used[f"{name}_bytes"] is not None
    ]
    lines.append(f"  {', '.join(parts)}; {size(used['total_bytes'])} in all")
    lines.append(
        f"  free: {size(used['free_bytes'])} of {size(used['filesystem_bytes'])} on its file system"
    )
    held = report["installation"]
    if "error" in held:
        lines.append(f"Installation: cannot be read: {held['error']}")
    else:
        operators = _many(held["operators"], "operator")
        lines.append(f"Accounts:    {count(held['accounts'])} ({operators})")
        buckets, objects = _many(held["buckets"], "bucket"), _many(held["objects"], "object")
        lines.append(f"Storage:     {buckets}, {objects}, {size(held['stored_bytes'])} stored")
        lines.append(f"Registry:    {_many(held['registries'], 'registry', 'registries')}")
        lines.append(f"Databases:   {_many(held['databases'], 'database')}")
    lines += _jobs(report)
    return "\n".join(lines)


def _jobs(report: dict[str, Any]) -> list[str]:
    if not report["server"]["running"]:
        return ["Jobs:        none (the server is not running)"]
    rows = [("JOB", "EVERY", "RUNS", "FAILURES", "LAST RUN", "LAST FAILURE")]
    for job in report["jobs"]:
        ran = job["last_run_ago_seconds"]
        failed = job["last_error_ago_seconds"]
        rows.append(
            (
                job["name"] + (" (failing)" if job["failing"] else ""),
                _span(job["every_seconds"]),
                count(job["runs"]),
                count(job["failures"]),
                "never" if ran is None else f"{_span(ran)} ago",
                "-" if failed is None else f"{_span(failed)} ago",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["Jobs:"]
    lines += [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.append("Last errors:" if report["last_errors"] else "Last errors: none")
    # A job failing each run fails the same way: one entry, with how often.
    for group in _repeats(report["last_errors"]):
        latest = group[0]
        times = f", {len(group)} times in a row" if len(group) > 1 else ""
        lines.append(
            f"  {latest['at']} ({_span(latest['ago_seconds'])} ago{times}) {latest['job']}:"
        )
        lines.append(f"    {latest['error']}")
    return lines


def _repeats(errors: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The errors (most recent first), those in a row of the same job and text together."""
    groups: list[list[dict[str, Any]]] = []
    for error in errors:
        last = groups[-1][0] if groups else None
        if last is not None and (last["job"], last["error"]) == (error["job"], error["error"]):
            groups[-1].append(error)
        else:
            groups.append([error])
    return groups


def _many(number: int, one: str, several: str | None = None) -> str:
    return f"{count(number)} {one if number == 1 else several or one + 's'}"


def _span(seconds: float | None) -> str:
    """``0.4s``, ``1s``, ``12s``, ``5m``, ``5m 2s``, ``3h 4m``, ``2d 3h``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}".removesuffix(".0") + "s"
    whole = int(seconds)
    days, hours, minutes = whole // 86400, whole // 3600 % 24, whole // 60 % 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {whole % 60}s" if whole % 60 else f"{minutes}m"
    return f"{whole}s"


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _ago(timestamp: float | None, now: float) -> float | None:
    return None if timestamp is None else round(max(0.0, now - timestamp), 3)


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 6)
