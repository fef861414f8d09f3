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

import ctypes
import errno
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

from nexq.core import telemetry

log = logging.getLogger("nexq")

# sync_file_range(2)'s flag that starts writeback of a range and returns without waiting.
_SYNC_FILE_RANGE_WRITE = 2
# How much of a blob may be written before its writeback is started.
WRITEBACK_BYTES = 8 * 1024 * 1024


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


def _sync_file_range() -> Any:
    # Python has no binding for it (Linux only); ctypes releases the GIL around the call.
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


_START_WRITEBACK = _sync_file_range()
_refusal_told = False


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Ask the kernel to start writing ``length`` bytes of ``fd`` from ``offset`` to disk now.

    A hint, not a flush: nothing is durable until :meth:`Durability.sync_file`, which then
    finds most of a large blob already written instead of a gigabyte of dirty pages (1 GiB
    PUT 240 -> 300 MB/s; docs/performance.md). The disk also stays busy for less time at
    once, which other writers' flushes wait behind. Whether the kernel took it; where the
    call is missing, nothing is done. The first refusal is logged with its reason (once per
    process: a file system that refuses it refuses every blob), since a refused hint costs
    large PUTs their speed and nothing else shows it.
    """
    global _refusal_told
    if _START_WRITEBACK is None:
        return False
    if _START_WRITEBACK(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0:
        return True
    if not _refusal_told:
        _refusal_told = True
        code = ctypes.get_errno()
        log.warning(
            "the kernel refused to start a blob file's writeback (sync_file_range: %s): "
            "large PUTs will wait for all their bytes at commit",
            errno.errorcode.get(code, str(code)),
        )
    return False
