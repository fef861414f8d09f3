"""How much of the disk a data dir takes, by what it holds (``nexq admin status``)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nexq.settings import Settings

BLOB_FOLDERS = ("blobs", "tmp", "registry", "support")  # each blob store's files and temporaries


def usage(settings: Settings) -> dict[str, int | None]:
    """Bytes on disk (allocated blocks, as ``du`` counts) of the data dir by what they hold,
    and the free space of its file system: ``metadata`` (SQLite's files; None on
    PostgreSQL), ``blobs`` (None on Ceph), ``databases`` (their folder, wherever it is) and
    ``other``. A database's volume is counted by its image file, never through its mount."""
    root = settings.data_dir.resolve()
    databases = settings.databases_root.resolve()
    sizes = {"metadata": 0, "blobs": 0, "databases": 0, "other": 0}
    try:
        names = os.listdir(root)
    except OSError:  # not ours to read
        names = []
    for name in names:
        if root / name == databases:
            continue  # measured below, wherever it is
        sizes[_kind(name)] += _disk_usage(root / name, None)  # a blobs disk mounted here counts
    if databases.is_dir():
        sizes["databases"] = _disk_usage(databases, databases.stat().st_dev)
    outside = not databases.is_relative_to(root)
    filesystem = os.statvfs(root)
    return {
        "metadata_bytes": None if settings.database_url else sizes["metadata"],
        "blobs_bytes": None if settings.blobs_url else sizes["blobs"],
        "databases_bytes": sizes["databases"],
        "other_bytes": sizes["other"],
        "total_bytes": sum(sizes.values()) - (sizes["databases"] if outside else 0),
        "free_bytes": filesystem.f_bavail * filesystem.f_frsize,
        "filesystem_bytes": filesystem.f_blocks * filesystem.f_frsize,
    }


def _kind(name: str) -> str:
    """What an entry at the top of the data dir holds."""
    if name.startswith("meta.db"):
        return "metadata"
    return "blobs" if name in BLOB_FOLDERS else "other"


def _disk_usage(path: Path, device: int | None) -> int:
    """The blocks of ``path`` and everything under it (links not followed), not past the
    file system ``device`` if given."""
    total = 0
    pending = [str(path)]
    while pending:
        current = pending.pop()
        try:
            found = os.lstat(current)
        except OSError:
            continue  # removed while we walked
        total += found.st_blocks * 512
        if not stat.S_ISDIR(found.st_mode):
            continue
        if device is not None and found.st_dev != device:
            continue  # a mounted volume: counted by its image
        try:
            pending.extend(entry.path for entry in os.scandir(current))
        except OSError:
            continue  # unreadable, or removed while we walked
    return total
