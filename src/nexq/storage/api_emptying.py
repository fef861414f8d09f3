"""REST routes of "Empty bucket": start emptying a bucket in the background, and follow it.

``POST …/empty`` answers 202 at once; ``GET …/empty`` says how far the run is (or what the
last one did), as the console's page does (nexq.storage.emptying).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from nexq.core.errors import NotFound
from nexq.core.identity import Principal
from nexq.storage.api_settings import owned_bucket
from nexq.storage.emptying import BucketEmptying, Emptying
from nexq.storage.service import ObjectStorage
from nexq.web.rest.formats import iso
from nexq.web.rest.security import Authorizer

BucketName = Annotated[str, Path(min_length=1, max_length=255)]


class Kept(BaseModel):
    retention: int = Field(description="Versions under a retention period.")
    legal_hold: int = Field(description="Versions under a legal hold.")
    other: int = Field(description="Versions kept for another refusal.")


class EmptyingOut(BaseModel):
    status: str = Field(description='"Running" or "Done".')
    started_at: str
    finished_at: str | None
    deleted: int = Field(description="Versions and delete markers deleted so far.")
    uploads_aborted: int
    kept: Kept = Field(description="Versions object lock kept (counted when the run ends).")

    @staticmethod
    def of(run: Emptying) -> "EmptyingOut":
        return EmptyingOut(
            status="Running" if run.running else "Done",
            started_at=iso(run.started_at),
            finished_at=None if run.finished_at is None else iso(run.finished_at),
            deleted=run.deleted,
            uploads_aborted=run.uploads_aborted,
            kept=Kept(
                retention=run.kept_retention,
                legal_hold=run.kept_legal_hold,
                other=run.kept_other,
            ),
        )


def add_routes(
    api: APIRouter, objects: ObjectStorage, emptying: BucketEmptying, auth: Authorizer
) -> None:
    """POST and GET /v1/storage/buckets/{name}/empty."""
    Read = Annotated[Principal, Depends(auth.require("storage:read"))]  # noqa: N806
    Write = Annotated[Principal, Depends(auth.require("storage:write"))]  # noqa: N806

    @api.post("/buckets/{name}/empty", status_code=202, summary="Empty a bucket")
    def empty_bucket(name: BucketName, caller: Write) -> EmptyingOut:
        """Delete every object of the bucket in the background (every version and delete
        marker, and unfinished multipart uploads), keeping what object lock protects. A run
        already going on is answered as it is."""
        owned_bucket(objects, caller, name)
        return EmptyingOut.of(emptying.start(caller, name))

    @api.get("/buckets/{name}/empty", summary="Follow the emptying of a bucket")
    def emptying_status(name: BucketName, caller: Read) -> EmptyingOut:
        """The run going on, else the last one; 404 if the bucket was never emptied."""
        owned_bucket(objects, caller, name)
        run = emptying.status(caller, name)
        if run is None:
            raise NotFound(f"The bucket {name!r} was never emptied.")
        return EmptyingOut.of(run)
