"""``nexq admin move``: copy an embedded installation (SQLite and blob files in the data dir)
into the cluster engines, PostgreSQL and (with ``--blobs``) Ceph, verified, so that nodes
can serve it (docs/scale-out.md, "Moving an embedded installation").

The move is offline. The embedded server's main process holds the data directory's lease
(:class:`InUse`) for its whole life, and the move holds it while it runs: a move refuses to
start while a server runs, and a server while a move runs.

Steps: the database is migrated and must hold no data. Each blob store's committed blobs
(Object Storage's and Support's attachments) are copied under their own paths, so that the
metadata naming them moves unchanged, and read back: size and sha256 against the file's.
Then every table's rows are copied in one PostgreSQL transaction, counted against the
source's, and committed. A failure leaves the database empty; blobs already copied are
replaced by the next attempt (or, unreferenced, removed by a node's start-up recovery an
hour later).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from nexq.adminkit import DataDir, emit, fail
from nexq.app import SCHEMAS, open_blobs, open_database
from nexq.cli import parallel
from nexq.core import sql
from nexq.core.db import Database, FileLease
from nexq.core.keyring import KEYRING_NAME
from nexq.settings import Settings
from nexq.storage.blobs.filesystem import FileBlobStore
from nexq.storage.blobs.rados import RadosBlobStore
from nexq.storage.blobs.sealed import plain_sizes
from nexq.storage.metadata.sqlite import SqliteMetadata

if TYPE_CHECKING:
    import psycopg

# The lease an embedded installation's server holds while it runs, in the leases file that
# core.db.Database keeps beside meta.db.
IN_USE = "nexq serve"
LEASES_FILE = "meta.db-leases"
# What the migrations themselves put in a new database: replaced by the source's rows (the
# kernel's auth generation), not counted as data already there.
SEEDED = frozenset({"generations"})
BATCH = 1000  # rows per insert batch
CHUNK = 1024 * 1024  # bytes per read of a blob
IN_FLIGHT = 4  # blobs copied at once (each writer keeps a few stripes in flight too)
PROGRESS_EVERY = 10.0  # seconds between progress lines on stderr


class InUse:
    """The data directory's embedded installation in use by one process: a server's main
    process, for its whole life, or a move. A record lock on one byte of the leases file
    (:class:`nexq.core.db.FileLease`), which the kernel drops when its holder dies, and also
    when the holder closes *any* descriptor of that file (closing a ``Database`` does): take
    it again after that."""

    def __init__(self, data_dir: Path) -> None:
        self._fd = os.open(data_dir / LEASES_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def take(self) -> bool:
        """Whether this process holds it now (taken if nobody did)."""
        return FileLease(self._fd, IN_USE).held()

    def close(self) -> None:
        """Give it up."""
        os.close(self._fd)


class MoveRefused(Exception):
    """What stops the move, said to the operator as is."""


@dataclass
class Copied:
    """One blob store's part of the move."""

    blobs: int = 0
    referenced: int = 0
    bytes: int = 0


def move(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="postgresql://… URL of a new database: migrated here, it must hold no data. "
            "Never printed.",
            show_default=False,
        ),
    ],
    blobs: Annotated[
        str | None,
        typer.Option(
            "--blobs",
            help="rados://POOL?conf=…&id=… URL: object bytes and attachments are copied to "
            "Ceph. Without it they stay as files in the data dir (one node on PostgreSQL).",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Copy an embedded installation (SQLite and blob files in the data dir) into PostgreSQL
    and Ceph, verified, so that several nodes can serve it. OFFLINE: stop the server first
    (the move refuses while it runs, and it cannot start during the move); nothing may change
    the data dir meanwhile, and no node may run on the engines until the move ends. The data
    dir keeps everything it held.

    Prints {"tables": {table: rows}, "blobs": {"storage": n, "support": m}, "referenced",
    "bytes", "verified", "seconds", "master_key", "tiers_file"}: every row counted in the
    database, every blob read back with its size and sha256. Then start the nodes with
    NEXQ_DATABASE_URL, NEXQ_BLOBS_URL and the SAME master key: "master_key" says where it is
    (copy that keyring to each node and set NEXQ_MASTER_KEY_FILE to it, or keep
    NEXQ_MASTER_KEY); without it no S3 secret opens. Give them the same tiers too
    (NEXQ_TIERS_FILE, a copy of "tiers_file")."""
    try:
        target = Settings.from_env(data_dir=data_dir, database_url=to, blobs_url=blobs)
    except ValueError as exc:
        fail(str(exc))
    # The source is the data dir's own engines, whatever the environment names.
    source = replace(target, database_url=None, blobs_url=None)
    if not (source.data_dir / "meta.db").is_file():
        fail(f"{source.data_dir} holds no embedded installation (no meta.db)")
    in_use = InUse(source.data_dir)
    try:
        if not in_use.take():
            fail(
                f"a server is running on {source.data_dir}: stop the server first (the move "
                "is offline)"
            )
        report = _move(source, target)
        # The old copy stays, but serving it again would be serving stale data: a file
        # records the move, and serve refuses the data dir while it is there.
        _write_marker(source.data_dir, report)
    except MoveRefused as exc:
        fail(str(exc))
    except sql.postgresql_errors() as exc:
        fail(f"the database refused the move: {_hidden(str(exc), to)}")
    except (OSError, ValueError) as exc:
        fail(_hidden(str(exc), to))
    finally:
        in_use.close()
    emit(report)


MARKER = "MOVED"


def moved(data_dir: Path) -> str | None:
    """Why ``nexq serve`` must not serve this data dir (it was moved), or None."""
    marker = data_dir / MARKER
    if not marker.exists():
        return None
    return (
        f"{data_dir} was copied to PostgreSQL by nexq admin move ({marker.read_text().strip()}): "
        "start the nodes with NEXQ_DATABASE_URL (docs/scale-out.md); to serve this old, "
        f"stale copy instead, delete {marker}"
    )


def _write_marker(data_dir: Path, report: dict[str, Any]) -> None:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    where = "and RADOS" if report.get("blobs_in") == "rados" else "with the blobs left here"
    (data_dir / MARKER).write_text(f"moved at {when}, {where}\n")


def _move(source: Settings, target: Settings) -> dict[str, Any]:
    from nexq.core import postgres  # psycopg: only the commands that reach PostgreSQL load it

    url = target.database_url
    assert url is not None
    started = time.monotonic()
    db = open_database(source)  # SQLite (migrated as it opens, as for any admin command)
    assert isinstance(db, Database)
    try:
        reader = db.reader()
        tables = _tables(reader)
        with postgres.connect(url) as pg:
            _refuse_data(pg, tables)  # before migrating: a refused move changes nothing
        postgres.migrate(url, SCHEMAS)
        with postgres.connect(url) as pg:
            _check_columns(reader, pg, tables)
        copied = {
            service: _copy_blobs(source, target, service, references)
            for service, references in _references(db).items()
        }
        rows = _copy_tables(reader, url, tables)
    finally:
        db.close()
    return {
        "tables": rows,
        "blobs": {service: c.blobs for service, c in copied.items()},
        "referenced": {service: c.referenced for service, c in copied.items()},
        "bytes": sum(c.bytes for c in copied.values()),
        "blobs_in": "rados" if target.blobs_url else "data dir",
        "verified": True,
        "seconds": round(time.monotonic() - started, 2),
        "master_key": _master_key(source),
        "tiers_file": str(source.tiers_path.resolve()),
    }


# --- tables ---------------------------------------------------------------------------------


def _tables(conn: sqlite3.Connection) -> list[str]:
    """The source's tables in creation order, each after the tables it references."""
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite^_%' ESCAPE '^' AND name != 'schema_versions' "
            "ORDER BY rowid"
        )
    ]
    # Creation order is foreign-key safe, unless a migration rebuilt a table after others
    # came to reference it: those go first.
    references = {
        name: {str(row[2]) for row in conn.execute(f"PRAGMA foreign_key_list({_quoted(name)})")}
        for name in names
    }
    ordered: list[str] = []

    def place(name: str, seen: frozenset[str]) -> None:
        if name in ordered:
            return
        if name in seen:
            raise MoveRefused(f"the tables {', '.join(sorted(seen))} reference each other")
        for other in names:
            if other in references[name] and other != name:
                place(other, seen | {name})
        ordered.append(name)

    for name in names:
        place(name, frozenset())
    return ordered


def _quoted(identifier: str) -> str:
    """A table's or column's name as both engines read it."""
    return '"' + identifier.replace('"', '""') + '"'


def _count(table: str) -> str:
    return f"SELECT count(*) FROM {_quoted(table)}"  # noqa: S608 - a quoted identifier


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({_quoted(table)})")]


def _check_columns(
    conn: sqlite3.Connection, pg: psycopg.Connection[Any], tables: Sequence[str]
) -> None:
    """Both databases have every table with the same columns (both are at this version)."""
    for table in tables:
        found = pg.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        ).fetchall()
        mine = set(_columns(conn, table))
        theirs = {str(row[0]) for row in found}
        if mine != theirs:
            raise MoveRefused(
                f"the table {table} differs between the data dir ({', '.join(sorted(mine))}) "
                f"and the database ({', '.join(sorted(theirs)) or 'missing'})"
            )


def _refuse_data(pg: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """Refuse a database that holds rows other than those its migrations made."""
    existing = {
        str(row[0])
        for row in pg.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    held = {}
    for table in tables:
        if table in SEEDED or table not in existing:
            continue
        row = pg.execute(_count(table)).fetchone()
        if row and row[0]:
            held[table] = int(row[0])
    if held:
        what = ", ".join(f"{count} {table}" for table, count in held.items())
        raise MoveRefused(
            f"the database already holds {what}: move into a new, empty database "
            "(the move changed nothing)"
        )


def _copy_tables(conn: sqlite3.Connection, url: str, tables: Sequence[str]) -> dict[str, int]:
    """Every table's rows in one PostgreSQL transaction, each table's count checked."""
    from nexq.core import postgres

    counts: dict[str, int] = {}
    with postgres.connect(url) as pg, pg.transaction():
        # No node commits meanwhile (none should run), and a second move waits for this one,
        # then finds the database full.
        pg.execute(postgres.statement("SELECT pg_advisory_xact_lock(?)"), (postgres.WRITE_LOCK,))
        _refuse_data(pg, tables)
        conn.execute("BEGIN")  # one snapshot of the source for every table
        try:
            for table in tables:
                counts[table] = _copy_table(conn, pg, table)
        finally:
            conn.execute("COMMIT")
    return counts


def _copy_table(conn: sqlite3.Connection, pg: psycopg.Connection[Any], table: str) -> int:
    from nexq.core import postgres

    columns = _columns(conn, table)
    names = ", ".join(_quoted(column) for column in columns)
    marks = ", ".join("?" for _ in columns)
    # Identifiers of the source's own schema, quoted; the values go as parameters.
    insert = postgres.statement(f"INSERT INTO {_quoted(table)} ({names}) VALUES ({marks})")  # noqa: S608
    if table in SEEDED:
        # The migration's rows: the source's replace them.
        pg.execute(f"DELETE FROM {_quoted(table)}")  # noqa: S608
    rows = conn.execute(f"SELECT {names} FROM {_quoted(table)}")  # noqa: S608
    copied = 0
    with pg.cursor() as cursor:
        while batch := rows.fetchmany(BATCH):
            cursor.executemany(insert, batch)
            copied += len(batch)
    (want,) = conn.execute(_count(table)).fetchone()
    row = pg.execute(_count(table)).fetchone()
    have = int(row[0]) if row else -1
    if not want == copied == have:
        raise MoveRefused(
            f"the table {table} holds {want} rows in the data dir, {copied} were copied and the "
            f"database counts {have}: nothing was moved"
        )
    return copied


# --- blobs ----------------------------------------------------------------------------------


def _references(db: Database) -> dict[str, dict[str, int]]:
    """Each blob store's blobs that the metadata names (objects, parts of uploads, support
    attachments), with their sizes."""
    storage = SqliteMetadata(db).blob_sizes()
    # Support names its attachments' blobs in one column of its own table.
    support = {
        str(path): int(size)
        for path, size in db.reader().execute("SELECT blob, size FROM support_attachments")
    }
    return {"storage": storage, "support": support}


def _copy_blobs(
    source: Settings, target: Settings, service: str, references: dict[str, int]
) -> Copied:
    """Copy ``service``'s committed blobs into RADOS (with ``--blobs``) and read each back;
    either way, refuse if a blob the metadata names is not in the data dir."""
    files = open_blobs(source, service)
    assert isinstance(files, FileBlobStore)
    found, _ = files.inventory()  # temporaries are a stopped server's leftovers: not copied
    # The metadata names plaintext sizes; a sealed blob is copied as it is, longer.
    plain = plain_sizes(files, found)
    wrong = sorted(p for p, size in references.items() if plain.get(p, (-1, 0))[0] != size)
    if wrong:
        raise MoveRefused(
            f"{len(wrong)} {service} blobs that the metadata names are missing from the data "
            f"dir or of another size (e.g. {wrong[0]}): run `nexq admin fsck` first"
        )
    copied = Copied(len(found), len(references), sum(size for size, _ in found.values()))
    if not target.blobs_url:
        return copied  # they stay where they are
    store = open_blobs(target, service)
    assert isinstance(store, RadosBlobStore)
    try:
        progress = _Progress(service, copied.blobs, copied.bytes)
        items = sorted((path, size) for path, (size, _) in found.items())
        parallel.each(
            items,
            lambda item: progress.add(_copy_blob(files, store, *item)),
            IN_FLIGHT,
            "nexq-move",
        )
    finally:
        store.close()
    return copied


def _copy_blob(files: FileBlobStore, store: RadosBlobStore, path: str, size: int) -> int:
    """Copy one blob under its path and read it back; its size."""
    sent = hashlib.sha256()
    blob = files.open(path)
    writer = store.adopt(path)
    try:
        for chunk in blob.read(0, size, CHUNK):
            sent.update(chunk)
            writer.write(chunk)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        blob.close()
    back = store.open(path)
    try:
        received = hashlib.sha256()
        length = 0
        for piece in back.read(0, back.size, CHUNK):
            received.update(piece)
            length += len(piece)
    finally:
        back.close()
    if length != size or received.digest() != sent.digest():
        raise MoveRefused(
            f"the blob {path} read back from RADOS ({length} bytes) is not its file ({size} "
            "bytes): nothing was moved"
        )
    return size


class _Progress:
    """A line on stderr every few seconds while blobs are copied."""

    def __init__(self, service: str, blobs: int, total: int) -> None:
        self._service = service
        self._blobs = blobs
        self._total = total
        self._done = self._bytes = 0
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def add(self, size: int) -> None:
        with self._lock:
            self._done += 1
            self._bytes += size
            if time.monotonic() - self._last < PROGRESS_EVERY:
                return
            self._last = time.monotonic()
            typer.echo(
                f"{self._service}: {self._done}/{self._blobs} blobs, "
                f"{self._bytes / 2**20:.0f}/{self._total / 2**20:.0f} MiB copied and verified",
                err=True,
            )


# --- what the operator is told ----------------------------------------------------------------


def _master_key(settings: Settings) -> str:
    """Where the master key that sealed the moved secrets is."""
    if settings.master_key:
        return "NEXQ_MASTER_KEY"
    return str((settings.master_key_file or settings.data_dir / KEYRING_NAME).resolve())


def _hidden(text: str, url: str) -> str:
    """``text`` without the database URL or its password."""
    password = urlsplit(url).password
    for secret in (url, password):
        if secret:
            text = text.replace(secret, "…")
    return text
