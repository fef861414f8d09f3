"""What ``nexq admin backup`` writes and ``nexq admin restore`` reads (docs/operations.md,
"Backing up an installation").

A backup is a folder laid out like a data directory::

    meta.db                 the metadata, as of one instant (SQLite's online backup)
    blobs/ab/ab12…          Object Storage's blob files that meta.db names, as stored (sealed)
    support/blobs/…         support attachments' blob files
    registry/blobs/…        container registry layers' blob files
    tiers.toml              the operator's tiers, if the installation had the file
    master.key              only with --include-master-key
    SHA256SUMS              the SHA-256 of every file above (``sha256sum -c`` reads it)
    nexq-backup.json        the manifest, written last: a backup without it is incomplete

The same layout is kept in a folder (:mod:`nexq.cli.backup_folder`) or as objects under a
prefix of an S3 bucket (:mod:`nexq.cli.backup_s3`): a ``Destination`` to back up into, a
``Source`` to restore from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from nexq.app import SCHEMAS
from nexq.cli import parallel
from nexq.settings import Settings

MANIFEST = "nexq-backup.json"
CHECKSUMS = "SHA256SUMS"
FORMAT = "nexq-backup/1"
META = "meta.db"
TIERS = "tiers.toml"
# Each service's blob root, as app.open_blobs lays them out in a data dir.
BLOB_SERVICES = ("storage", "support", "registry")
CHUNK = 1024 * 1024
IN_FLIGHT = 4  # files copied at once: their flushes overlap


class BackupRefused(Exception):
    """What stops a backup or a restore, said to the operator as is."""


class Readable(Protocol):
    """A file to copy from, in chunks: a file on disk, or an S3 object's body."""

    def read(self, size: int = -1, /) -> bytes:
        """At most ``size`` bytes; b"" at the end."""
        ...

    def close(self) -> None:
        """Done reading."""
        ...


class Destination(Protocol):
    """Where ``nexq admin backup`` puts the backup's files (a name is a path of the layout
    above, ``/``-separated)."""

    where: str  # as the operator names it: a folder, or s3://BUCKET/PREFIX
    discarded: str  # what was done with a failed backup's files, said after "and"

    def refuse_unless_fresh(self, source: Path) -> None:
        """BackupRefused if this destination holds a backup (or anything) already."""
        ...

    def scratch(self) -> Path:
        """A local folder on which the metadata snapshot is made."""
        ...

    def discarded_on_failure(self) -> AbstractContextManager[None]:
        """Run the backup; if it fails, remove what it wrote and set ``discarded``."""
        ...

    def put(self, name: str, file: BinaryIO, pace: Pace | None = None) -> tuple[int, str]:
        """Copy ``file`` (a file on disk) into the backup as ``name``: (size, sha256 hex)."""
        ...

    def put_text(self, name: str, text: str) -> str:
        """Write ``text`` whole as ``name``; its SHA-256 hex."""
        ...

    def keep(self, name: str, local: Path) -> tuple[int, str]:
        """Make ``local``, a file in the scratch folder, the backup's ``name``."""
        ...

    def seal(self) -> None:
        """Make every file put so far durable."""
        ...


class Source(Protocol):
    """Where ``nexq admin restore`` reads a backup's files."""

    where: str

    def read(self, name: str) -> bytes:
        """The whole file ``name``; FileNotFoundError if the backup has none."""
        ...

    def fetch(self, name: str, target: Path) -> tuple[int, str]:
        """Copy the file ``name`` into the new file ``target`` (0600) and flush it: (size,
        sha256 hex) of what was written; FileNotFoundError if the backup has no ``name``."""
        ...

    def some(self, limit: int) -> list[str]:
        """Up to ``limit`` names of what is there (said when there is no manifest)."""
        ...


def cluster_refusal(settings: Settings) -> str | None:
    """Why an installation on the cluster engines is not backed up by Nexq, or None."""
    if not (settings.database_url or settings.blobs_url):
        return None
    where = []
    tools = []
    if settings.database_url:
        where.append("its metadata in PostgreSQL")
        tools.append("pgBackRest")
    if settings.blobs_url:
        where.append("its bytes in Ceph")
        tools.append("Ceph snapshots")
    return (
        f"this installation keeps {' and '.join(where)}: back those up with their own tools "
        f"({', '.join(tools)}); see docs/operations.md"
    )


def known_versions() -> dict[str, int]:
    """The schema version of each table owner that this Nexq makes and reads."""
    return {schema.owner: len(schema.migrations) for schema in SCHEMAS}


def blob_folder(service: str) -> PurePosixPath:
    """Where ``service``'s blob files are, in a data dir and in a backup."""
    return PurePosixPath("blobs") if service == "storage" else PurePosixPath(service, "blobs")


class Pace:
    """Keeps copying at or under a rate, so that a backup leaves the disk to the server."""

    def __init__(self, mib_per_second: float | None) -> None:
        self._rate = mib_per_second * 2**20 if mib_per_second else None
        self._started = time.monotonic()
        self._sent = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> None:
        """Account for ``size`` bytes just copied; waits while ahead of the rate."""
        if self._rate is None:
            return
        with self._lock:
            self._sent += size
            due = self._started + self._sent / self._rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def copy_file(source: Readable, target: Path, pace: Pace | None = None) -> tuple[int, str]:
    """Copy ``source`` into a new file ``target`` (0600) and flush it; (size, sha256 hex) of
    what was read. The bytes pass through Python once: hashed and written."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            size += len(chunk)
            if pace is not None:
                pace.take(len(chunk))
        os.fsync(fd)
    finally:
        os.close(fd)
    return size, digest.hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 (hex) of the file ``path``."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def sync_dir(path: Path) -> None:
    """Make the entries of the directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def format_checksums(digests: dict[str, str]) -> str:
    """``SHA256SUMS``: one ``<sha256>  <path>`` line per file, as ``sha256sum`` writes it."""
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(digests.items()))


def parse_checksums(text: str) -> dict[str, str]:
    """The files ``SHA256SUMS`` lists, with their SHA-256; BackupRefused naming a line that is
    not one, or a path that would leave the folder."""
    digests: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        digest, _, path = line.partition("  ")
        parts = PurePosixPath(path).parts
        if (
            len(digest) != 64
            or not all(c in "0123456789abcdef" for c in digest)
            or not parts
            or path.startswith("/")
            or ".." in parts
        ):
            raise BackupRefused(f"{CHECKSUMS} line {number} is not '<sha256>  <relative path>'")
        digests[path] = digest
    return digests


def write_durably(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file, flushed, renamed, directory
    flushed."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    sync_dir(path.parent)


@contextlib.contextmanager
def emptied_on_failure(target: Path) -> Iterator[None]:
    """Make ``target`` (new or empty); if what runs inside fails, leave it empty again (a
    half-written backup or data dir is of no use, and in the way of the next attempt)."""
    made = not target.exists()
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        yield
    except BaseException:
        if made:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for entry in target.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


def each(items: Iterable[str], work: Callable[[str], None]) -> None:
    """``work(item)`` for every file, IN_FLIGHT at a time; the first error stops the rest."""
    parallel.each(items, work, IN_FLIGHT, "nexq-backup")


def utc(seconds: float) -> str:
    """``seconds`` since the epoch as an ISO 8601 UTC time, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def summary_size(size: int) -> str:
    """A byte count as an operator reads it."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def manifest_text(manifest: dict[str, Any]) -> str:
    """The manifest as written: JSON, keys sorted."""
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"
