"""Metering in the SQL metadata store: hourly usage rows, and the readings billing takes."""

from __future__ import annotations

from collections.abc import Iterable

from nexq.core.sql import Connection
from nexq.storage.metadata.sql_base import SqlBase
from nexq.storage.model import Counters, UsageRow


class SqlUsage(SqlBase):
    """Usage rows, added and read."""

    # metering ---------------------------------------------------------------------------
    def add_usage(self, rows: Iterable[UsageRow]) -> None:
        batch = [
            (
                r.account_id,
                r.hour,
                r.bucket_id,
                r.bucket_name,
                r.counters.data_in,
                r.counters.data_out,
                r.counters.class_a,
                r.counters.class_b,
                r.counters.other,
            )
            for r in rows
        ]
        if not batch:
            return

        def write(conn: Connection) -> None:
            # Additive, so that several processes (later several nodes) can share the table.
            conn.executemany(
                "INSERT INTO usage_hourly(account_id, hour, bucket_id, bucket_name, data_in, "
                "data_out, class_a, class_b, other) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(account_id, hour, bucket_id) DO UPDATE SET "
                "data_in = usage_hourly.data_in + excluded.data_in, "
                "data_out = usage_hourly.data_out + excluded.data_out, "
                "class_a = usage_hourly.class_a + excluded.class_a, "
                "class_b = usage_hourly.class_b + excluded.class_b, "
                "other = usage_hourly.other + excluded.other",
                batch,
            )

        self._db.write(write)

    def usage_rows(
        self, account_id: str, from_hour: int, to_hour: int
    ) -> list[tuple[str, int, Counters]]:
        rows = (
            self._db.reader()
            .execute(
                "SELECT bucket_name, hour, data_in, data_out, class_a, class_b, other "
                "FROM usage_hourly WHERE account_id = ? AND hour >= ? AND hour < ? "
                "ORDER BY hour",
                (account_id, from_hour, to_hour),
            )
            .fetchall()
        )
        return [(r[0], r[1], Counters(*r[2:])) for r in rows]

    # meter readings (billing asks through storage.meters) -------------------------------
    def hourly_usage(
        self, account_id: str, from_hour: int, to_hour: int
    ) -> list[tuple[int, Counters]]:
        rows = (
            self._db.reader()
            .execute(
                "SELECT hour, sum(data_in), sum(data_out), sum(class_a), sum(class_b), "
                "sum(other) FROM usage_hourly WHERE account_id = ? AND hour >= ? AND hour < ? "
                "GROUP BY hour ORDER BY hour",
                (account_id, from_hour, to_hour),
            )
            .fetchall()
        )
        return [(r[0], Counters(*r[1:])) for r in rows]

    def accounts_with_usage(self, from_hour: int, to_hour: int) -> list[str]:
        rows = self._db.reader().execute(
            "SELECT DISTINCT account_id FROM usage_hourly WHERE hour >= ? AND hour < ? "
            "ORDER BY account_id",
            (from_hour, to_hour),
        )
        return [str(r[0]) for r in rows]

    def bucket_sizes(self) -> list[tuple[str, str, int]]:
        # One statement, so one snapshot: a completion moves its parts' bytes into the
        # bucket's stored bytes in one transaction, and a sample sees them in one place or
        # the other, never both. Parts are found by index (uploads by bucket, parts by upload).
        rows = self._db.reader().execute(
            "SELECT b.account_id, b.id, b.stored_bytes + (SELECT coalesce(sum(p.size), 0) "
            "FROM uploads AS u JOIN parts AS p ON p.upload_id = u.id WHERE u.bucket_id = b.id) "
            "FROM buckets AS b"
        )
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]
