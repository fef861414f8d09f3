"""``python -m nexq.cli.nexq …`` and ``dcp …`` for the tests, forked from a process that
imported them once.

A new interpreter spends 0.3 to 0.6 s (more on a loaded machine) starting and importing
Nexq before a ``nexq admin`` command does its work (0.1 to 0.3 s), and the suites run such
commands about 1,700 times a gate (accounts, limits and keys for every module); ``dcp``
takes 0.5 s to start (1.4 s on a loaded machine, against 0.25 s forked) for requests
of milliseconds, and tests/cli and tests/compute run it hundreds of times (tests/cli alone:
295 s in a new interpreter each time, 164 s forked). Each test process starts one *zygote*
instead: a process that has imported both command lines and, for each command, forks a
child that runs the command's module as ``python -m`` runs it (``runpy``, ``__main__``;
``dcp``'s console script calls the same ``main``), with the command's arguments,
environment, working folder and stdin, stdout and stderr in files, as
``subprocess.run(capture_output=True)`` gives them. The child is a process of its own like
a new interpreter's: nothing of one command outlives it, and its exit status is the
command's. The guides' shell blocks still run the installed ``dcp`` script, as a reader
does.

Servers are forked from it too (:func:`spawn`): ``nexq serve`` spent about 1.1 s of CPU
importing Nexq before it listened, about 0.3 s forked, and the main phase of a gate alone
starts about 300 of them (one per test module or so; three per module in the cluster
phase). What the tests use of the server's :class:`subprocess.Popen` (its pid, ``poll``,
``wait``, ``send_signal``, ``kill``) is :class:`Spawned`'s.

``NEXQ_TEST_FORKED_CLI=0`` runs every command and server in a new interpreter instead.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
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
DCP = "nexq.cli.dcp"
START_SECONDS = 30.0


def forking() -> bool:
    """Whether commands are forked from the zygote (unless ``NEXQ_TEST_FORKED_CLI=0``)."""
    return os.environ.get("NEXQ_TEST_FORKED_CLI") != "0"


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
        self,
        args: list[str],
        env: dict[str, str],
        timeout: float,
        *,
        module: str = MODULE,
        stdin: str = "",
        new_session: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` (what follows ``python -m <module>``) in a forked child."""
        command = [sys.executable, "-m", module, *args]
        with tempfile.TemporaryDirectory(dir=self._folder) as scratch:
            out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
            given = Path(scratch) / "stdin"
            given.write_text(stdin)
            request = {
                "module": module, "args": args, "env": env, "cwd": os.getcwd(),
                "in": str(given), "out": str(out), "err": str(err), "append": False,
                "new_session": new_session,
            }  # fmt: skip
            with self._connect(request, timeout) as started:
                try:
                    code = started.wait(timeout)
                except subprocess.TimeoutExpired:
                    started.kill()
                    raise subprocess.TimeoutExpired(command, timeout) from None
            return subprocess.CompletedProcess(
                command, code, _text(out.read_bytes()), _text(err.read_bytes())
            )

    def spawn(self, args: list[str], env: dict[str, str], log: Path) -> Spawned:
        """Start ``python -m nexq.cli.nexq *args`` in a forked child and return at once; its
        output is appended to ``log`` and its stdin is empty."""
        request = {
            "module": MODULE, "args": args, "env": env, "cwd": os.getcwd(),
            "in": os.devnull, "out": str(log), "err": str(log), "append": True,
            "new_session": False,
        }  # fmt: skip
        return self._connect(request, START_SECONDS)

    def _connect(self, request: dict[str, Any], timeout: float) -> Spawned:
        conn = socket.socket(socket.AF_UNIX)
        try:
            conn.settimeout(timeout)
            conn.connect(str(self.socket))
            conn.sendall(json.dumps(request).encode() + b"\n")
            pid = int(json.loads(_line(conn))["pid"])
        except BaseException:
            conn.close()
            raise
        return Spawned([sys.executable, "-m", request["module"], *request["args"]], pid, conn)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


class Spawned:
    """A command forked from the zygote, running: what the tests use of
    :class:`subprocess.Popen`. The zygote's child that forked it holds the other end of
    ``conn``, and writes the command's exit status there when it ends."""

    def __init__(self, args: list[str], pid: int, conn: socket.socket) -> None:
        self.args = args
        self.pid = pid
        self.returncode: int | None = None
        self._conn = conn

    def poll(self) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.wait(0)
        return None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            ready, _, _ = select.select([self._conn], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._conn.settimeout(None)
            line = _line(self._conn)
            # No status: the zygote's child was killed (it ends only after its command).
            self.returncode = int(json.loads(line)["code"]) if line else -signal.SIGKILL
            self._conn.close()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:  # never a pid that may have been given to another process
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __enter__(self) -> Spawned:
        return self

    def __exit__(self, *_: object) -> None:
        self._conn.close()


def _line(conn: socket.socket) -> bytes:
    """One line of the zygote's answer, read a byte at a time: nothing after it is taken
    from the socket (select tells whether the next line has come)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte:
            break
        line += byte
    return bytes(line)


def _text(data: bytes) -> str:
    # As subprocess.run(text=True) decodes: universal newlines.
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


_zygote: Zygote | None = None
_lock = threading.Lock()


def run(
    args: list[str],
    env: dict[str, str],
    timeout: float,
    *,
    module: str = MODULE,
    stdin: str = "",
    new_session: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python -m <module> *args`` with ``env`` (and ``stdin``; in a session of its own if
    ``new_session``, as ``start_new_session`` gives): forked from this process's zygote."""
    if not forking():
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
            start_new_session=new_session,
        )
    return _the_zygote().run(
        args, env, timeout, module=module, stdin=stdin, new_session=new_session
    )


def spawn(args: list[str], env: dict[str, str], log: Path) -> Spawned | subprocess.Popen[bytes]:
    """``python -m nexq.cli.nexq *args`` with ``env``, running on (a server), its output
    appended to ``log``: forked from this process's zygote."""
    if not forking():
        with open(log, "ab") as output:
            return subprocess.Popen(
                [sys.executable, "-m", MODULE, *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
            )
    return _the_zygote().spawn(args, env, log)


def _the_zygote() -> Zygote:
    global _zygote
    with _lock:
        if _zygote is None or _zygote.process.poll() is not None:
            _zygote = Zygote()
            atexit.register(_zygote.stop)
        return _zygote


# ------------------------------------------------------------------------- the zygote


def serve(path: str) -> None:
    """Import the command lines once, then fork a child for each connection to ``path``."""
    # What every command would import again: the command lines, typer's coercion of
    # parameters (pydantic, loaded at a command's first parse) and psycopg (which commands
    # against PostgreSQL load). The command lines' own modules are forgotten, so that each
    # command runs its module afresh as __main__, as python -m does.
    import typer._adapters  # noqa: F401

    # And what a server loads before it forks its workers (nexq.cli.nexq's
    # _share_with_workers).
    import nexq.cli.dcp
    import nexq.cli.listeners
    import nexq.cli.nexq
    import nexq.core.postgres
    import nexq.registry.oci.app
    import nexq.storage.s3.server
    import nexq.web.observe  # noqa: F401

    del sys.modules[MODULE], sys.modules[DCP]
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
    """Fork the command's process, tell the caller its pid, wait for it and tell its exit
    status. Waited for rather than told by the command itself: a command may end by
    exec'ing another program (``dcp databases connect`` becomes psql), whose status is the
    command's."""
    code = 1
    try:
        request: dict[str, Any] = json.loads(conn.makefile("rb").readline())
        command = os.fork()
        if command == 0:
            conn.close()
            _command(request)  # never returns
        conn.sendall(json.dumps({"pid": command}).encode() + b"\n")
        # As subprocess reports it: the exit status, or minus the signal that ended it.
        code = os.waitstatus_to_exitcode(os.waitpid(command, 0)[1])
    finally:
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"code": code}).encode() + b"\n")
        os._exit(0)


def _command(request: dict[str, Any]) -> None:
    code = 1
    try:
        os.chdir(request["cwd"])
        sys.path[0] = os.getcwd()  # where python -m looks first (the zygote's was tests/)
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # found again from this command's TMPDIR
        if request["new_session"]:
            os.setsid()  # no controlling terminal: a prompt reads stdin, not /dev/tty
        written = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if request["append"] else os.O_TRUNC)
        for fd, name, flags in (
            (0, request["in"], os.O_RDONLY),
            (1, request["out"], written),
            (2, request["err"], written),
        ):
            opened = os.open(name, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        code = _run_module(request["module"], request["args"]) & 0xFF  # as exit(n) is seen
    finally:
        # What an interpreter's exit does for a command: its exit functions run (a server
        # removes its run file, logging flushes its handlers) and stdio flushed.
        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run_module(module: str, args: list[str]) -> int:
    """Run a command line as ``python -m`` does: its exit status."""
    import runpy
    import traceback

    sys.argv = [module, *args]  # runpy puts the module's path first, as python -m does
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
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
