"""The systemd units of packaging/: valid for systemd (``systemd-analyze verify``, offline, as
no systemd runs here as PID 1), as sandboxed as docs/operations.md promises, option by option
and by ``systemd-analyze security``'s score; and Nexq serving under the kernel's refusal of
writable-and-executable memory, which ``MemoryDenyWriteExecute=`` asks of it."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import ENGINES, LiveServer, nexq

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
DOCS = ROOT / "docs" / "operations.md"
UNITS = ("nexq.service", "nexq-databases.service")
INSTALLED = "/opt/nexq/bin/nexq"  # where the units expect Nexq (docs/operations.md)
# The most exposure `systemd-analyze security` may score each unit (0 to 10).
EXPOSURE = {"nexq.service": 1.5, "nexq-databases.service": 5.0}
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1  # linux/prctl.h (Linux 6.3)


def options(unit: Path) -> dict[str, list[str]]:
    """The [Service] section's settings, each with its values in order (a key may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in unit.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def promised() -> dict[str, dict[str, list[str] | None]]:
    """docs/operations.md's table of options: for each unit, each option's values (None:
    not set)."""
    text = DOCS.read_text()
    table = text[text.index("| option | `nexq.service` | `nexq-databases.service` |") :]
    rows = []
    for line in table.splitlines()[2:]:  # past the header and its rule, to the table's end
        if not line.startswith("|"):
            break
        rows.append(line)
    assert len(rows) > 20, "the table of options is gone from docs/operations.md"
    found: dict[str, dict[str, list[str] | None]] = {unit: {} for unit in UNITS}
    for row in rows:
        option, *cells = (cell.strip() for cell in row.strip("|").split("|"))
        for unit, cell in zip(UNITS, cells, strict=True):
            if cell == "—":
                found[unit][option.strip("`")] = None
            elif cell == "(empty)":
                found[unit][option.strip("`")] = [""]
            else:
                found[unit][option.strip("`")] = re.findall(r"`([^`]*)`", cell)
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each unit as installed with Nexq where this test runs (verify checks that ExecStart's
    program exists)."""
    program = Path(sys.executable).parent / "nexq"
    assert os.access(program, os.X_OK), program
    folder = tmp_path_factory.mktemp("units")
    copies = {}
    for unit in UNITS:
        text = (PACKAGING / unit).read_text()
        assert f"ExecStart={INSTALLED} serve\n" in text
        (folder / unit).write_text(text.replace(INSTALLED, str(program)))
        copies[unit] = folder / unit
    return copies


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_finds_nothing_wrong_with_the_unit(unit: str, installed: dict[str, Path]) -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(installed[unit])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", done.stdout + done.stderr


def test_verify_would_catch_a_missing_program(tmp_path: Path) -> None:
    """The check above can fail: the unit as shipped names a program this host lacks."""
    if Path(INSTALLED).exists():  # pragma: no cover - a host with Nexq installed there
        pytest.fail(f"{INSTALLED} exists here: this test needs a host without it")
    shutil.copy(PACKAGING / "nexq.service", tmp_path / "nexq.service")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "nexq.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert f"{INSTALLED} is not executable" in done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_the_unit_sets_what_the_docs_promise(unit: str) -> None:
    actual = options(PACKAGING / unit)
    for option, values in promised()[unit].items():
        assert actual.get(option) == values, f"{unit}: {option}"


def test_the_hardened_unit_runs_unprivileged_and_the_other_keeps_only_what_databases_need() -> None:
    hardened, databases = options(PACKAGING / UNITS[0]), options(PACKAGING / UNITS[1])
    assert hardened["User"] == ["nexq"] and hardened["CapabilityBoundingSet"] == [""]
    assert hardened["MemoryDenyWriteExecute"] == ["yes"]
    kept = set(databases["CapabilityBoundingSet"][0].split())
    assert kept == {
        "CAP_SYS_ADMIN",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_KILL",
    }
    # Every option that makes a mount namespace would hide the databases' volumes from the
    # host (and from the next start); MemoryDenyWriteExecute breaks PostgreSQL's JIT.
    namespacing = {
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectProc",
        "ProcSubset",
        "PrivateMounts",
        "ReadWritePaths",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "TemporaryFileSystem",
        "BindPaths",
        "MountFlags",
    }
    assert not namespacing & set(databases), namespacing & set(databases)
    assert "MemoryDenyWriteExecute" not in databases
    assert databases["KillMode"] == ["process"]


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_scores_the_sandbox(unit: str, installed: dict[str, Path]) -> None:
    done = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=yes",
            f"--threshold={round(EXPOSURE[unit] * 10)}",
            str(installed[unit]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d)", done.stdout)
    assert score is not None, done.stdout + done.stderr
    assert done.returncode == 0, f"{unit}: exposure {score[1]} above {EXPOSURE[unit]}"


# Nexq under MemoryDenyWriteExecute -----------------------------------------------------------


def _refuse_writable_executable_memory() -> None:
    """In the server's process, before it runs Nexq: what systemd's option asks, from the
    kernel itself (kept across exec and fork: the workers have it too)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE) refused")


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("mdwe") / "data")
    live.data_dir.mkdir()
    ENGINES.setdefault(live.data_dir, {}).update(live.databases_settings())
    log = open(live.data_dir.parent / "server.log", "ab")  # noqa: SIM115 - the server's
    live.process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nexq.cli.nexq",
            "serve",
            "--data-dir",
            str(live.data_dir),
            "--s3-port",
            str(live.s3_port),
            "--api-port",
            str(live.api_port),
            "--registry-port",
            str(live.registry_port),
            "--workers",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **live.databases_settings()},
        # One system call between fork and exec, safe with this process's threads.
        preexec_fn=_refuse_writable_executable_memory,
    )
    deadline = time.monotonic() + 30
    while True:
        assert live.process.poll() is None, (live.data_dir.parent / "server.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", live.api_port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the server did not listen within 30 s"
            time.sleep(0.05)
    yield live
    live.stop()
    log.close()


def test_nexq_serves_without_writable_executable_memory(refused: LiveServer) -> None:
    email = refused.account("mdwe@example.com")
    s3 = refused.client(refused.key(email))
    s3.create_bucket(Bucket="mdwe")  # sealed blobs: AES-GCM through cryptography
    s3.put_object(Bucket="mdwe", Key="k", Body=b"z" * 300_000)
    assert s3.get_object(Bucket="mdwe", Key="k")["Body"].read() == b"z" * 300_000
    with httpx.Client(base_url=refused.api_url) as api:
        login = api.post("/v1/login", json={"email": email, "password": "correct horse battery"})
        assert login.status_code == 201, login.text  # argon2 through cffi
        assert api.get("/login").status_code == 200  # the console's templates
    registry = httpx.get(f"http://127.0.0.1:{refused.registry_port}/v2/")
    assert registry.status_code == 401 and "Bearer" in registry.headers["www-authenticate"]
    # Every background job ran clean in both workers too.
    deadline = time.monotonic() + 15
    while True:
        done = nexq("admin", "status", "--json", data_dir=refused.data_dir, check=False)
        report = json.loads(done.stdout)
        ran = {job["name"] for job in report["jobs"] if job["runs"]}
        if done.returncode == 0 and len(report["workers"]) == 2 and "collect garbage" in ran:
            break
        assert done.returncode in (0, 1), report["last_errors"]
        assert time.monotonic() < deadline, done.stdout
        time.sleep(0.5)
    log = (refused.data_dir.parent / "server.log").read_text()
    assert "Traceback" not in log and "write+execute" not in log, log
