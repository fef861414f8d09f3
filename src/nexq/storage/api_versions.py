"""REST routes of object versions: list them, and make an older one current again.

Deleting one version for good is ``DELETE …/objects/{key}?version_id=`` (api.py). Version ids
are S3's: ``"null"`` names the version written while versioning was off or suspended.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from nexq.core.errors import Invalid
from nexq.core.identity import Principal
from nexq.storage.api_settings import owned_bucket
from nexq.storage.conditions import Conditions
from nexq.storage.errors import DeleteMarkerFound, NoSuchVersion
from nexq.storage.model import MAX_KEY_BYTES
from nexq.storage.service import NewContent, ObjectStorage
from nexq.storage.versions import ListedVersion, shown
from nexq.web.rest.formats import iso
from nexq.web.rest.pagination import Cursor, Limit, Page, decode, encode
from nexq.web.rest.security import Authorizer

BucketName = Annotated[str, Path(min_length=1, max_length=255)]
VERSION_ID_CHARS = 64


class ObjectVersion(BaseModel):
    key: str
    version_id: str = Field(description='"null" for the version written without versioning.')
    is_latest: bool
    delete_marker: bool
    size: int
    etag: str | None = Field(description="null for a delete marker.")
    last_modified: str

    @staticmethod
    def of(version: ListedVersion) -> "ObjectVersion":
        return ObjectVersion(
            key=version.key,
            version_id=shown(version.version_id),
            is_latest=version.is_latest,
            delete_marker=version.delete_marker,
            size=version.size,
            etag=None if version.delete_marker else f'"{version.etag}"',
            last_modified=iso(version.last_modified),
        )


class RestoreIn(BaseModel):
    version_id: Annotated[str, Field(min_length=1, max_length=VERSION_ID_CHARS)]


def _markers(cursor: str | None) -> tuple[str | None, str | None]:
    """The (key, version id) a page resumes after."""
    position = decode(cursor)
    if position is None:
        return None, None
    if (
        not isinstance(position, list)
        or len(position) != 2
        or not isinstance(position[0], str)
        or not isinstance(position[1], str | None)
    ):
        raise Invalid("cursor: not a cursor given by this API.")
    return position[0], position[1]


def add_routes(api: APIRouter, objects: ObjectStorage, auth: Authorizer) -> None:
    """Add the object version routes to ``api`` (Object Storage's, under ``/v1/storage``): on
    it, not on a router of their own, so that each is an operation the OpenAPI document
    states the scopes of."""
    Read = Annotated[Principal, Depends(auth.require("storage:read"))]  # noqa: N806 - a type alias
    Write = Annotated[Principal, Depends(auth.require("storage:write"))]  # noqa: N806 - a type alias

    @api.get("/buckets/{name}/versions", summary="List object versions")
    def list_versions(
        name: BucketName,
        caller: Read,
        prefix: Annotated[str, Query(max_length=MAX_KEY_BYTES)] = "",
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> Page[ObjectVersion]:
        """Every version and delete marker under ``prefix``, by key, newest first within a
        key (S3's ListObjectVersions order)."""
        owned_bucket(objects, caller, name)
        listing = objects.list_versions(caller, name, prefix, "", _markers(cursor), limit)
        return Page(
            items=[ObjectVersion.of(v) for v in listing.versions],
            next_cursor=encode([listing.next_key_marker, listing.next_version_id_marker])
            if listing.is_truncated
            else None,
        )

    @api.post(
        "/buckets/{name}/objects/{key:path}/restore",
        status_code=201,
        summary="Make an object version current again",
    )
    def restore_version(
        name: BucketName, key: str, body: RestoreIn, caller: Write
    ) -> ObjectVersion:
        """Copies the version onto its own key, as the S3 console restores one: the copy is
        the new current version (the answer), and every version stays. To undo a delete,
        delete its delete marker instead (``DELETE …/objects/{key}?version_id=``)."""
        owned_bucket(objects, caller, name)
        try:
            meta, _ = objects.copy_object(
                caller,
                (name, key, body.version_id),
                (name, key),
                Conditions(),
                None,
                NewContent(headers={}, metadata={}),
            )
        except DeleteMarkerFound:
            raise Invalid(
                f"Version {body.version_id!r} of {key!r} is a delete marker, which has no "
                "content to restore; delete the marker to make the version below it current."
            ) from None
        except NoSuchVersion:
            raise NoSuchVersion(
                f"No version {body.version_id!r} of {key!r} in the bucket {name!r}."
            ) from None
        return ObjectVersion(
            key=meta.key,
            version_id=shown(meta.version_id),
            is_latest=True,
            delete_marker=False,
            size=meta.size,
            etag=f'"{meta.etag}"',
            last_modified=iso(meta.last_modified),
        )
