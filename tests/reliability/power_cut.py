"""A volatile page cache for a Nexq data dir: what a power cut keeps of the blob files.

:class:`PageCache` is a :class:`nexq.core.durability.Durability`. It does not flush anything
itself: it records what each call covers when the call starts, and publishes it as
*durable* when the call returns. ``sync_file`` covers the bytes of one inode (its size
then); ``sync_dir`` covers the names in one directory (each name and the inode it names
then). Nothing else that was written is durable: a name created or renamed into a
directory since that directory's last call is lost (a rename out of it too), a name
removed since comes back, and a file holds only the bytes its last ``sync_file`` covered
(none if it had none). That is the worst a power cut may do to a POSIX file system whose
only promises are ``fdatasync`` and ``fsync`` of a directory (the page cache may keep less
than that only if the disk lies, which no test on this machine can model).

Blob files are written once, from the start, and never rewritten, so the first ``size``
bytes of an inode are the bytes it held when its size was recorded: a hard link to every
inode seen (in a shadow directory on the same file system) keeps them readable after
Nexq renames or unlinks the file, and keeps the inode number from being reused.

:meth:`PageCache.restore` writes what a power cut would leave into another directory (the
"crash image"); with ``torn`` it also lets a random part of what was not made durable
through, cut at random lengths, as a real cache that was being written back may.
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass
from pathlib import Path

from nexq.core.durability import Durability

# The parts of the data dir whose durability goes through the port; meta.db and its WAL
# are SQLite's (trusted, see docs/reliability.md), the key and tiers files are written once.
TREES = ("tmp", "blobs")  # tmp first: a file renamed during a scan is seen at least once


@dataclass(frozen=True, slots=True)
class FileState:
    """A name as recorded: the inode it names and how many of its bytes were written."""

    inode: int
    size: int


Tree = dict[str, FileState]  # path relative to the data dir → state


class PageCache:
    """Records durable calls on ``root``; everything else written there is volatile."""

    def __init__(self, root: Path, shadow: Path, inner: Durability | None = None) -> None:
        self.root = root
        self._shadow = shadow
        self._shadow.mkdir(parents=True, exist_ok=True)
        self._inner = inner
        self._lock = threading.Lock()
        self.calls = 0
        # What exists when the model starts (the fan-out directories) counts as durable.
        start = self._scan()
        self._names: dict[str, dict[str, int]] = {}  # directory → its durable names → inode
        self._sizes: dict[int, int] = {}  # inode → its durable bytes
        for relative, state in start.items():
            directory, name = relative.rsplit("/", 1)
            self._names.setdefault(directory, {})[name] = state.inode
            self._sizes[state.inode] = state.size

    def sync_file(self, fd: int) -> None:
        info = os.fstat(fd)
        if not self._pin_fd(fd, info.st_ino):
            return  # unlinked already: no name will ever need its bytes (a late flush)
        if self._inner is not None:
            self._inner.sync_file(fd)
        with self._lock:
            self._sizes[info.st_ino] = max(self._sizes.get(info.st_ino, 0), info.st_size)
            self.calls += 1

    def sync_dir(self, path: Path) -> None:
        try:
            directory = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            raise AssertionError(f"sync_dir({path}) outside the modelled data dir") from None
        seen: Tree = {}
        self._scan_dir(path, directory, seen, recurse=False)
        if self._inner is not None:
            self._inner.sync_dir(path)
        with self._lock:
            self._names[directory] = {
                relative.rsplit("/", 1)[1]: state.inode for relative, state in seen.items()
            }
            self.calls += 1

    def durable(self) -> Tree:
        """What a power cut would leave now, as the finished durable calls say."""
        with self._lock:
            return {
                f"{directory}/{name}": FileState(inode, self._sizes.get(inode, 0))
                for directory, names in self._names.items()
                for name, inode in names.items()
            }

    def restore(self, dest: Path, torn: random.Random | None = None) -> None:
        """Write into ``dest`` the blob files and temporaries a power cut would leave now."""
        image = dict(self.durable())
        if torn is not None:
            self._let_through(image, torn)
        for top in TREES:
            (dest / top).mkdir(parents=True, exist_ok=True)
        for relative, state in image.items():
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            self._copy_prefix(state, target)

    def _let_through(self, image: Tree, rng: random.Random) -> None:
        """Apply about half of what changed since the last durable call, cut at random."""
        now = self._scan()
        for relative, state in now.items():
            if image.get(relative) == state or rng.random() < 0.5:
                continue
            floor = 0  # what was durable of the inode stays, whatever its name
            for old, old_state in list(image.items()):
                if old_state.inode == state.inode:
                    floor = max(floor, old_state.size)
                    del image[old]  # a rename is atomic: one name or the other
            image[relative] = FileState(state.inode, rng.randint(floor, state.size))
        alive = {state.inode for state in now.values()}
        for relative in [r for r, state in image.items() if state.inode not in alive]:
            if rng.random() < 0.5:
                del image[relative]  # an unlink since the last call got through

    def _copy_prefix(self, state: FileState, target: Path) -> None:
        with (
            open(self._shadow / str(state.inode), "rb") as src,
            open(target, "wb") as dst,
        ):
            left = state.size
            while left:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), left)
                if copied == 0:
                    raise AssertionError(f"inode {state.inode} is shorter than recorded")
                left -= copied

    def _scan(self) -> Tree:
        tree: Tree = {}
        for top in TREES:
            self._scan_dir(self.root / top, top, tree)
        return tree

    def _scan_dir(self, directory: Path, relative: str, tree: Tree, recurse: bool = True) -> None:
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return
        for entry in entries:
            name = f"{relative}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if recurse:
                    self._scan_dir(Path(entry.path), name, tree)
                continue
            state = self._pin(entry)
            if state is not None:
                tree[name] = state

    def _pin(self, entry: os.DirEntry[str]) -> FileState | None:
        """Hard-link the entry's inode into the shadow directory; None if it went meanwhile
        (renamed or unlinked while the scan ran: a change the call may or may not cover)."""
        pinned = self._shadow / str(entry.inode())
        try:
            os.link(entry.path, pinned)
        except FileExistsError:
            pass
        except FileNotFoundError:
            return None
        info = os.stat(pinned)
        if info.st_ino != entry.inode():
            raise AssertionError(f"shadow link {pinned} names another inode")
        return FileState(info.st_ino, info.st_size)

    def _pin_fd(self, fd: int, inode: int) -> bool:
        """Hard-link the open file's inode into the shadow directory (it may have no name
        of its own by the time its bytes are read back). Its writer is not renaming it
        while it asks for the flush, so the name the kernel gives for ``fd`` is current."""
        pinned = self._shadow / str(inode)
        try:
            os.link(os.readlink(f"/proc/self/fd/{fd}"), pinned)
        except FileExistsError:
            pass
        except FileNotFoundError:
            return False  # its inode number may be reused: it must not be recorded
        if os.stat(pinned).st_ino != inode:
            raise AssertionError(f"shadow link {pinned} names another inode")
        return True
