"""Changes to a version in place, which make no new version: its tags, its Object Lock
fields."""

from __future__ import annotations

import json
from collections.abc import Callable

from nexq.core.identity import Principal
from nexq.storage.conditions import Conditions
from nexq.storage.errors import NoSuchKey, NoSuchVersion
from nexq.storage.model import ObjectMeta
from nexq.storage.service_base import ObjectStorageBase
from nexq.storage.versions import parse_version_id


class VersionAmendments(ObjectStorageBase):
    """ObjectStorage's changes to a version in place."""

    # tags ---------------------------------------------------------------------------------
    def tag_object(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        version: str | None,
        tags: tuple[tuple[str, str], ...],
    ) -> ObjectMeta:
        """Replace the tags of the latest version (or S3's ``versionId`` ``version``); tags
        make no new version. NoSuchKey / NoSuchVersion when there is nothing to tag."""
        bucket = self.bucket(caller, bucket_name)
        text = json.dumps([list(t) for t in tags])
        vid = parse_version_id(version) if version is not None else None
        tagged = self._store.tag_version(bucket.id, key, vid, text, latest=version is None)
        if tagged is None:
            # A delete marker has no tags: S3 answers as a read of it would.
            self.head_object(caller, bucket_name, key, Conditions(), version)
            raise NoSuchVersion() if version is not None else NoSuchKey()
        return tagged

    # Object Lock --------------------------------------------------------------------------
    def amend_version(
        self,
        caller: Principal,
        bucket_name: str,
        key: str,
        version: str | None,
        amend: Callable[[ObjectMeta], ObjectMeta],
    ) -> ObjectMeta:
        """Change a version's Object Lock fields in place (``amend`` may refuse); NoSuchKey,
        NoSuchVersion, or as a read of it when it is a delete marker."""
        bucket = self.bucket(caller, bucket_name)
        vid = parse_version_id(version) if version is not None else None
        amended = self._store.amend_version(bucket.id, key, vid, amend, latest=version is None)
        if amended is None:
            self.head_object(caller, bucket_name, key, Conditions(), version)
            raise NoSuchVersion() if version is not None else NoSuchKey()
        return amended
