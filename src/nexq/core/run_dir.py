"""The run folder of a data dir: what each process of a running ``nexq serve`` says of itself.

``<data dir>/run/server.json`` is written by the main process of ``nexq serve`` (its pid,
version and listeners), ``worker-<pid>.json`` by each worker process every few seconds (its
job log, :mod:`nexq.core.job_log`); ``nexq admin status`` reads them. Each file is replaced
whole (a temporary file renamed over it), so a reader never sees half of one; none is
flushed to disk: they describe running processes, which a power cut ends anyway.

A file names its process by pid and by the moment the process started (``/proc``), so that
after a crash a pid the kernel gave to another process is not taken for Nexq. A file whose
process is gone is stale: readers ignore it and a starting server removes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nexq.core.job_log import JobLog

log = logging.getLogger("nexq")

PUBLISH_SECONDS = 2.0  # how stale a worker's file may be while the worker lives
SERVER_FILE = "server.json"
WORKER_PREFIX = "worker-"


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), if it runs: neither gone nor
    a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _boot_time() -> float | None:
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:  # hidden (systemd's ProcSubset=pid)
        return None
    found = [line.split()[1] for line in lines if line.startswith("btime ")]
    return float(found[0]) if found else None


def this_process() -> dict[str, Any]:
    """How the files name the calling process: pid, start (ticks since boot, and epoch
    seconds), host name."""
    pid = os.getpid()
    ticks, booted = process_start(pid), _boot_time()
    started = time.time()  # close enough, when /proc does not say
    if ticks is not None and booted is not None:
        started = booted + ticks / os.sysconf("SC_CLK_TCK")
    return {"pid": pid, "process_start": ticks, "started_at": started, "node": socket.gethostname()}


def is_live(record: Mapping[str, Any]) -> bool:
    """Whether the process a file names still runs (the same process, not a reused pid)."""
    pid, start = record.get("pid"), record.get("process_start")
    return isinstance(pid, int) and start is not None and process_start(pid) == start


class RunDir:
    """The ``run`` folder of a data dir."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, name: str, document: Mapping[str, Any]) -> None:
        """Replace file ``name`` with ``document`` (JSON) at once."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path / f".{name}.{os.getpid()}.tmp"
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            json.dump(document, file)
        os.replace(temporary, self.path / name)

    def read(self, name: str) -> dict[str, Any] | None:
        """File ``name``, if it is there and whole JSON."""
        try:
            found = json.loads((self.path / name).read_text())
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def forget(self, name: str) -> None:
        with contextlib.suppress(OSError):
            (self.path / name).unlink()

    def server(self) -> dict[str, Any] | None:
        """What the running server wrote of itself; None if no server runs."""
        found = self.read(SERVER_FILE)
        return found if found is not None and is_live(found) else None

    def workers(self) -> list[dict[str, Any]]:
        """What each live worker last published, oldest worker first."""
        found = []
        for path in self.path.glob(f"{WORKER_PREFIX}*.json"):
            record = self.read(path.name)
            if record is not None and is_live(record):
                found.append(record)
        return sorted(found, key=lambda record: (record.get("started_at", 0.0), record["pid"]))

    def clear_stale(self) -> int:
        """Remove the files (and temporaries) of processes that are gone; how many."""
        removed = 0
        for path in [*self.path.glob(f"{WORKER_PREFIX}*.json"), self.path / SERVER_FILE]:
            record = self.read(path.name)
            if path.exists() and (record is None or not is_live(record)):
                self.forget(path.name)
                removed += 1
        for path in self.path.glob(".*.tmp"):
            pid = path.name.rsplit(".", 2)[-2]
            if not (pid.isdigit() and process_start(int(pid)) is not None):
                self.forget(path.name)
                removed += 1
        return removed

    def publish_server(self, version: str, listen: Mapping[str, Any]) -> None:
        """Say that this process is the server (removing what servers before it left)."""
        self.clear_stale()
        self.write(SERVER_FILE, {**this_process(), "version": version, "listen": dict(listen)})

    def forget_server(self) -> None:
        """The server stops: its file goes, if it is this process's."""
        found = self.read(SERVER_FILE)
        if found is not None and found.get("pid") == os.getpid():
            self.forget(SERVER_FILE)


class WorkerFile:
    """This worker's file: its job log, published at start and every
    :data:`PUBLISH_SECONDS` on a thread of its own (never on a request's path)."""

    def __init__(self, run_dir: RunDir, jobs: JobLog, *, control_plane: bool) -> None:
        self._run_dir = run_dir
        self._jobs = jobs
        self._me = {**this_process(), "control_plane": control_plane}
        self.name = f"{WORKER_PREFIX}{self._me['pid']}.json"
        self._lock = threading.Lock()  # a publish never recreates the file after remove()
        self._removed = False
        self._warned = False

    def publish(self) -> None:
        with self._lock:
            if self._removed:
                return
            try:
                self._run_dir.write(
                    self.name, {**self._me, "published_at": time.time(), **self._jobs.snapshot()}
                )
            except OSError as exc:  # a full or read-only disk: status will say it is stale
                if not self._warned:
                    log.warning("cannot publish this worker's status in %s: %s", self.name, exc)
                    self._warned = True

    def start(self, stop: threading.Event) -> threading.Thread:
        """Publish now and every few seconds until ``stop`` is set."""

        def loop() -> None:
            self.publish()
            while not stop.wait(PUBLISH_SECONDS):
                self.publish()

        thread = threading.Thread(target=loop, name="nexq-status", daemon=True)
        thread.start()
        return thread

    def remove(self) -> None:
        """The worker stops: its file goes."""
        with self._lock:
            self._removed = True
            self._run_dir.forget(self.name)
