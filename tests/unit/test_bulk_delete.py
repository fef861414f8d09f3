"""DeleteObjects is one durable commit, however many keys it names.

Each key used to be deleted in a write of its own: a 1,000-key DeleteObjects waited for 1,000
group commits one after the other (on SQLite 1,000 WAL fsyncs: `strace -c` on a server counted
1,035 fdatasync calls for one such request), 30 s and more on a busy disk. The count is what
is asserted, since a disk's speed is not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TypeVar

from nexq.app import SCHEMAS
from nexq.core.crypto import SecretBox, new_key
from nexq.core.db import Database
from nexq.core.identity import Account, Principal
from nexq.core.sql import Connection, Write
from nexq.storage.blobs.memory import MemoryBlobStore
from nexq.storage.directory import S3_SCOPES, Directory
from nexq.storage.errors import InvalidArgument
from nexq.storage.metadata.sqlite import SqliteMetadata
from nexq.storage.model import ObjectMeta, Segment
from nexq.storage.service import ObjectStorage

T = TypeVar("T")


class CountedDatabase(Database):
    """The embedded database, counting the durable writes asked of it."""

    writes = 0

    def write(self, write: Write[T]) -> T:
        self.writes += 1
        return super().write(write)


def _account(conn: Connection) -> Any:
    return conn.execute(
        "INSERT INTO accounts(id, email, password_hash, created_at) "
        "VALUES ('acc', 'a@example.com', 'h', 0)"
    )


def test_deleting_a_thousand_keys_is_one_durable_commit(tmp_path: Path) -> None:
    db = CountedDatabase(tmp_path / "meta.db", SCHEMAS)
    try:
        db.write(_account)
        store = SqliteMetadata(db)
        objects = ObjectStorage(store, MemoryBlobStore(), Directory(store, SecretBox(new_key())))
        caller = Principal(Account("acc", "a@example.com", "customer", "active", 0.0), S3_SCOPES)
        bucket = objects.create_bucket(caller, "bulk")
        keys = [f"dir {i}/ünï %2B+\n{i}" for i in range(1000)]
        for key in keys:
            segment = Segment(f"blob-{len(key)}-{hash(key)}", 1)
            store.put_object(
                ObjectMeta(bucket.id, key, 1, "e", time.time(), {}, {}, {}, None, (segment,))
            )
        before = db.writes
        asked: list[tuple[str, str | None]] = [(k, None) for k in [*keys, "", "never-there"]]
        outcomes = objects.delete_objects(caller, "bulk", asked)
        assert db.writes - before == 1
        done = [key for key, out in outcomes if not isinstance(out, Exception)]
        assert done == [*keys, "never-there"]
        refused = dict(outcomes)[""]
        assert isinstance(refused, InvalidArgument)
        assert store.bucket_usage(bucket.id) == (0, 0)
        assert store.counter_drift() == []
    finally:
        db.close()
