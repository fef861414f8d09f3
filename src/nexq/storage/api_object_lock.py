"""REST routes of a bucket's Object Lock, under ``/v1/storage/buckets/{name}/object-lock``: is
it on, and the default retention new versions get.

Object Lock is turned on when a bucket is created (``POST /v1/storage/buckets`` with
``"object_lock": true``) and never off; these routes read it and change the default
retention, through the use cases S3's PutObjectLockConfiguration uses (storage/locks.py).
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from nexq.core.identity import Principal
from nexq.storage.api_settings import owned_bucket
from nexq.storage.locks import ObjectLocks
from nexq.storage.object_lock import LockConfiguration, default_retention
from nexq.storage.service import ObjectStorage
from nexq.web.rest.security import Authorizer

BucketName = Annotated[str, Path(min_length=1, max_length=255)]
Mode = Literal["GOVERNANCE", "COMPLIANCE"]


class ObjectLock(BaseModel):
    """A bucket's Object Lock and its default retention (mode with days or years)."""

    enabled: bool = Field(description="Turned on when the bucket was created; never off.")
    mode: Mode | None = Field(
        description="The default retention's mode; null: new versions get no retention "
        "unless a write asks for one."
    )
    days: int | None
    years: int | None

    @staticmethod
    def of(config: LockConfiguration | None) -> "ObjectLock":
        if config is None:
            return ObjectLock(enabled=False, mode=None, days=None, years=None)
        # Validated, so that a stored mode the model does not know fails loudly here.
        return ObjectLock.model_validate(
            {"enabled": True, "mode": config.mode, "days": config.days, "years": config.years}
        )


class DefaultRetentionIn(BaseModel):
    """A mode with days or years; every field left out (or null) removes the default."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = None
    days: StrictInt | None = Field(default=None, description="1-36500; or give years.")
    years: StrictInt | None = Field(default=None, description="1-100; or give days.")


def add_routes(api: APIRouter, objects: ObjectStorage, auth: Authorizer) -> None:
    """Add the Object Lock routes to Object Storage's router (``/v1/storage``)."""
    Read = Annotated[Principal, Depends(auth.require("storage:read"))]  # noqa: N806 - a type alias
    Write = Annotated[Principal, Depends(auth.require("storage:write"))]  # noqa: N806 - a type alias
    locks = ObjectLocks(objects)

    @api.get("/buckets/{name}/object-lock", summary="A bucket's Object Lock")
    def get_object_lock(name: BucketName, caller: Read) -> ObjectLock:
        """``enabled`` false (and no retention) for a bucket made without Object Lock."""
        owned_bucket(objects, caller, name)
        return ObjectLock.of(locks.lock(caller, name))

    @api.put("/buckets/{name}/object-lock", summary="Set a bucket's default retention")
    def put_object_lock(name: BucketName, body: DefaultRetentionIn, caller: Write) -> ObjectLock:
        """New versions get ``mode`` for ``days`` or ``years`` unless a write names its own
        retention; versions already written keep theirs. 409 when the bucket was made
        without Object Lock; 400 naming what is wrong with the retention."""
        owned_bucket(objects, caller, name)
        config = default_retention(body.mode, body.days, body.years)
        return ObjectLock.of(locks.set_default_retention(caller, name, config))
