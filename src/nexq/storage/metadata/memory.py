"""The metadata store in memory: use cases run on it without a database (tests, tools).

Everything SQLite does in one transaction happens here under one lock, so conditional
writes, quotas and counters are as exact. Keys and upload ids are ordered as UTF-8 bytes:
SQLite's BINARY collation, and S3's order. What the tables' constraints do in SQLite (a
bucket's grants go with it, an upload's parts with it) is done here by hand, said where.

One class made of a mixin per concern over the state they share (``memory_base``): buckets
(``memory_buckets``), objects and versions (``memory_objects``), deletions and lifecycle
actions (``memory_deletes``), multipart uploads (``memory_uploads``), access keys
(``memory_access_keys``), metering (``memory_usage``) and house-keeping
(``memory_housekeeping``).
"""

from __future__ import annotations

from nexq.storage.metadata.memory_access_keys import MemoryAccessKeys
from nexq.storage.metadata.memory_buckets import MemoryBuckets
from nexq.storage.metadata.memory_deletes import MemoryDeletes
from nexq.storage.metadata.memory_housekeeping import MemoryHousekeeping
from nexq.storage.metadata.memory_uploads import MemoryUploads
from nexq.storage.metadata.memory_usage import MemoryUsage


class MemoryMetadata(
    MemoryBuckets,
    MemoryDeletes,
    MemoryUploads,
    MemoryAccessKeys,
    MemoryUsage,
    MemoryHousekeeping,
):
    """:class:`MetadataStore` in memory, thread-safe.

    ``accounts`` answers :meth:`get_account` (accounts belong to the accounts service: in a
    database the two stores share a table; here the account store lends its lookup), and
    ``generation`` is shared with the account store, whose changes move it too.
    """
