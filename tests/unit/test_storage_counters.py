"""Each account's stored bytes kept in one row: started from the buckets by the migration,
checked and recounted by fsck, read from a short per-process memory by the quota pre-check."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from nexq.app import SCHEMAS
from nexq.core.db import Database, connect
from nexq.storage.fsck import check
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.model import ObjectMeta, Segment
from tests.legacy_schema import legacy_database


class NoBlobs:
    """A blob store that holds exactly what the metadata names (fsck's counters only)."""

    def __init__(self, store: SqliteMetadata) -> None:
        self._store = store

    def inventory(self) -> tuple[dict[str, tuple[int, float]], int]:
        return {p: (s, time.time()) for p, s in self._store.blob_sizes().items()}, 0

    def delete(self, paths: Iterable[str]) -> None:
        raise AssertionError(f"nothing to delete: {list(paths)}")


def _account(conn: sqlite3.Connection, account_id: str) -> None:
    conn.execute(
        "INSERT INTO accounts(id, email, password_hash, created_at) VALUES (?, ?, 'h', 0)",
        (account_id, f"{account_id}@example.com"),
    )


def _object(bucket_id: str, key: str, size: int) -> ObjectMeta:
    return ObjectMeta(bucket_id, key, size, "e", 0.0, {}, {}, {}, None, (Segment(key, size),))


def test_the_migration_starts_each_account_from_its_buckets(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    conn = connect(path)
    legacy_database(conn, 5)  # a database from before the per-account row
    for account in ("a", "b", "idle"):
        _account(conn, account)
    for bucket, account, stored in (("b1", "a", 100), ("b2", "a", 23), ("b3", "b", 7)):
        conn.execute(
            "INSERT INTO buckets(id, name, account_id, created_at, stored_bytes) "
            "VALUES (?, ?, ?, 0, ?)",
            (bucket, bucket, account, stored),
        )
    conn.close()
    db = Database(path, SCHEMAS)
    try:
        store = SqliteMetadata(db)
        assert (store.stored_bytes("a"), store.stored_bytes("b")) == (123, 7)
        assert store.stored_bytes("idle") == 0  # no bucket, no row: nothing stored
        assert store.account_usage("a") == (2, 0, 123)
    finally:
        db.close()


def test_fsck_finds_wrong_counters_and_recounts_them(tmp_path: Path) -> None:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    try:
        store = SqliteMetadata(db)

        def setup(conn: sqlite3.Connection) -> None:
            _account(conn, "a")
            conn.execute(
                "INSERT INTO buckets(id, name, account_id, created_at) VALUES ('b1', 'one', 'a', 0)"
            )

        db.write(setup)
        store.put_object(_object("b1", "x", 40))
        store.put_object(_object("b1", "y", 2))
        blobs = NoBlobs(store)
        assert check(store, blobs).clean

        def damage(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE buckets SET object_count = 5 WHERE id = 'b1'")
            conn.execute("UPDATE account_storage SET stored_bytes = 1 WHERE account_id = 'a'")

        db.write(damage)
        found = check(store, blobs)
        assert not found.clean and found.recounted == 0
        assert found.counters == [
            "bucket one: counted 5 objects, 42 bytes; holds 2 objects, 42 bytes",
            "account a@example.com: counted 1 bytes; holds 42 bytes",
        ]
        repaired = check(store, blobs, repair=True)
        assert repaired.recounted == 2
        assert check(store, blobs).clean
        assert store.bucket_usage("b1") == (2, 42) and store.stored_bytes("a") == 42
    finally:
        db.close()


def test_the_remembered_figure_is_only_used_when_asked_for(tmp_path: Path) -> None:
    now = [1000.0]
    db = Database(tmp_path / "meta.db", SCHEMAS)
    try:
        store = SqliteMetadata(db, clock=lambda: now[0])

        def setup(conn: sqlite3.Connection) -> None:
            _account(conn, "a")
            conn.execute(
                "INSERT INTO buckets(id, name, account_id, created_at) VALUES ('b1', 'one', 'a', 0)"
            )

        db.write(setup)
        assert store.stored_bytes("a", max_age=1.0) == 0
        store.put_object(_object("b1", "x", 40))
        assert store.stored_bytes("a", max_age=1.0) == 0  # remembered, less than 1 s old
        assert store.stored_bytes("a") == 40  # read now
        store.put_object(_object("b1", "y", 2))
        now[0] += 1.5
        assert store.stored_bytes("a", max_age=1.0) == 42  # too old: read again
    finally:
        db.close()
