"""The SQL metadata store's counters: each bucket's objects and bytes, each account's
stored bytes, kept in the transaction of the write that changes them."""

from __future__ import annotations

from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, send
from nexq.storage.errors import NoSuchBucket
from nexq.storage.quotas import storage_quota_message

# The account's row (the sum of its buckets' stored bytes), found through the bucket; with a
# quota, only if the total stays within it. Plain statements (RETURNING would cost more): this
# runs in the serialized commit stage, where every statement is paid by every write.
_ADD_TO_ACCOUNT = (
    "UPDATE account_storage SET stored_bytes = stored_bytes + ? "
    "WHERE account_id = (SELECT account_id FROM buckets WHERE id = ?)"
)
_ADD_TO_ACCOUNT_WITHIN = (
    "UPDATE account_storage SET stored_bytes = stored_bytes + ? "
    "WHERE account_id = (SELECT account_id FROM buckets WHERE id = ?) AND stored_bytes + ? <= ?"
)


def add_to_counters(
    conn: Connection, bucket_id: str, objects: int, grown: int, quota: int | None = None
) -> None:
    """Add to the bucket's counters and to its account's stored bytes; growth that would take
    the account over ``quota`` raises QuotaExceeded (the committer's savepoint then undoes
    what this changed).

    Both updates are sent before either is checked: on PostgreSQL they cost one round trip
    under the cluster's write lock, not two."""
    bucket = send(
        conn,
        "UPDATE buckets SET object_count = object_count + ?, stored_bytes = stored_bytes + ? "
        "WHERE id = ?",
        (objects, grown, bucket_id),
    )
    account = None
    limit = quota if grown > 0 else None  # shrinking always fits
    if grown:
        if limit is None:
            account = send(conn, _ADD_TO_ACCOUNT, (grown, bucket_id))
        else:
            account = send(conn, _ADD_TO_ACCOUNT_WITHIN, (grown, bucket_id, grown, limit))
    if not bucket.rowcount:
        raise NoSuchBucket()  # deleted meanwhile: an object there could never be reached
    if account is not None and not account.rowcount:
        _unchanged_account(conn, bucket_id, limit)


def _unchanged_account(conn: Connection, bucket_id: str, quota: int | None) -> None:
    """The account's row did not change: ``quota`` refuses the growth, or the account has no
    row yet (its first bytes since the row was introduced), which starts from its buckets
    (whose counters hold the growth already)."""
    row = conn.execute(
        "SELECT b.account_id, s.stored_bytes FROM buckets AS b "
        "LEFT JOIN account_storage AS s ON s.account_id = b.account_id WHERE b.id = ?",
        (bucket_id,),
    ).fetchone()
    if row is None:
        raise NoSuchBucket()
    if row[1] is None:
        (stored,) = conn.execute(
            "SELECT coalesce(sum(stored_bytes), 0) FROM buckets WHERE account_id = ?", (row[0],)
        ).fetchone()
        if quota is None or stored <= quota:
            conn.execute(
                "INSERT INTO account_storage(account_id, stored_bytes) VALUES (?, ?)",
                (row[0], stored),
            )
            return
    elif quota is None:
        raise RuntimeError(f"account {row[0]}: an unconditional update missed its row")
    raise QuotaExceeded("storage_bytes", storage_quota_message(quota))
