"""``dcp`` run as a real process against a live server, in an environment of its own.

Every run gets an environment built from scratch (nothing inherited from the developer's
``AWS_*``, ``DCP_*``, ``~/.aws`` or ``~/.config/dcp``): ``HOME``, the dcp config file and the
aws-cli files all live in the test's ``tmp_path``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import forked_cli
from tests.compat.tools import aws_command, base_env
from tests.live import LiveServer, nexq_json

_names = itertools.count()


def dcp_command() -> list[str]:
    """The installed console script when it sits next to this interpreter (what users run)."""
    script = Path(sys.executable).parent / "dcp"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "nexq.cli.dcp"]


@dataclass
class Dcp:
    """``dcp(*args)`` runs dcp and checks its exit code (0 unless ``code=`` says otherwise)."""

    env: dict[str, str]
    tmp_path: Path
    command: list[str] = field(default_factory=dcp_command)

    @property
    def config(self) -> Path:
        return Path(self.env["DCP_CONFIG"])

    @property
    def aws_config(self) -> Path:
        return Path(self.env["AWS_CONFIG_FILE"])

    @property
    def aws_credentials(self) -> Path:
        return Path(self.env["AWS_SHARED_CREDENTIALS_FILE"])

    def __call__(
        self,
        *args: str,
        code: int = 0,
        stdin: str = "",
        env: dict[str, str] | None = None,
        unset: tuple[str, ...] = (),
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in {**self.env, **(env or {})}.items() if k not in unset}
        # No controlling terminal (a session of its own): a password prompt reads stdin
        # instead of /dev/tty.
        if self.command == dcp_command() and forked_cli.forking():
            # dcp's main, forked from the test process's zygote (tests/forked_cli.py): the
            # same code as the console script without a new interpreter's half second.
            proc = forked_cli.run(
                list(args), full_env, timeout, module=forked_cli.DCP, stdin=stdin,
                new_session=True,
            )  # fmt: skip
        else:
            proc = subprocess.run(
                [*self.command, *args],
                env=full_env,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                start_new_session=True,
            )
        if proc.returncode != code:
            pytest.fail(
                f"dcp {' '.join(args)}: exit {proc.returncode}, expected {code}\n"
                f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}",
                pytrace=False,
            )
        return proc

    def json(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
        """``dcp --output json *args``, parsed."""
        return json.loads(self("--output", "json", *args, env=env, timeout=timeout).stdout)

    def fails(
        self, code: int, *args: str, env: dict[str, str] | None = None, stdin: str = ""
    ) -> str:
        """Run a command that must fail with ``code``; its one error line (asserted)."""
        proc = self(*args, code=code, env=env, stdin=stdin)
        assert_one_line_error(proc.stderr)
        assert proc.stdout == ""
        return proc.stderr.strip()

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """aws-cli with only the files dcp wrote: no keys, endpoint or region in the env."""
        proc = subprocess.run(
            [*aws_command(), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"aws {' '.join(args)}: exit {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}",
                pytrace=False,
            )
        return proc


def assert_one_line_error(stderr: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dcp: error: "), stderr
    assert "Traceback" not in stderr


def isolated_env(tmp_path: Path) -> dict[str, str]:
    env = base_env(tmp_path)
    env.update(
        {
            "DCP_CONFIG": str(tmp_path / "dcp" / "config.json"),
            "AWS_CONFIG_FILE": str(tmp_path / "aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws" / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            # One attempt: a retry must never hide a server error.
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        }
    )
    assert not any(k.startswith("DCP_API") for k in env)
    return env


@pytest.fixture
def dcp(tmp_path: Path) -> Dcp:
    """dcp with an empty config; nothing points it at a server yet."""
    return Dcp(isolated_env(tmp_path), tmp_path)


def api_url(server: LiveServer) -> str:
    return f"http://127.0.0.1:{server.api_port}"


def new_account(server: LiveServer) -> str:
    return server.account(f"dcp{next(_names)}-{os.getpid()}@example.com")


def admin_api_key(server: LiveServer, email: str, *scopes: str) -> dict[str, Any]:
    """A first API key, made by the operator command: {"id", "token", "scopes"}."""
    args = ["admin", "api-key", "create", "--account", email, "--name", "first key"]
    for scope in scopes:
        args += ["--scope", scope]
    out: dict[str, Any] = nexq_json(*args, data_dir=server.data_dir)
    return out


@pytest.fixture
def email(server: LiveServer) -> str:
    """A fresh customer account."""
    return new_account(server)


@pytest.fixture
def user(server: LiveServer, email: str, dcp: Dcp) -> Dcp:
    """dcp configured (through ``dcp config set``) with an every-scope key of ``email``."""
    dcp("config", "set", "api-url", api_url(server))
    dcp("config", "set", "api-key", admin_api_key(server, email)["token"])
    return dcp


@pytest.fixture
def bucket_name() -> Callable[[], str]:
    return lambda: f"dcp-bucket-{next(_names)}-{os.getpid()}"
