"""What ``nexq admin status`` says a data dir takes on disk, by what it holds (real files)."""

from __future__ import annotations

import os
from pathlib import Path

from nexq.cli.data_usage import usage
from nexq.settings import Settings


def _file(path: Path, size: int) -> int:
    """A file of ``size`` bytes actually written; the blocks it takes on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        file.write(os.urandom(size))
        os.fsync(file.fileno())  # its blocks allocated, not just reserved
    return path.stat().st_blocks * 512


def _blocks(path: Path) -> int:
    return path.stat().st_blocks * 512


def test_the_data_dir_by_what_it_holds(tmp_path: Path) -> None:
    root = tmp_path / "data"
    metadata = _file(root / "meta.db", 64_000) + _file(root / "meta.db-wal", 8_000)
    blobs = _file(root / "blobs" / "3f" / "3f9c", 100_000) + _file(
        root / "registry" / "blobs" / "aa" / "aa1", 50_000
    )
    blobs += sum(
        _blocks(root / name)
        for name in ("blobs", "blobs/3f", "registry", "registry/blobs", "registry/blobs/aa")
    )
    other = (
        _file(root / "tiers.toml", 500)
        + _file(root / "run" / "server.json", 200)
        + _blocks(root / "run")
    )
    databases = _file(root / "databases" / "db-1" / "data.img", 30_000)
    databases += _blocks(root / "databases" / "db-1") + _blocks(root / "databases")
    found = usage(Settings(data_dir=root))
    assert found["metadata_bytes"] == metadata
    assert found["blobs_bytes"] == blobs
    assert found["other_bytes"] == other
    assert found["databases_bytes"] == databases
    assert found["total_bytes"] == metadata + blobs + other + databases
    free, whole = found["free_bytes"], found["filesystem_bytes"]
    assert free is not None and whole is not None and 0 < free <= whole


def test_databases_elsewhere_are_counted_apart_and_engines_elsewhere_are_not_counted(
    tmp_path: Path,
) -> None:
    root, elsewhere = tmp_path / "data", tmp_path / "volumes"
    _file(root / "meta.db", 4_000)
    image = _file(elsewhere / "db-1" / "data.img", 20_000)
    image += _blocks(elsewhere / "db-1") + _blocks(elsewhere)
    found = usage(
        Settings(
            data_dir=root,
            databases_dir=elsewhere,
            database_url="postgresql://nexq@db/nexq",
            blobs_url="rados://nexq",
        )
    )
    assert found["databases_bytes"] == image
    assert found["total_bytes"] == _blocks(root / "meta.db")  # the databases are not inside
    assert found["metadata_bytes"] is None and found["blobs_bytes"] is None
