"""The tests' forked command lines (tests/forked_cli.py) answer as ``python -m nexq.cli.nexq``
and the ``dcp`` script in a new interpreter do: the same exit status, stdout and stderr, with
the caller's environment, working folder and stdin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nexq.core.run_dir import SERVER_FILE
from tests import forked_cli
from tests.cli.conftest import api_url, dcp_command, isolated_env
from tests.live import LiveServer

CREATE = ["admin", "account", "create", "--password", "correct horse battery", "--email"]


def both(
    args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``args`` forked, then in a new interpreter."""
    forked = forked_cli.run(args, env, timeout=60)
    with monkeypatch.context() as fresh:
        fresh.setenv("NEXQ_TEST_FORKED_CLI", "0")
        new = forked_cli.run(args, env, timeout=60)
    return forked, new


def answer(done: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return done.returncode, done.stdout, done.stderr


def test_refusals_and_usage_errors_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = str(tmp_path / "data")
    env = dict(os.environ)
    made = forked_cli.run([*CREATE, "a@example.com", "--data-dir", data], env, 60)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["email"] == "a@example.com"
    for args in (
        [*CREATE, "a@example.com"],  # taken: an error, exit status 1
        ["admin", "account", "limits", "--account", "a@example.com", "--set", "buckets=x"],
        ["admin", "account", "create"],  # a missing option: usage, exit 2
        ["admin", "no-such-command"],
        ["admin", "account", "limits", "--account", "a@example.com"],  # JSON on stdout
    ):
        forked, new = both([*args, "--data-dir", data], env, monkeypatch)
        assert answer(forked) == answer(new), args
    forked, new = both(["admin", "account", "create"], env, monkeypatch)
    assert forked.returncode == 2 and "Usage: python -m nexq.cli.nexq admin" in forked.stderr


def test_the_callers_environment_and_folder_reach_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "NEXQ_DATA_DIR": "relative"}
    made = forked_cli.run([*CREATE, "b@example.com"], env, 60)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "relative" / "meta.db").exists()
    unset = {k: v for k, v in env.items() if k != "NEXQ_DATA_DIR"}
    missing = forked_cli.run(
        ["admin", "account", "limits", "--account", "b@example.com"], unset, 60
    )
    assert missing.returncode != 0  # the default data dir (./nexq-data) has no such account


def test_dcp_forked_answers_as_its_console_script(server: LiveServer, tmp_path: Path) -> None:
    """The tests' Dcp forks dcp's main from the zygote; the installed script in a new
    interpreter gives the same exit status, stdout and stderr: usage errors, a refusal
    with its exit code, JSON, and a password read from stdin with no terminal."""
    env = isolated_env(tmp_path)
    email = server.account("forked-dcp@example.com")
    cases: list[tuple[tuple[str, ...], str]] = [
        (("config", "set", "api-url", api_url(server)), ""),
        (("storage", "buckets", "list"), ""),  # not logged in: a refusal
        (("storage", "no-such-command"), ""),  # usage, exit 2
        (("--output", "json", "config", "show"), ""),
        (("login", "--email", email), "wrong password\n"),  # refused, read from stdin
    ]
    for args, stdin in cases:
        forked = forked_cli.run(
            list(args), env, 60, module=forked_cli.DCP, stdin=stdin, new_session=True
        )
        script = subprocess.run(
            [*dcp_command(), *args], env=env, input=stdin, capture_output=True, text=True,
            timeout=60, check=False, start_new_session=True,
        )  # fmt: skip
        assert answer(forked) == answer(script), args
    assert answer(forked)[0] != 0 and "password" in forked.stderr.lower()


def test_a_forked_server_stops_and_fails_as_in_a_new_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nexq serve`` forked from the zygote (tests/live.py's servers) and in a new
    interpreter: stopped by SIGINT, it ends with status 0 and its exit functions run (its
    run file is gone); refused at start (a setting that is not valid), it ends with the same
    status and one line naming the variable."""
    outcomes = []
    for forking in ("1", "0"):
        monkeypatch.setenv("NEXQ_TEST_FORKED_CLI", forking)
        live = LiveServer(tmp_path / f"forking-{forking}" / "data")
        live.start()
        process = live.process
        assert process is not None and process.poll() is None
        server_file = live.data_dir / "run" / SERVER_FILE
        deadline = time.monotonic() + 30  # written just after the server starts listening
        while not server_file.exists():
            assert time.monotonic() < deadline, f"no {server_file}"
            time.sleep(0.05)
        assert json.loads(server_file.read_text())["pid"] == process.pid
        process.send_signal(signal.SIGINT)
        stopped = process.wait(30)
        live.process = None
        log = tmp_path / f"refused-{forking}.log"
        env = {**os.environ, "NEXQ_WORKERS": "many"}
        refused = forked_cli.spawn(["serve", "--data-dir", str(tmp_path / "r")], env, log)
        outcomes.append((stopped, server_file.exists(), refused.wait(30), log.read_text()))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][:2] == (0, False)
    assert outcomes[0][2:] == (1, "error: NEXQ_WORKERS: 'many' is not valid\n")
