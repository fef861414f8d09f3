"""A real PostgreSQL server for the tests: Debian's postgresql-15, started in a folder of its
own on a Unix socket only, one per test process; every test gets a database of its own."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg


def binaries() -> Path:
    """The newest PostgreSQL's bin folder (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: `make tools` installs Debian's postgresql package"
        )
    return Path(found[-1]).parent


def _major(path: str) -> int:
    return int(Path(path).parent.parent.name)


class PostgresServer:
    """One cluster: ``initdb``, ``pg_ctl start``, databases made on demand, ``stop``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nexq-pg-"))
        self._bin = binaries()
        self._names = itertools.count(1)
        # PostgreSQL refuses to run as root: as root, the server runs as Debian's postgres.
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.port = 5432
        self._run(
            "initdb",
            "-D",
            str(self.root / "data"),
            "-U",
            "nexq",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        self._start()

    def _start(self) -> None:
        options = (
            f"-k {self.root} -p {self.port} -c listen_addresses='' -c max_connections=200 "
            "-c shared_buffers=32MB"
        )
        self._run(
            "pg_ctl", "-D", str(self.root / "data"), "-o", options, "-l",
            str(self.root / "log"), "-w", "start",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://nexq@/{database}?host={self.root}&port={self.port}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self) -> None:
        """Stop at once (connections cut, as a crash or a fail-over does) and start again."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        self._start()

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root, timeout=60)
