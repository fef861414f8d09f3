"""Object versions: S3's versioning states, version ids and what a listing of versions shows.

Pure, no I/O. How versions are stored: an object's current version (when it is not a delete
marker) is its row in ``objects``, exactly as in a bucket that was never versioned, so reads
and plain listings cost the same with or without versioning. Every other version (older
ones, and delete markers wherever they stand) is a row of ``object_versions``, ordered per
key by ``seq``: a higher seq is newer, and the ``objects`` row is newer than all of them.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from nexq.storage.errors import InvalidArgument
from nexq.storage.object_lock import DeleteConditions

ENABLED = "Enabled"
SUSPENDED = "Suspended"
STATES = (ENABLED, SUSPENDED)

# How S3 spells the version id of the null version in requests and answers.
NULL = "null"

# Version ids sort by creation time (as upload ids do) then randomness: 13 hex digits of
# microseconds since the epoch and 19 random ones, 32 characters like AWS's.
_VERSION_ID = re.compile(r"^[0-9a-f]{32}$")


def new_version_id() -> str:
    """A fresh version id."""
    return f"{int(time.time() * 1_000_000):013x}{secrets.token_hex(10)[:19]}"


def version_time(version_id: str) -> float:
    """When the version ``version_id`` (one of this server's) was made, in seconds."""
    return int(version_id[:13], 16) / 1_000_000


def parse_version_id(value: str) -> str | None:
    """The version a ``versionId`` parameter names (None for ``null``); InvalidArgument if it
    cannot be a version id of this server (AWS: "Invalid version id specified")."""
    if value == NULL:
        return None
    if not _VERSION_ID.match(value):
        raise InvalidArgument("Invalid version id specified", "versionId", value)
    return value


def shown(version_id: str | None) -> str:
    """The version id as S3 shows it."""
    return NULL if version_id is None else version_id


@dataclass(frozen=True, slots=True)
class ListedVersion:
    """One entry of ListObjectVersions: a version or a delete marker of ``key``."""

    key: str
    version_id: str | None
    is_latest: bool
    delete_marker: bool
    size: int
    etag: str
    last_modified: float
    # What lifecycle rules filter on besides key and size (ListObjectVersions shows none).
    tags: tuple[tuple[str, str], ...] = ()
    checksum_algorithms: tuple[str, ...] = ()
    checksum_type: str | None = None


@dataclass(frozen=True, slots=True)
class VersionListing:
    """One page of ListObjectVersions."""

    versions: list[ListedVersion]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_version_id_marker: str | None


@dataclass(frozen=True, slots=True)
class Deletion:
    """One key of a DeleteObjects: its current version (a delete marker where versioned),
    or, ``by_version``, the version ``version_id`` (None: the null version) for good."""

    key: str
    version_id: str | None = None
    by_version: bool = False
    # x-amz-bypass-governance-retention, from a caller who may (object_lock)
    bypass_governance: bool = False
    conditions: DeleteConditions | None = None


@dataclass(frozen=True, slots=True)
class Removal:
    """What a DELETE did: removed a version for good, or added a delete marker (whose
    version id it then names), or nothing (the key or version did not exist)."""

    version_id: str | None = None
    delete_marker: bool = False
    removed: bool = False
    marker_added: bool = False
