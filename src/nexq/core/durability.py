"""The durable calls Nexq makes for its blob files, behind one small port.

Every flush that makes blob files durable goes through :class:`Durability`, so a test can
record the calls and model what a power cut keeps: a file written after the last durable
call covering it is gone (tests/reliability/test_power_cut.py). SQLite makes its own files
durable (WAL, ``synchronous=FULL``) and is not behind this port.

There is one call, ``sync_tree``, because Nexq makes one kind of durable call: ``syncfs`` of
the data dir's file system, once per group commit, which covers the data and the directory
entries (renames) of every file written before it. A design with per-file ``fdatasync``
would add ``sync_file`` and ``sync_dir`` here (a file's name is durable only once its
directory is synced), and the test model would have to track names and data apart.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Protocol

_libc = ctypes.CDLL(None, use_errno=True)


class Durability(Protocol):
    """Makes what was written under a directory durable."""

    def sync_tree(self, path: Path) -> None:
        """Return once every file, its data and its directory entry, written under ``path``
        before the call is durable (survives a power cut); OSError if it may not be."""


class FileSystemSync:
    """:class:`Durability` by ``syncfs(2)``: one flush of the whole file system holding the
    path, shared by every write of a group commit (so give Nexq its own file system)."""

    def sync_tree(self, path: Path) -> None:
        sync_filesystem(path)


def sync_filesystem(path: Path) -> None:
    """Flush every dirty page and directory entry of the file system holding ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


class NoSync:
    """:class:`Durability` for blobs that are durable once written (a cluster that
    acknowledges a write only when its replicas hold it): nothing left to flush."""

    def sync_tree(self, path: Path) -> None:
        return None
