"""Tables have owners: each service's migrations, and data directories made before that."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from nexq.app import SCHEMAS
from nexq.core.db import Database, Schema, connect
from tests.legacy_schema import MIGRATIONS as LEGACY
from tests.legacy_schema import legacy_database


def _schema(path: Path) -> set[tuple[str, str, str]]:
    """Every table, index and column definition, whitespace aside."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE name NOT IN ('schema_versions') AND sql IS NOT NULL"
        ).fetchall()
    finally:
        conn.close()
    return {(kind, name, re.sub(r"\s+", " ", sql).strip()) for kind, name, sql in rows}


def test_owners_build_the_same_database_as_the_single_list(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.db"
    conn = connect(legacy)
    legacy_database(conn)
    conn.close()
    # The steps that were in the single list (those made since add tables of their own).
    then = [
        Schema(s.owner, [m for m in s.migrations if m.legacy is not None])
        for s in SCHEMAS
        if any(m.legacy is not None for m in s.migrations)
    ]
    Database(tmp_path / "owners.db", then).close()
    assert _schema(tmp_path / "owners.db") == _schema(legacy)


def test_every_table_has_one_owner_and_each_owner_its_own() -> None:
    created: dict[str, str] = {}
    for schema in SCHEMAS:
        for migration in schema.migrations:
            for table in re.findall(r"CREATE TABLE (\w+)", migration.sql):
                assert table not in created, f"{table}: created by {created[table]} too"
                created[table] = schema.owner
            for table in re.findall(r"(?:ALTER TABLE|INSERT INTO|UPDATE) (\w+)", migration.sql):
                assert created.get(table) == schema.owner, (
                    f"{schema.owner} changes {table}, owned by {created.get(table)}"
                )


def test_a_data_dir_made_by_the_single_list_migrates_in_place(tmp_path: Path) -> None:
    """Made as main made it (six migrations), with rows of every kind; opened today."""
    path = tmp_path / "meta.db"
    conn = connect(path)
    legacy_database(conn, 6)
    rows = {
        "accounts": "INSERT INTO accounts(id, email, password_hash, role, status, created_at) "
        "VALUES ('a1', 'a@example.com', 'h', 'customer', 'active', 1)",
        "buckets": "INSERT INTO buckets(id, name, account_id, created_at, object_count, "
        "stored_bytes) VALUES ('b1', 'bucket', 'a1', 1, 1, 5)",
        "objects": "INSERT INTO objects VALUES ('b1', 'k', 5, 'e', 1, '{}', '{}', '{}', NULL, "
        "'[]', 0)",
        "access_keys": "INSERT INTO access_keys(id, account_id, label, secret_sealed, "
        "all_buckets, created_at) VALUES ('NQAKx', 'a1', 'l', x'00', 1, 1)",
        "api_keys": "INSERT INTO api_keys VALUES ('k1', 'a1', 'n', '', '[]', 'h', 'active', 1, "
        "NULL)",
        "invoices": "INSERT INTO invoices VALUES ('i1', 'NQ-1', 'a1', '2026-10', 'open', 'USD', "
        "'1.00', '[]', 1, NULL)",
        "usage_hourly": "INSERT INTO usage_hourly(account_id, hour, bucket_id, bucket_name, "
        "class_a) VALUES ('a1', 1, 'b1', 'bucket', 3)",
    }
    for statement in rows.values():
        conn.execute(statement)
    conn.close()
    db = Database(path, SCHEMAS)
    try:
        reader = db.reader()
        for table in rows:
            assert reader.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,), table  # noqa: S608 - table names of this test
        versions = dict(reader.execute("SELECT owner, version FROM schema_versions").fetchall())
        assert versions == {s.owner: len(s.migrations) for s in SCHEMAS}
        # What came after the single list was applied: the per-address login throttle; and
        # the bucket made before buckets stored their Object Ownership keeps ACLs disabled.
        assert reader.execute("SELECT count(*) FROM login_throttle").fetchone() == (0,)
        ownership = "SELECT document FROM bucket_settings WHERE name = 'ownershipControls'"
        assert reader.execute(ownership).fetchall() == [("BucketOwnerEnforced",)]
    finally:
        db.close()
    assert len(LEGACY) == 7  # the frozen list: never extended
