"""ListObjectVersions: one page of versions and common prefixes, as S3 pages them."""

from __future__ import annotations

from nexq.storage.errors import InvalidArgument
from nexq.storage.metadata.port import MetadataStore
from nexq.storage.model import Bucket, common_prefix, prefix_end
from nexq.storage.versions import (
    ListedVersion,
    VersionListing,
    parse_version_id,
    shown,
    version_time,
)


def list_versions(
    store: MetadataStore,
    bucket: Bucket,
    prefix: str,
    delimiter: str,
    key_marker: str | None,
    version_id_marker: str | None,
    max_keys: int,
) -> VersionListing:
    """The page after (``key_marker``, ``version_id_marker``): S3 resumes after the marker's
    version of that key, or after every version of the key when no version is named."""
    if max_keys <= 0:
        return VersionListing([], [], False, None, None)
    if version_id_marker is not None and not key_marker:
        raise InvalidArgument("A version-id marker cannot be specified without a key marker.")
    start = key_marker or ""
    below: int | None = None
    if key_marker:
        below = -1  # after every version of the key
        if version_id_marker is not None:
            marker = parse_version_id(version_id_marker)
            rank = store.version_rank(bucket.id, key_marker, marker)
            if rank is not None:
                below = rank
            elif marker is not None:
                older = _newest_older(store, bucket, key_marker, marker)
                below = older + 1 if older is not None else -1
        rolled = common_prefix(key_marker, prefix, delimiter)
        if rolled is not None:  # that prefix was reported whole: skip what it holds
            following = prefix_end(rolled)
            if following is None:
                return VersionListing([], [], False, None, None)
            start, below = following, None
    versions: list[ListedVersion] = []
    prefixes: list[str] = []
    last: tuple[str, str | None] | None = None  # (key marker, version id marker) to resume
    while True:
        want = max_keys - len(versions) - len(prefixes) + 1
        batch = store.list_versions(bucket.id, prefix, start, below, min(max(want, 1), 1000))
        if not batch:
            return VersionListing(versions, prefixes, False, None, None)
        for version, rank in batch:
            if len(versions) + len(prefixes) >= max_keys:
                assert last is not None
                return VersionListing(versions, prefixes, True, last[0], last[1])
            rolled = common_prefix(version.key, prefix, delimiter)
            if rolled is None:
                versions.append(version)
                last = (version.key, shown(version.version_id))
                start, below = version.key, rank
                continue
            prefixes.append(rolled)
            last = (rolled, None)
            following = prefix_end(rolled)
            if following is None:
                return VersionListing(versions, prefixes, False, None, None)
            start, below = following, None
            break


def _newest_older(store: MetadataStore, bucket: Bucket, key: str, version_id: str) -> int | None:
    """The rank of ``key``'s newest version older than ``version_id``, a version no longer
    there; None if it has none.

    S3 compat: a page resumes after its version-id marker even when that version was
    deleted meanwhile (what a client deleting each page as it lists does), with the key's
    older versions, as AWS does; not after the whole key, which left them unlisted."""
    made = version_time(version_id)
    below: int | None = None
    while True:
        batch = store.list_versions(bucket.id, key, key, below, _PAGE)
        for version, rank in batch:  # newest first
            if version.key != key:
                return None
            named = version.version_id
            if (named < version_id) if named is not None else (version.last_modified < made):
                return rank
        if len(batch) < _PAGE:
            return None
        below = batch[-1][1]


_PAGE = 1000
