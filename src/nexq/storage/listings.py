"""Listings of a bucket: ListObjects' keys and common prefixes, ListObjectVersions' versions."""

from __future__ import annotations

from nexq.core.identity import Principal
from nexq.storage import versioning
from nexq.storage.model import ListedObject, Listing, common_prefix, prefix_end
from nexq.storage.service_base import ObjectStorageBase
from nexq.storage.versions import VersionListing


class Listings(ObjectStorageBase):
    """ObjectStorage's listings of a bucket's objects and versions."""

    def list_objects(
        self,
        caller: Principal,
        bucket_name: str,
        prefix: str,
        delimiter: str,
        after: str | None,
        max_keys: int,
    ) -> Listing:
        """One page of keys and common prefixes, in UTF-8 byte order, after ``after``."""
        bucket = self.bucket(caller, bucket_name)
        if max_keys == 0:
            return Listing([], [], False, None)  # S3 compat: empty, and not truncated
        start: str | None = after or ""
        inclusive = after is None
        if after is not None and delimiter:
            rolled = common_prefix(after, prefix, delimiter)
            if rolled is not None:
                # Everything under a prefix that was already reported is skipped.
                start, inclusive = prefix_end(rolled), True
        objects: list[ListedObject] = []
        prefixes: list[str] = []
        last: str | None = None
        while True:
            if start is None:  # a rolled-up prefix that no key can sort after
                return Listing(objects, prefixes, False, last)
            want = max_keys - len(objects) - len(prefixes) + 1
            batch = self._store.list_objects(bucket.id, prefix, start, inclusive, min(want, 1000))
            if not batch:
                return Listing(objects, prefixes, False, last)
            for meta in batch:
                rolled = common_prefix(meta.key, prefix, delimiter) if delimiter else None
                if len(objects) + len(prefixes) >= max_keys:
                    return Listing(objects, prefixes, True, last)
                if rolled is None:
                    objects.append(meta)
                    last = meta.key
                    start, inclusive = meta.key, False
                else:
                    prefixes.append(rolled)
                    last = rolled
                    start, inclusive = prefix_end(rolled), True
                    break

    def list_versions(
        self,
        caller: Principal,
        bucket_name: str,
        prefix: str,
        delimiter: str,
        markers: tuple[str | None, str | None],
        max_keys: int,
    ) -> VersionListing:
        """One page of ListObjectVersions after (key marker, version id marker)."""
        bucket = self.bucket(caller, bucket_name)
        return versioning.list_versions(
            self._store, bucket, prefix, delimiter, markers[0], markers[1], max_keys
        )
