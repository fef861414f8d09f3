"""The backup hold of a blob root: while ``nexq admin backup`` copies an installation that
keeps serving, blob files are moved aside instead of deleted, so that every blob the
backup's metadata snapshot names is still there to copy, whatever was overwritten, deleted
or collected since (docs/operations.md, "Backing up an installation").

Two names in the root (the folder holding ``blobs/`` and ``tmp/``):

- ``backup.hold``: present while a backup holds the root. The backup keeps a shared
  ``flock`` on it for as long as it copies; the kernel drops it when its holder dies, so a
  file that nobody has locked is a crashed backup's leftover.
- ``backup-held/``: the blob files deleted meanwhile (same file system: a rename).

A delete stats ``backup.hold`` once per call: absent, the files are unlinked as always.
Present, the deleter tries the exclusive lock without waiting. Taken, the hold is a
leftover: it empties ``backup-held/``, removes the hold file and unlinks. Refused, a backup
holds the root (or another process is clearing a leftover): the deleter waits for a shared
lock, and under it, if the hold file is still the one it locked, moves the files aside.
A backup ends by taking the exclusive lock (so no move is in flight), emptying
``backup-held/`` and removing the hold file. So ``backup-held/`` is never non-empty without
a hold file, and a move never lands after the end of the hold it saw.

flock, not ``fcntl`` record locks: a record lock belongs to the process and is dropped when
any of its threads closes any descriptor of the file; a flock belongs to one open file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable
from pathlib import Path

HOLD_FILE = "backup.hold"
HELD_DIR = "backup-held"


def held_name(path: str) -> str:
    """The name in ``backup-held/`` of the blob at ``path`` (``ab/abcd…``) once moved."""
    return path.replace("/", "-")


def remove_blobs(root: Path, blobs: Path, paths: Iterable[str]) -> None:
    """Delete the blob files ``paths`` (under ``blobs``), or move them aside if a backup
    holds ``root``."""
    hold = root / HOLD_FILE
    try:
        os.stat(hold)
    except FileNotFoundError:
        _unlink(blobs, paths)  # no backup: the usual case costs this one failed stat
        return
    try:
        fd = os.open(hold, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        _unlink(blobs, paths)  # the hold ended since the stat
        return
    try:
        if _try_lock(fd, fcntl.LOCK_EX):
            _clear(root, fd)
            _unlink(blobs, paths)
            return
        fcntl.flock(fd, fcntl.LOCK_SH)
        if not _current(hold, fd):
            _unlink(blobs, paths)  # the hold ended (or was cleared) while we waited
            return
        held = root / HELD_DIR
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.rename(blobs / path, held / held_name(path))
    finally:
        os.close(fd)


def clear_leftover(root: Path) -> int:
    """Empty the held folder of a hold whose backup is gone (start-up recovery); how many
    files were removed."""
    try:
        fd = os.open(root / HOLD_FILE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        return _clear(root, fd) if _try_lock(fd, fcntl.LOCK_EX) else 0
    finally:
        os.close(fd)


class BackupHold:
    """A backup's hold of one blob root, from :meth:`take` to :meth:`release`."""

    def __init__(self, root: Path, fd: int) -> None:
        self.root = root
        self._fd = fd

    @classmethod
    def take(cls, root: Path) -> BackupHold:
        """Hold ``root``: from now on its deleted blobs are moved into ``backup-held/``."""
        (root / HELD_DIR).mkdir(parents=True, exist_ok=True)
        hold = root / HOLD_FILE
        while True:
            fd = os.open(hold, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            # Waits only for a process clearing a leftover, which then removes the file:
            # made again, below.
            fcntl.flock(fd, fcntl.LOCK_SH)
            if _current(hold, fd):
                return cls(root, fd)
            os.close(fd)

    def held(self, path: str) -> Path:
        """Where the blob at ``path`` is if it was deleted during the hold."""
        return self.root / HELD_DIR / held_name(path)

    def release(self) -> int:
        """End the hold: the blobs moved aside are removed; how many there were."""
        try:
            # Waits for deleters moving files under their shared lock (and for another
            # backup of the same root to end).
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            if not _current(self.root / HOLD_FILE, self._fd):
                return 0  # another backup of this root ended first and cleared it
            return _clear(self.root, self._fd)
        finally:
            os.close(self._fd)


def held_by_other(root: Path) -> bool:
    """Whether a live backup holds ``root`` (its shared lock refuses an exclusive one)."""
    try:
        fd = os.open(root / HOLD_FILE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        return not _try_lock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def _clear(root: Path, fd: int) -> int:
    """Under the exclusive lock on ``fd``: empty the held folder, then remove the hold file
    (in this order: a crash between leaves a hold file, which the next delete clears)."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(root / HELD_DIR):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    if _current(root / HOLD_FILE, fd):
        os.unlink(root / HOLD_FILE)
    return removed


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _current(hold: Path, fd: int) -> bool:
    """Whether ``fd`` is the file named ``hold`` now (not one removed since it was opened)."""
    try:
        return os.stat(hold).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _unlink(blobs: Path, paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(blobs / path)
