"""``nexq admin status`` against a live server of two workers: what it says of the server,
the installation and the background jobs; a job made to fail from outside shows in the last
errors (exit 2) until it runs clean again; a stopped server is "not running" (exit 1)."""

from __future__ import annotations

import importlib.metadata
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nexq.cli.status import render
from tests.live import LiveServer, nexq

DEADLINE = 15.0  # seconds: jobs run every 1-2 s, workers publish every 2 s


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("status") / "data", env={"NEXQ_WORKERS": "2"})
    server.start()
    yield server
    server.stop()


def status(live: LiveServer) -> tuple[int, dict[str, Any]]:
    done = nexq("admin", "status", "--json", data_dir=live.data_dir, check=False)
    assert done.returncode in (0, 1, 2), done.stderr
    return done.returncode, json.loads(done.stdout)


def until(live: LiveServer, wanted: Callable[[int, dict[str, Any]], bool]) -> dict[str, Any]:
    """The status once ``wanted`` holds of it (exit code, report), polled until the deadline."""
    deadline = time.monotonic() + DEADLINE
    while True:
        code, report = status(live)
        if wanted(code, report):
            return report
        assert time.monotonic() < deadline, f"exit {code}: {json.dumps(report, indent=1)}"
        time.sleep(0.5)


def job(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [j for j in report["jobs"] if j["name"] == name]
    assert found, [j["name"] for j in report["jobs"]]
    return found[0]


def runs(report: dict[str, Any], name: str) -> int:
    """How often job ``name`` ran, over every worker (0 before the workers have told)."""
    return sum(j["runs"] for j in report["jobs"] if j["name"] == name)


def test_a_running_server_its_workers_accounts_and_jobs(live: LiveServer) -> None:
    for number in range(2):
        live.account(f"status{number}@example.com")
    report = until(
        live,
        lambda code, r: (
            code == 0
            and len(r["workers"]) == 2
            and runs(r, "collect garbage") >= 1
            and runs(r, "flush usage counts") >= 2
        ),
    )
    assert report["status"] == "running"
    assert report["version"] == importlib.metadata.version("nexq")
    server = report["server"]
    assert server["running"] is True
    assert server["version"] == report["version"]
    assert server["pid"] == live.pids()[0]
    assert server["listen"]["s3"] == live.s3_port
    assert server["listen"]["api"] == live.api_port
    assert server["listen"]["registry"] == live.registry_port
    assert 0 < server["uptime_seconds"] < 120
    # Exactly one worker serves the control plane; both are the server's children.
    assert [w["control_plane"] for w in report["workers"]].count(True) == 1
    for worker in report["workers"]:
        assert Path(f"/proc/{worker['pid']}/stat").read_text().split(") ")[1].split()[1] == str(
            server["pid"]
        )
    # The operator made at first start, and the two made here.
    assert report["installation"]["accounts"] == 3
    assert report["installation"]["operators"] == 1
    usage = report["usage"]
    assert usage["metadata_bytes"] > 0
    assert usage["free_bytes"] > 0
    assert usage["total_bytes"] >= usage["metadata_bytes"] + usage["blobs_bytes"]
    # A job that runs once (in the lease holder) and one every worker runs.
    garbage, flush = job(report, "collect garbage"), job(report, "flush usage counts")
    assert garbage["once"] is True and flush["once"] is False
    assert garbage["failures"] == 0 and garbage["last_error"] is None
    assert garbage["last_run_ago_seconds"] < DEADLINE
    assert report["last_errors"] == []
    text = render(report)
    assert f"running (pid {server['pid']})" in text
    assert "Accounts:    3 (1 operator)" in text
    assert "collect garbage" in text


def test_bytes_stored_are_counted(live: LiveServer) -> None:
    email = live.account("stored@example.com")
    s3 = live.client(live.key(email))
    s3.create_bucket(Bucket="status-bytes")
    s3.put_object(Bucket="status-bytes", Key="a", Body=b"x" * 1000)
    s3.put_object(Bucket="status-bytes", Key="b", Body=b"y" * 24)
    held = until(live, lambda code, r: r["installation"]["objects"] == 2)["installation"]
    assert held["buckets"] == 1
    assert held["stored_bytes"] == 1024


def test_a_failing_job_shows_in_the_last_errors_until_it_runs_clean(live: LiveServer) -> None:
    # Garbage collection deletes each blob file a garbage row names: one that names a
    # directory cannot be deleted, and every run fails until the directory is gone.
    blocker = live.data_dir / "blobs" / "00" / "status-test-blocker"
    blocker.mkdir()
    live.sql("INSERT INTO garbage (path) VALUES (?)", "00/status-test-blocker")
    report = until(live, lambda code, r: code == 2)
    assert report["status"] == "failing"
    garbage = job(report, "collect garbage")
    assert garbage["failing"] is True
    assert garbage["failures"] >= 1
    assert "IsADirectoryError" in garbage["last_error"]
    latest = report["last_errors"][0]
    assert latest["job"] == "collect garbage"
    assert "status-test-blocker" in latest["error"]
    assert latest["ago_seconds"] < DEADLINE
    text = nexq("admin", "status", data_dir=live.data_dir, check=False)
    assert text.returncode == 2
    assert "collect garbage (failing)" in text.stdout
    assert "IsADirectoryError" in text.stdout

    blocker.rmdir()
    report = until(live, lambda code, r: code == 0)
    garbage = job(report, "collect garbage")
    assert garbage["failing"] is False
    assert "IsADirectoryError" in garbage["last_error"]  # kept, with its time
    assert report["last_errors"][0]["job"] == "collect garbage"


def test_a_stopped_server_is_not_running(live: LiveServer) -> None:
    before = status(live)[1]
    workers = [w["pid"] for w in before["workers"]]
    live.stop()
    code, report = status(live)
    assert code == 1
    assert report["status"] == "not running"
    assert report["server"] == {"running": False}
    assert report["workers"] == [] and report["jobs"] == [] and report["last_errors"] == []
    # What the installation holds is still read from its files.
    assert report["installation"] == before["installation"]
    # A clean stop leaves no file of the server or its workers.
    left = {p.name for p in (live.data_dir / "run").glob("*.json")}
    assert not left & {"server.json", *(f"worker-{pid}.json" for pid in workers)}
    assert "Server:      not running" in render(report)


def test_a_data_dir_that_is_not_there_is_refused(tmp_path: Path) -> None:
    done = nexq("admin", "status", data_dir=tmp_path / "nowhere", check=False)
    assert done.returncode == 1
    assert "nowhere is not a directory" in done.stderr
    assert not (tmp_path / "nowhere").exists()
