"""The SQL metadata store (SQLite or PostgreSQL).

One class made of a mixin per concern over the state they share (``sql_base``): buckets
(``sql_buckets``), objects and versions (``sql_objects``), multipart uploads
(``sql_uploads``), access keys (``sql_access_keys``), metering (``sql_usage``) and
house-keeping (``sql_housekeeping``). The statements several of them run are functions taking
the connection: counters (``sql_counters``), versions, lifecycle actions and completions.
"""

from __future__ import annotations

from nexq.storage.metadata.sql_access_keys import SqlAccessKeys
from nexq.storage.metadata.sql_buckets import SqlBuckets
from nexq.storage.metadata.sql_housekeeping import SqlHousekeeping
from nexq.storage.metadata.sql_objects import SqlObjects
from nexq.storage.metadata.sql_uploads import SqlUploads
from nexq.storage.metadata.sql_usage import SqlUsage


class SqliteMetadata(SqlBuckets, SqlObjects, SqlUploads, SqlAccessKeys, SqlUsage, SqlHousekeeping):
    """:class:`MetadataStore` on a SQL :class:`Database` (SQLite or PostgreSQL)."""
