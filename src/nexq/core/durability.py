"""The durable calls Nexq makes for its blob files, behind one small port.

Every flush that makes blob files durable goes through :class:`Durability`, so a test can
record the calls and model what a power cut keeps: a file's bytes written after the last
``sync_file`` of it are gone, and a name made (or removed) after the last ``sync_dir`` of
its directory is undone (tests/reliability/test_power_cut.py). SQLite makes its own files
durable (WAL, ``synchronous=FULL``) and is not behind this port.

Each blob writer flushes its own file and the directory entry that names it, before the
row that names it is committed. The calls are per file, not one ``syncfs`` per group
commit: ``syncfs`` also flushes every dirty page of the whole file system, other programs'
included, and a gigabyte or two left unflushed by a neighbour stalled small writes behind
it for up to 0.9 s (docs/performance.md). Concurrent writers' flushes still share the file
system's journal commits.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol

from nexq.core import telemetry


class Durability(Protocol):
    """Makes a file's bytes, and a directory's entries, durable."""

    def sync_file(self, fd: int) -> None:
        """Return once the bytes written to the open file ``fd`` (and its size) are
        durable: they survive a power cut. OSError if they may not be."""

    def sync_dir(self, path: Path) -> None:
        """Return once the entries of the directory ``path`` (files created, renamed into
        or removed from it) are durable; OSError if they may not be."""


class FileSync:
    """:class:`Durability` by ``fdatasync(2)`` of the file and ``fsync(2)`` of its
    directory, each covering only what Nexq wrote."""

    def sync_file(self, fd: int) -> None:
        started = time.perf_counter()
        os.fdatasync(fd)
        telemetry.synced(time.perf_counter() - started)

    def sync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
