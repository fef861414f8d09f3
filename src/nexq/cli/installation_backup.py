"""``nexq admin backup``: a consistent copy of an embedded installation (SQLite and blob
files), taken while the server runs (docs/operations.md, "Backing up an installation").

Consistent means: the metadata as of one instant, and every blob file that metadata names.
Blob files never change once committed, and a row names a file only once the file is
durable, so what can go wrong is a file named by the snapshot being deleted (its object
overwritten or deleted, garbage collected) before it is copied. The backup therefore holds
each blob root (``storage.blobs.hold``) *before* it takes the snapshot: from then on a
deleted blob file is moved aside, and the copy looks there too. A file deleted before the
hold was unreferenced before the snapshot (every delete follows the commit that stops
naming the file), so the snapshot does not name it.

The layout of a backup is in :mod:`nexq.cli.backup_format`; ``nexq admin restore`` reads it.
It goes into a folder (:mod:`nexq.cli.backup_folder`) or under a prefix of an S3 bucket
(:mod:`nexq.cli.backup_s3`): blob files are copied there from where they are held, so an S3
backup needs no local copy but of the metadata snapshot.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, BinaryIO

import typer

from nexq import __version__
from nexq.adminkit import DataDir, emit, fail
from nexq.app import open_blobs
from nexq.cli.backup_folder import FolderDestination
from nexq.cli.backup_format import (
    BLOB_SERVICES,
    CHECKSUMS,
    FORMAT,
    MANIFEST,
    META,
    TIERS,
    BackupRefused,
    Destination,
    Pace,
    blob_folder,
    cluster_refusal,
    each,
    format_checksums,
    known_versions,
    manifest_text,
    summary_size,
    utc,
)
from nexq.cli.backup_s3 import S3Destination, S3Location, is_s3
from nexq.core.crypto import Keyring, decode_key
from nexq.core.db import connect
from nexq.core.keyring import KEYRING_NAME, format_keyring
from nexq.core.sql import Connection, T, Write
from nexq.databases.store import SqlDatabases
from nexq.registry.sqlite import SqlRegistry
from nexq.settings import Settings
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.hold import BackupHold, held_by_other
from nexq.storage.metadata.sqlite import SqliteMetadata


def backup(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="A new or empty folder, on another disk than the data dir; or "
            "s3://BUCKET/PREFIX, a prefix that holds nothing yet.",
            show_default=False,
        ),
    ],
    data_dir: DataDir = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="The S3 endpoint of an s3:// target (default: AWS_ENDPOINT_URL, or AWS's). "
            "Credentials come from the AWS chain: AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws.",
            show_default=False,
        ),
    ] = None,
    include_master_key: Annotated[
        bool,
        typer.Option(
            "--include-master-key",
            help="Copy the master keyring into the backup too: the backup must then be "
            "protected like the key itself.",
        ),
    ] = False,
    max_rate: Annotated[
        float | None,
        typer.Option(
            "--max-rate",
            min=0.01,
            help="Read blob files at most this fast (MiB/s), leaving the disk to the server.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Back up an embedded installation while it serves: the metadata as of one instant and
    every blob file it names, each file with its SHA-256, and the tiers file; into a folder
    or an S3 bucket, the manifest last. The master key is NOT copied (unless
    --include-master-key): keep it apart. Restore with `nexq admin restore`."""
    try:
        settings = Settings.from_env(data_dir=data_dir)
    except ValueError as exc:
        fail(str(exc))
    if reason := cluster_refusal(settings):
        fail(reason)
    destination: Destination
    try:
        if is_s3(to):
            destination = S3Destination(S3Location.parse(to), endpoint_url, settings.data_dir)
        elif endpoint_url is not None:
            raise BackupRefused("--endpoint-url is for an s3://BUCKET/PREFIX target")
        else:
            destination = FolderDestination(Path(to).absolute())
        report = _backup(settings, destination, include_master_key, Pace(max_rate))
    except BackupRefused as exc:
        fail(str(exc))
    except (OSError, sqlite3.Error) as exc:
        fail(f"the backup failed, and {destination.discarded}: {exc}")
    if as_json:
        emit(report)
    else:
        _say(report, settings.data_dir)


@dataclass
class _Copied:
    """The blob files of one service copied so far."""

    files: int = 0
    bytes: int = 0
    from_held: int = 0
    missing: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)


def _backup(
    settings: Settings, destination: Destination, include_key: bool, pace: Pace
) -> dict[str, Any]:
    source = settings.data_dir
    if not (source / META).is_file():
        raise BackupRefused(f"{source} holds no embedded installation (no {META})")
    destination.refuse_unless_fresh(source)
    key_source = _key_source(settings) if include_key else None
    stores = {service: _files(settings, service) for service in BLOB_SERVICES}
    if any(held_by_other(store.base) for store in stores.values()):
        raise BackupRefused(f"another nexq admin backup of {source} is running: wait for it")
    started = time.monotonic()
    with destination.discarded_on_failure():
        holds = {service: BackupHold.take(store.base) for service, store in stores.items()}
        try:
            snapshot_at = time.time()
            snapshot = destination.scratch() / META
            _snapshot(source / META, snapshot)
            counts, references = _references(snapshot)
            copied = {
                service: _copy_blobs(
                    stores[service], holds[service], refs, destination, blob_folder(service), pace
                )
                for service, refs in references.items()
            }
        finally:
            held = sum(hold.release() for hold in holds.values())
        missing = [
            f"{blob_folder(service)}/{path}" for service, c in copied.items() for path in c.missing
        ]
        if missing:
            raise BackupRefused(
                f"{len(missing)} blob files that the metadata names are missing from the data "
                f"dir (e.g. {missing[0]}): run `nexq admin fsck`; no backup was written"
            )
        digests = {
            f"{blob_folder(service)}/{path}": digest
            for service, c in copied.items()
            for path, digest in c.digests.items()
        }
        sizes: dict[str, int] = {}  # of the files beside the blob folders
        sizes[META], digests[META] = destination.keep(META, snapshot)
        tiers = settings.tiers_path
        if tiers.is_file():
            with open(tiers, "rb") as file:
                sizes[TIERS], digests[TIERS] = destination.put(TIERS, file)
        if key_source is not None:
            sizes[KEYRING_NAME], digests[KEYRING_NAME] = _copy_key(key_source, destination)
        destination.seal()
        checksums = destination.put_text(CHECKSUMS, format_checksums(digests))
        total = sum(c.bytes for c in copied.values()) + sum(sizes.values())
        manifest = {
            "format": FORMAT,
            "nexq_version": __version__,
            "created_at": utc(snapshot_at),
            "source": str(source.resolve()),
            "schema_versions": known_versions(),
            **counts,
            "blobs": {service: c.files for service, c in copied.items()},
            "bytes": total,
            "files": {META: digests[META], CHECKSUMS: checksums},
            "master_key_included": key_source is not None,
            "tiers_included": TIERS in digests,
        }
        # Last: a backup without it is one that did not finish.
        destination.put_text(MANIFEST, manifest_text(manifest))
    return {
        "path": destination.where,
        "created_at": manifest["created_at"],
        **counts,
        "blobs": sum(c.files for c in copied.values()),
        "bytes": total,
        "held": held,
        "copied_from_held": sum(c.from_held for c in copied.values()),
        "seconds": round(time.monotonic() - started, 2),
        "master_key": {
            "included": key_source is not None,
            "kept_at": _key_place(settings),
        },
        "tiers": TIERS in digests,
    }


def _files(settings: Settings, service: str) -> FileBlobStore:
    store = open_blobs(replace(settings, blobs_url=None), service)
    assert isinstance(store, FileBlobStore)
    return store


# --- the metadata ---------------------------------------------------------------------------


def _snapshot(source: Path, target: Path) -> None:
    """Copy the live database ``source`` into ``target`` as of one instant."""
    live = connect(source)
    live.execute("PRAGMA query_only=ON")
    try:
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            # In one step (pages=-1): one read transaction, so one instant; in WAL mode the
            # server's writers go on meanwhile.
            live.backup(copy)
            # The copy stands alone: one file, no write-ahead log beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        live.close()
    with open(target, "rb+") as file:
        os.fsync(file.fileno())


class _Snapshot:
    """The backup's copy of the metadata, read-only, as the services' stores read it: they
    say which blob files their rows name."""

    engine = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def reader(self) -> Connection:
        return self._conn

    def write(self, write: Write[T]) -> T:
        raise BackupRefused("a backup's snapshot is read-only")

    def write_later(self, write: Write[Any]) -> None:
        raise BackupRefused("a backup's snapshot is read-only")

    def lease(self, name: str) -> Any:
        raise BackupRefused("a backup's snapshot is read-only")

    def close(self) -> None:
        self._conn.close()


def _references(snapshot: Path) -> tuple[dict[str, int], dict[str, set[str]]]:
    """How many objects and managed databases the snapshot holds, and the blob files each
    service's rows name.

    Object Storage's pending garbage is left out: no object needs it, and the restored
    server's garbage collection forgets a path whose file is gone."""
    db = _Snapshot(sqlite3.connect(f"{snapshot.as_uri()}?mode=ro", uri=True))
    try:
        conn = db.reader()
        found = dict(conn.execute("SELECT owner, version FROM schema_versions").fetchall())
        known = known_versions()
        if found != known:
            raise BackupRefused(
                f"the data dir's tables are at versions {found}, this nexq makes {known}: "
                "back up with the nexq that serves the data dir"
            )
        (objects,) = conn.execute("SELECT count(*) FROM objects").fetchone()
        # Support names its attachments' files in one column of its own table.
        attachments = {str(r[0]) for r in conn.execute("SELECT blob FROM support_attachments")}
        counts = {"objects": int(objects), "databases": len(SqlDatabases(db).live())}
        return counts, {
            "storage": set(SqliteMetadata(db).blob_sizes()),
            "support": attachments,
            "registry": SqlRegistry(db).blob_paths(),
        }
    finally:
        db.close()


# --- the blob files -------------------------------------------------------------------------


def _copy_blobs(
    store: FileBlobStore,
    hold: BackupHold,
    paths: set[str],
    destination: Destination,
    folder: PurePosixPath,
    pace: Pace,
) -> _Copied:
    """Copy the blob files ``paths`` from ``store`` (or from where its hold moved them) into
    ``folder`` of the backup."""
    copied = _Copied()
    lock = threading.Lock()

    def copy(path: str) -> None:
        source = _open(store, hold, path)
        if source is None:
            with lock:
                copied.missing.append(path)
            return
        file, from_held = source
        with file:
            size, digest = destination.put(str(folder / path), file, pace)
        with lock:
            copied.files += 1
            copied.bytes += size
            copied.from_held += from_held
            copied.digests[path] = digest

    each(sorted(paths), copy)
    return copied


def _open(store: FileBlobStore, hold: BackupHold, path: str) -> tuple[BinaryIO, bool] | None:
    """The blob file ``path`` opened, and whether it was found moved aside; None if gone.

    Once open, a file reads whole even if it is moved or deleted meanwhile. Files move only
    from the blob tree to the held folder, so one not in the tree is in the folder."""
    with contextlib.suppress(FileNotFoundError):
        return open(store.root / path, "rb"), False
    with contextlib.suppress(FileNotFoundError):
        return open(hold.held(path), "rb"), True
    return None


# --- the master key -------------------------------------------------------------------------


def _key_source(settings: Settings) -> Path | Keyring:
    """The keyring --include-master-key copies: its file, or the environment's keys."""
    if settings.master_key:
        previous = (settings.master_key_previous or "").split(",")
        try:
            return Keyring(
                decode_key(settings.master_key),
                tuple(decode_key(k) for k in previous if k.strip()),
            )
        except ValueError as exc:
            raise BackupRefused(f"NEXQ_MASTER_KEY / NEXQ_MASTER_KEY_PREVIOUS: {exc}") from None
    path = settings.master_key_file or settings.data_dir / KEYRING_NAME
    if not path.is_file():
        raise BackupRefused(f"--include-master-key: there is no master keyring at {path}")
    return path


def _copy_key(source: Path | Keyring, destination: Destination) -> tuple[int, str]:
    if isinstance(source, Keyring):
        text = format_keyring(source)
        return len(text.encode()), destination.put_text(KEYRING_NAME, text)
    with open(source, "rb") as file:
        return destination.put(KEYRING_NAME, file)


def _key_place(settings: Settings) -> str:
    """Where the installation's master key is, as the operator must find it."""
    if settings.master_key:
        return "NEXQ_MASTER_KEY"
    return str((settings.master_key_file or settings.data_dir / KEYRING_NAME).resolve())


# --- what the operator is told --------------------------------------------------------------


def _say(report: dict[str, Any], data_dir: Path) -> None:
    typer.echo(
        f"Backed up {data_dir.resolve()} into {report['path']} in {report['seconds']} s: the "
        f"metadata as of {report['created_at']} ({report['objects']} objects), "
        f"{report['blobs']} blob files, {summary_size(report['bytes'])} in all"
        + (", and the tiers file." if report["tiers"] else ".")
    )
    if report["held"]:
        typer.echo(
            f"{report['held']} blob files deleted during the backup were kept aside for it "
            f"({report['copied_from_held']} of them were needed) and are now removed."
        )
    if report["databases"]:
        typer.echo(
            f"{report['databases']} managed databases: their rows are in the backup, their "
            "clusters are not (their own backups are objects of it); see docs/operations.md."
        )
    if report["master_key"]["included"]:
        typer.echo(
            "The master key is IN this backup (master.key): protect the backup like the key "
            "itself, since whoever reads it can read every object and S3 secret."
        )
    else:
        typer.echo(
            f"The master key is NOT in the backup. It is {report['master_key']['kept_at']}: "
            "keep a copy of it apart from the backups; without it no object or S3 secret of "
            "this backup can be read."
        )
    if not is_s3(report["path"]) and os.stat(report["path"]).st_dev == os.stat(data_dir).st_dev:
        typer.echo(
            f"Note: {report['path']} is on the same file system as the data dir: a failure of "
            "that disk loses both. Copy the folder elsewhere, or back up into a bucket "
            "(--to s3://BUCKET/PREFIX).",
            err=True,
        )
