"""A backup kept in a folder (``nexq admin backup --to DIR``, ``nexq admin restore --from
DIR``): the layout of :mod:`nexq.cli.backup_format`, one file per file, flushed before the
manifest is written."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from nexq.cli.backup_format import (
    BackupRefused,
    Pace,
    copy_file,
    emptied_on_failure,
    file_digest,
    sync_dir,
    write_durably,
)


class FolderDestination:
    """A new or empty folder, on another disk than the data dir."""

    def __init__(self, target: Path) -> None:
        self.where = str(target)
        self.discarded = f"{target} was emptied"
        self._target = target
        self._folders: set[Path] = set()
        self._lock = threading.Lock()

    def refuse_unless_fresh(self, source: Path) -> None:
        """BackupRefused unless the folder is new or empty, and outside the data dir."""
        target = self._target
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise BackupRefused(f"{target} is not an empty folder: back up into a new one")
        if target.resolve().is_relative_to(source.resolve()):
            raise BackupRefused(f"{target} is inside the data dir {source}: back up elsewhere")

    def scratch(self) -> Path:
        """The folder itself: the snapshot is made where it stays."""
        return self._target

    @contextmanager
    def discarded_on_failure(self) -> Iterator[None]:
        """Make the folder; empty it again if the backup fails."""
        with emptied_on_failure(self._target):
            yield

    def put(self, name: str, file: BinaryIO, pace: Pace | None = None) -> tuple[int, str]:
        """Copy ``file`` into the folder as ``name``."""
        destination = self._target / PurePosixPath(name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        made = copy_file(file, destination, pace)
        with self._lock:
            self._folders.add(destination.parent)
        return made

    def put_text(self, name: str, text: str) -> str:
        """Write ``text`` as ``name``, whole or not at all."""
        path = self._target / name
        write_durably(path, text)
        return file_digest(path)

    def keep(self, name: str, local: Path) -> tuple[int, str]:
        """The snapshot was made in place: only its SHA-256 is left to read."""
        assert local == self._target / name
        return local.stat().st_size, file_digest(local)

    def seal(self) -> None:
        """Flush every folder a file went into, and theirs up to the backup's, deepest first
        (a file's name is durable once its folder is flushed)."""
        folders = {self._target}
        for folder in self._folders:
            while folder != self._target and folder.is_relative_to(self._target):
                folders.add(folder)
                folder = folder.parent
        for folder in sorted(folders, key=lambda f: -len(f.parts)):
            sync_dir(folder)


class FolderSource:
    """A backup's folder."""

    def __init__(self, folder: Path) -> None:
        self.where = str(folder)
        self._folder = folder

    def read(self, name: str) -> bytes:
        """The whole file ``name``."""
        return (self._folder / name).read_bytes()

    def fetch(self, name: str, target: Path) -> tuple[int, str]:
        """Copy the file ``name`` into ``target``."""
        with open(self._folder / name, "rb") as file:
            return copy_file(file, target)

    def some(self, limit: int) -> list[str]:
        """Up to ``limit`` names in the folder (none if there is no folder)."""
        if not self._folder.is_dir():
            return []
        found = (p for p in self._folder.rglob("*") if not p.is_dir())
        return [p.relative_to(self._folder).as_posix() for p in itertools.islice(found, limit)]
