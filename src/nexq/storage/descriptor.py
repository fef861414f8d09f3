"""Object Storage as the platform sees it: its routes, pages, place in the layout, jobs,
meters and limits.

The protocol modules are imported when the platform asks for them, so that the operator's
commands, which build the services but serve nothing, never load the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nexq.core.errors import DomainError
from nexq.core.identity import Scope
from nexq.core.sql import Database
from nexq.core.telemetry import Reading
from nexq.platform import Job, Service
from nexq.storage.access_keys import AccessKeys
from nexq.storage.blobs.port import BlobStore
from nexq.storage.departure import departure
from nexq.storage.emptying import BucketEmptying, Emptier
from nexq.storage.errors import AccessDenied, NoSuchBucket
from nexq.storage.lifecycle_run import DailyLifecycle, Lifecycle
from nexq.storage.limits import limits
from nexq.storage.metadata.port import MetadataStore, MeterReadings
from nexq.storage.metering import FLUSH_SECONDS, Meter
from nexq.storage.meters import METERS, StorageMeters
from nexq.storage.multipart import Multipart
from nexq.storage.service import ObjectStorage
from nexq.storage.usage import Usage
from nexq.web.console.layout import NavLink, NavSection
from nexq.web.guide.section import GuidePage, GuideSection

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexq.web.console.web import Pages
    from nexq.web.rest.security import Authorizer

SCOPES = (
    Scope("storage:read", "List buckets, objects, access keys and usage; make share links."),
    Scope("storage:write", "Create and delete buckets and objects; manage access keys."),
)
# How often the lifecycle job looks whether a run is due (the first run comes one tick after
# the process takes the job).
LIFECYCLE_TICK_SECONDS = 300.0
# How soon an "Empty bucket" started in the console or the API is taken up.
EMPTY_TICK_SECONDS = 1.0
NAVIGATION = NavSection(
    "Object Storage",
    (
        NavLink("Buckets", "/storage/buckets"),
        NavLink("Access Keys", "/storage/access-keys"),
        NavLink("Usage", "/storage/usage"),
    ),
)
# The user guide of Object Storage: src/nexq/storage/guide/<slug>.md, in reading order.
GUIDE = GuideSection(
    "Object Storage",
    "nexq.storage",
    (
        GuidePage("overview", "Object Storage overview"),
        GuidePage("buckets", "Buckets"),
        GuidePage("objects", "Objects"),
        GuidePage("access-keys", "Access keys"),
        GuidePage("s3-api", "S3 API"),
        GuidePage("website", "Static websites"),
        GuidePage("usage-billing", "Usage and billing"),
    ),
)


def collect_garbage(store: MetadataStore, blobs: BlobStore, db: Database) -> int:
    """Delete blob files that no longer back any object or part."""
    total = 0
    while True:
        paths = store.garbage(1000)
        if not paths:
            return total
        blobs.delete(paths)
        store.forget_garbage(paths)
        db.write(lambda conn: None)  # wait until the forgetting is committed
        total += len(paths)


def foreign_buckets_not_found(request: Any, exc: DomainError) -> DomainError:
    """The console acts with all of the account's rights, so a bucket it may not use is
    another account's: "not found", as in the REST API (existence must not leak)."""
    if isinstance(exc, AccessDenied) and "name" in request.path_params:
        name = request.path_params["name"]
        return NoSuchBucket(f"No bucket named {name!r} in this account.")
    return exc


def descriptor(
    objects: ObjectStorage,
    multipart: Multipart,
    access_keys: AccessKeys,
    usage: Usage,
    meter: Meter,
    store: MetadataStore,
    blobs: BlobStore,
    db: Database,
    s3_endpoint: str,
    region: str,
    readings: MeterReadings,
    website_endpoint: str,
    lifecycle_interval: float = 86_400.0,
) -> Service:
    """Object Storage's descriptor (its S3 endpoint is served apart, by ``planes.s3_app``)."""
    lifecycle = DailyLifecycle(Lifecycle(store), lifecycle_interval)
    emptying = BucketEmptying(objects, store)

    def rest(auth: Authorizer) -> list[APIRouter]:
        from nexq.storage import api

        return [
            api.router(
                objects, access_keys, usage, auth, s3_endpoint, region, emptying, website_endpoint
            )
        ]

    def console(pages: Pages) -> list[APIRouter]:
        from nexq.storage import console

        return [
            console.router(
                objects,
                multipart,
                access_keys,
                usage,
                pages,
                s3_endpoint,
                region,
                emptying,
                website_endpoint,
            )
        ]

    return Service(
        name="storage",
        title="Object Storage",
        departure=departure(objects, access_keys),
        rest=rest,
        console=console,
        templates="nexq.storage",
        navigation=NAVIGATION,
        guide=GUIDE,
        console_adapters=(foreign_buckets_not_found,),
        jobs=(
            Job("flush usage counts", FLUSH_SECONDS, meter.flush),
            Job(
                "collect garbage",
                FLUSH_SECONDS,
                lambda: collect_garbage(store, blobs, db),
                once=True,
            ),
            # A run may take long: a lane of its own, so that it never holds up the others.
            Job(
                "apply lifecycle rules",
                min(lifecycle_interval, LIFECYCLE_TICK_SECONDS),
                lifecycle.tick,
                lane="lifecycle",
                once=True,
            ),
            # "Empty bucket": a large bucket takes a while, on a lane of its own.
            Job(
                "empty buckets", EMPTY_TICK_SECONDS, Emptier(store).tick, lane="emptying", once=True
            ),
        ),
        meters=METERS,
        meter_provider=StorageMeters(readings),
        limits=limits(store),
        census=lambda: census(store),
    )


def census(store: MetadataStore) -> list[Reading]:
    buckets, objects, stored = store.installation_usage()
    return [
        Reading("nexq_storage_buckets", "Buckets of every account.", buckets),
        Reading("nexq_storage_objects", "Objects of every account (current versions).", objects),
        Reading("nexq_storage_stored_bytes", "Bytes stored, every version counted.", stored),
    ]
