"""The record of background job runs (core.job_log), the run folder's files (core.run_dir) and
the job lanes that report to it (app.start_jobs), with real threads, files and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from nexq.app import start_jobs
from nexq.core.db import Database
from nexq.core.job_log import ERROR_CHARACTERS, RECENT_ERRORS, JobLog, describe, merge
from nexq.core.run_dir import SERVER_FILE, RunDir, WorkerFile, is_live, this_process
from nexq.platform import Job
from tests.unit.test_db import SCHEMA


def test_runs_failures_and_the_last_error_are_kept() -> None:
    log = JobLog()
    log.register("sweep", 1.0, once=True)
    log.register("idle", 600.0, once=False)
    log.ran("sweep", 100.0, 0.25, None)
    log.ran("sweep", 101.0, 0.5, OSError(28, "No space left on device"))
    log.ran("sweep", 102.0, 0.125, None)
    snapshot = json.loads(json.dumps(log.snapshot()))  # what a worker's file holds
    jobs = {row["name"]: row for row in snapshot["jobs"]}
    assert jobs["sweep"] == {
        "name": "sweep",
        "every": 1.0,
        "once": True,
        "runs": 3,
        "failures": 1,
        "last_started": 102.0,
        "last_seconds": 0.125,
        "last_failed": False,
        "last_error": "OSError: [Errno 28] No space left on device",
        "last_error_at": 101.0,
    }
    assert jobs["idle"]["runs"] == 0 and jobs["idle"]["last_started"] is None
    assert snapshot["errors"] == [
        {"job": "sweep", "at": 101.0, "error": "OSError: [Errno 28] No space left on device"}
    ]


def test_only_the_most_recent_errors_are_kept_each_cut_short() -> None:
    log = JobLog()
    for run in range(RECENT_ERRORS + 5):
        log.ran("flaky", float(run), 0.0, ValueError("x" * 1000))
    errors = log.snapshot()["errors"]
    assert [e["at"] for e in errors] == [float(r) for r in range(5, RECENT_ERRORS + 5)]
    assert len(errors[0]["error"]) == ERROR_CHARACTERS
    assert describe(KeyError()) == "KeyError"


def test_merge_adds_counts_keeps_the_latest_and_fails_if_any_worker_fails() -> None:
    first, second = JobLog(), JobLog()
    for log in (first, second):
        log.register("flush", 1.0, once=False)
    first.ran("flush", 10.0, 0.1, RuntimeError("database is locked"))
    second.ran("flush", 11.0, 0.2, None)
    second.ran("flush", 12.0, 0.3, None)
    first.ran("sweep", 5.0, 1.0, None)
    # A file of a newer Nexq may carry fields this one does not know.
    newer = first.snapshot()
    newer["jobs"][0]["added_later"] = 1
    newer["errors"][0]["added_later"] = 1
    jobs, errors = merge([newer, second.snapshot()])
    assert [j.name for j in jobs] == ["flush", "sweep"]
    flush = jobs[0]
    assert (flush.runs, flush.failures) == (3, 1)
    assert (flush.last_started, flush.last_seconds) == (12.0, 0.3)
    assert flush.last_error == "RuntimeError: database is locked"
    assert flush.last_error_at == 10.0
    # The first worker's latest flush failed, though the other's succeeded since.
    assert flush.failing is True
    assert jobs[1].failing is False
    assert [(e.job, e.at) for e in errors] == [("flush", 10.0)]
    assert merge([]) == ([], [])


def test_lanes_report_each_run_and_nothing_of_a_job_another_process_runs(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "jobs.db", SCHEMA)
    # Another process holds the lease of the job that runs once in the installation.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from nexq.core.db import Database;"
            "from tests.unit.test_db import SCHEMA;"
            "db = Database(Path(sys.argv[1]), SCHEMA); assert db.lease('elsewhere').held();"
            "print('held', flush=True); sys.stdin.readline()",
            str(tmp_path / "jobs.db"),
        ],
        cwd=Path(__file__).parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    calls: list[str] = []

    def broken() -> None:
        calls.append("broken")
        raise OSError(13, "Permission denied", "/data/blobs/00")

    log, stop = JobLog(), threading.Event()
    jobs = [
        Job("fine", 0.05, lambda: calls.append("fine")),
        Job("broken", 0.05, broken, lane="other"),
        Job("elsewhere", 0.05, lambda: calls.append("elsewhere"), once=True),
    ]
    threads = start_jobs(jobs, stop, db, log)
    try:
        deadline = time.monotonic() + 10
        while calls.count("fine") < 3 or calls.count("broken") < 3:
            assert time.monotonic() < deadline, calls
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        assert holder.stdin is not None
        holder.stdin.write("done\n")
        holder.stdin.close()
        holder.wait(10)
        db.close()
    table = {row["name"]: row for row in log.snapshot()["jobs"]}
    assert table["fine"]["runs"] == calls.count("fine")
    assert table["fine"]["failures"] == 0
    assert table["broken"]["runs"] == table["broken"]["failures"] == calls.count("broken")
    assert table["broken"]["last_failed"] is True
    assert (
        table["broken"]["last_error"]
        == "PermissionError: [Errno 13] Permission denied: '/data/blobs/00'"
    )
    assert table["broken"]["last_seconds"] >= 0
    # Registered (listed), never run here, never reported.
    assert "elsewhere" not in calls
    assert table["elsewhere"]["runs"] == 0 and table["elsewhere"]["once"] is True


def _gone_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_files_of_processes_that_are_gone_are_ignored_and_cleared(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    me = this_process()
    assert is_live(me)
    assert abs(me["started_at"] - time.time()) < 3600  # this test's process started lately
    run.write(SERVER_FILE, {**me, "version": "0.1.0", "listen": {}})
    run.write("worker-1.json", {**me, "control_plane": True})
    # A crashed worker's file; and one whose pid the kernel gave to another process since
    # (the same pid, another start).
    run.write("worker-2.json", {**me, "pid": _gone_pid()})
    run.write("worker-3.json", {**me, "process_start": me["process_start"] - 1})
    (run.path / "worker-4.json").write_text("{half a fil")
    (run.path / f".worker-5.json.{_gone_pid()}.tmp").write_text("{}")
    (run.path / f".worker-6.json.{os.getpid()}.tmp").write_text("{}")  # being written
    server = run.server()
    assert server is not None and server["pid"] == os.getpid()
    assert [w["control_plane"] for w in run.workers()] == [True]
    assert run.clear_stale() == 4
    left = sorted(p.name for p in run.path.iterdir())
    assert left == [f".worker-6.json.{os.getpid()}.tmp", SERVER_FILE, "worker-1.json"]
    run.forget_server()
    assert run.server() is None and not (run.path / SERVER_FILE).exists()


def test_a_server_that_is_gone_is_not_running(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    assert run.server() is None  # no folder yet
    run.write(SERVER_FILE, {**this_process(), "pid": _gone_pid()})
    assert run.server() is None
    run.publish_server("0.1.0", {"s3": 9000})  # a new server clears the old one's file
    found = run.server()
    assert found is not None and found["listen"] == {"s3": 9000}


def test_a_worker_publishes_its_jobs_until_it_stops(tmp_path: Path) -> None:
    run, log, stop = RunDir(tmp_path / "run"), JobLog(), threading.Event()
    log.ran("flush", time.time(), 0.01, None)
    worker = WorkerFile(run, log, control_plane=False)
    thread = worker.start(stop)
    deadline = time.monotonic() + 5
    while not run.workers():
        assert time.monotonic() < deadline, "the worker never published"
        time.sleep(0.01)
    published = run.workers()[0]
    assert published["pid"] == os.getpid() and published["control_plane"] is False
    assert published["jobs"][0]["name"] == "flush" and published["jobs"][0]["runs"] == 1
    assert (run.path / worker.name).stat().st_mode & 0o777 == 0o600
    stop.set()
    thread.join(5)
    worker.remove()
    worker.publish()  # a late publish never brings the file back
    assert run.workers() == []
    assert not (run.path / worker.name).exists()
