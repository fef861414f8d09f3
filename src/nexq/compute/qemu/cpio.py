"""A newc cpio archive writer: the initramfs format the kernel unpacks.

Written here rather than by calling `cpio` because the archive holds device nodes and
root-owned files that an unprivileged `cpio -o` could only copy from a real tree.
"""

from __future__ import annotations

import stat
from typing import Protocol

_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"


class Sink(Protocol):
    """Where the archive goes: a file, or a gzip stream over one."""

    def write(self, data: bytes, /) -> int: ...


class CpioWriter:
    """Appends entries to a newc archive; `close` writes the trailer.

    Parent folders are added on first use, each once, so callers name only what they put.
    """

    def __init__(self, out: Sink) -> None:
        self._out = out
        self._inode = 1
        self._written = 0
        self._folders: set[str] = set()

    def directory(self, path: str, mode: int = 0o755) -> None:
        """Add a directory (once; a later call for the same path is a no-op)."""
        path = path.strip("/")
        if path in self._folders:
            return
        self._parents(path)
        self._folders.add(path)
        self._entry(path, stat.S_IFDIR | mode, b"")

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file."""
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        """Add a symbolic link."""
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        """Add a character device node (the kernel needs /dev/console before devtmpfs)."""
        self._entry(path, stat.S_IFCHR | mode, b"", rdev=(major, minor))

    def close(self) -> None:
        """Write the trailer; the archive is complete after this."""
        self._entry(_TRAILER, 0, b"", nlink=1)
        # Pad the archive to a 512-byte block, as cpio does; the kernel tolerates either.
        self._write(b"\0" * (-self._written % 512))

    def _parents(self, path: str) -> None:
        parent = path.rpartition("/")[0]
        if parent:
            self.directory(parent)

    def _entry(
        self,
        path: str,
        mode: int,
        data: bytes,
        *,
        rdev: tuple[int, int] = (0, 0),
        nlink: int | None = None,
    ) -> None:
        path = path.lstrip("/")
        if path != _TRAILER and not stat.S_ISDIR(mode):
            self._parents(path)
        name = path.encode() + b"\0"
        links = nlink if nlink is not None else (2 if stat.S_ISDIR(mode) else 1)
        fields = (
            self._inode,
            mode,
            0,  # uid: root, whoever builds the image
            0,  # gid
            links,
            0,  # mtime: fixed, so the same inputs give the same archive
            len(data),
            0,  # dev major
            0,  # dev minor
            rdev[0],
            rdev[1],
            len(name),
            0,  # check (unused by newc)
        )
        self._inode += 1
        header = _MAGIC + b"".join(b"%08X" % value for value in fields)
        self._write(header + name)
        self._write(b"\0" * (-self._written % 4))
        self._write(data)
        self._write(b"\0" * (-self._written % 4))

    def _write(self, chunk: bytes) -> None:
        self._out.write(chunk)
        self._written += len(chunk)
