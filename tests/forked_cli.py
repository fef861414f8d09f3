"""``python -m nexq.cli.nexq …`` for the tests, forked from a process that imported it once.

A new interpreter spends 0.3 to 0.6 s (more on a loaded machine) starting and importing
Nexq before a ``nexq admin`` command does its work (0.1 to 0.3 s), and the suites run such
commands about 1,700 times a gate (accounts, limits and keys for every module). Each test
process starts one *zygote* instead: a process that has imported the command line and, for
each command, forks a child that runs ``nexq.cli.nexq`` as ``python -m`` runs it
(``runpy``, ``__main__``), with the command's arguments, environment and working folder,
stdin from /dev/null and stdout and stderr into files, as
``subprocess.run(capture_output=True)`` gives them. The child is a process of its own like a
new interpreter's: nothing of one command outlives it, and its exit status is the command's.

``NEXQ_TEST_FORKED_CLI=0`` runs every command in a new interpreter instead.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MODULE = "nexq.cli.nexq"
START_SECONDS = 30.0


class Zygote:
    """The test process's zygote (started at the first command)."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="nexq-cli-"))
        self.socket = self._folder / "zygote.sock"
        with open(self._folder / "zygote.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, str(self.socket)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + START_SECONDS
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the nexq zygote did not start: see {self._folder}")
            time.sleep(0.02)

    def run(
        self, args: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` (what follows ``python -m nexq.cli.nexq``) in a forked child."""
        command = [sys.executable, "-m", MODULE, *args]
        with tempfile.TemporaryDirectory(dir=self._folder) as scratch:
            out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
            request = {"args": args, "env": env, "cwd": os.getcwd(), "out": str(out)}
            request["err"] = str(err)
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(timeout)
                conn.connect(str(self.socket))
                conn.sendall(json.dumps(request).encode() + b"\n")
                answers = conn.makefile("rb")
                child = int(json.loads(answers.readline())["pid"])
                try:
                    code = int(json.loads(answers.readline())["code"])
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGKILL)
                    raise subprocess.TimeoutExpired(command, timeout) from None
            return subprocess.CompletedProcess(
                command, code, _text(out.read_bytes()), _text(err.read_bytes())
            )

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


def _text(data: bytes) -> str:
    # As subprocess.run(text=True) decodes: universal newlines.
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


_zygote: Zygote | None = None
_lock = threading.Lock()


def run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m nexq.cli.nexq *args`` with ``env``: forked from this process's zygote."""
    global _zygote
    if os.environ.get("NEXQ_TEST_FORKED_CLI") == "0":
        return subprocess.run(
            [sys.executable, "-m", MODULE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    with _lock:
        if _zygote is None or _zygote.process.poll() is not None:
            _zygote = Zygote()
            atexit.register(_zygote.stop)
        zygote = _zygote
    return zygote.run(args, env, timeout)


# ------------------------------------------------------------------------- the zygote


def serve(path: str) -> None:
    """Import the command line once, then fork a child for each connection to ``path``."""
    # What every command would import again: the command line, typer's coercion of
    # parameters (pydantic, loaded at a command's first parse) and psycopg (which commands
    # against PostgreSQL load). The command line's own module is forgotten, so that each
    # command runs it afresh as __main__, as python -m does.
    import typer._adapters  # noqa: F401

    import nexq.cli.nexq
    import nexq.core.postgres  # noqa: F401

    del sys.modules[MODULE]
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(64)
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            _child(conn)  # never returns
        conn.close()
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


def _child(conn: socket.socket) -> None:
    code = 1
    try:
        request: dict[str, Any] = json.loads(conn.makefile("rb").readline())
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        os.chdir(request["cwd"])
        sys.path[0] = os.getcwd()  # where python -m looks first (the zygote's was tests/)
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # found again from this command's TMPDIR
        for fd, name, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(name, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        code = _run_module(request["args"]) & 0xFF  # what the parent sees of exit(n)
    finally:
        # What an interpreter's exit does for a command: its log handlers and stdio flushed.
        with contextlib.suppress(Exception):
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"code": code}).encode() + b"\n")
        os._exit(code)


def _run_module(args: list[str]) -> int:
    """Run the command line as ``python -m`` does: its exit status."""
    import runpy
    import traceback

    sys.argv = [MODULE, *args]  # runpy puts the module's path first, as python -m does
    try:
        runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        if done.code is None:
            return 0
        if isinstance(done.code, int):
            return done.code
        print(done.code, file=sys.stderr)
        return 1
    except BaseException:  # what the interpreter would print before exiting with 1
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    serve(sys.argv[1])
