"""A volatile page cache for a Nexq data dir: what a power cut keeps of the blob files.

:class:`PageCache` is a :class:`nexq.core.durability.Durability`. It does not flush anything
itself: it records, at each ``sync_tree`` call, the tree of blob files and temporaries as
it is when the call starts (each name, the inode it names and that inode's size), and
publishes that record as *durable* when the call returns. Between two calls, nothing that
was written is durable: a file created or renamed since is lost, a file grown since is cut
back, a file unlinked since comes back. That is the worst a power cut may do to a file
system whose only promise is ``syncfs`` (and the page cache may keep less than that only if
the disk lies, which no test on this machine can model).

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
        self._durable: Tree = self._scan()

    def sync_tree(self, path: Path) -> None:
        if path.resolve() != self.root.resolve():
            # syncfs covers the whole file system, but the model knows only this tree.
            raise AssertionError(f"sync_tree({path}) outside the modelled data dir {self.root}")
        seen = self._scan()  # what was written before the call is what the call covers
        if self._inner is not None:
            self._inner.sync_tree(path)
        with self._lock:
            self._durable = seen
            self.calls += 1

    def durable(self) -> Tree:
        """The tree as the last finished durable call left it (never changed afterwards)."""
        with self._lock:
            return self._durable

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

    def _scan_dir(self, directory: Path, relative: str, tree: Tree) -> None:
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return
        for entry in entries:
            name = f"{relative}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
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
