"""The object browser: folders by '/', pages of keys, details, downloads, share links, deletes."""

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response, StreamingResponse

from nexq.core.identity import Principal
from nexq.storage.access_keys import AccessKeys
from nexq.storage.conditions import Conditions
from nexq.storage.console.links import Connect, breadcrumbs, bucket_url, stats_of
from nexq.storage.s3.presign import presign_url
from nexq.storage.service import ObjectStorage
from nexq.web.console.streaming import send_chunks
from nexq.web.console.web import Flash, Pages

PAGE_SIZE = 100
SHARE_EXPIRIES = [
    (900, "15 minutes"),
    (3600, "1 hour"),
    (12 * 3600, "12 hours"),
    (86400, "1 day"),
    (3 * 86400, "3 days"),
    (7 * 86400, "7 days (the longest S3 allows)"),
]
Text = Annotated[str, Form()]
Texts = Annotated[list[str], Form()]


def attachment(key: str) -> str:
    """A Content-Disposition that saves the object under its last path segment."""
    name = key.rsplit("/", 1)[-1] or "download"
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def router(
    storage: ObjectStorage,
    access_keys: AccessKeys,
    pages: Pages,
    connect: Connect,
    part_bytes: int,
) -> APIRouter:
    """A bucket's pages: browse, object details, share, download, delete objects."""
    web = APIRouter(prefix="/storage/buckets/{name}")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    @web.get("")
    def browse(
        request: Request,
        name: str,
        caller: SignedIn,
        prefix: str = "",
        after: str = "",
        page: int = 1,
    ) -> Response:
        # The header shows the bucket's Object Lock, which the cache may hold from before a
        # change made through another process (as on the Settings tab).
        storage.directory.refresh()
        stats = stats_of(storage, caller, name)
        listing = storage.list_objects(caller, name, prefix, "/", after or None, PAGE_SIZE)
        next_url = ""
        if listing.is_truncated and listing.next_marker:
            next_url = bucket_url(
                name, prefix=prefix, after=listing.next_marker, page=str(page + 1)
            )
        return pages.render(
            request,
            "storage/bucket.html",
            caller,
            stats=stats,
            name=name,
            prefix=prefix,
            crumbs=breadcrumbs(name, prefix),
            listing=listing,
            page=max(page, 1),
            first_url=bucket_url(name, prefix=prefix) if after else "",
            next_url=next_url,
            part_bytes=part_bytes,
            bucket_url=bucket_url,
            connect=connect,
            showing_versions=False,
            lock=storage.lock_configuration(stats.bucket),
        )

    @web.post("/delete-objects")
    def delete_objects(
        request: Request,
        name: str,
        caller: SignedIn,
        key: Texts = [],  # noqa: B006 - FastAPI copies defaults; nothing selected is a real case
        prefix: Text = "",
        confirm: Text = "",
    ) -> Response:
        back = bucket_url(name, prefix=prefix)
        if not key:
            return pages.redirect(request, back, Flash("error", "Select the objects to delete."))
        what = key[0] if len(key) == 1 else f"{len(key)} objects"
        if confirm != "yes":
            return pages.confirm(
                request,
                caller,
                title=f"Delete {what}?",
                message="Deleted objects cannot be recovered.",
                action=bucket_url(name, "/delete-objects"),
                button="Delete",
                fields=[("key", k) for k in key] + [("prefix", prefix)],
                back=back,
            )
        outcomes = storage.delete_objects(caller, name, [(k, None) for k in key])
        failed = [k for k, done in outcomes if isinstance(done, Exception)]
        if failed:
            flash = Flash("error", f"{len(failed)} of {len(key)} objects could not be deleted.")
        else:
            flash = Flash("success", f"Deleted {what}.")
        return pages.redirect(request, back, flash)

    def details_page(
        request: Request,
        caller: Principal,
        name: str,
        key: str,
        share: str = "",
        expires: int = 3600,
    ) -> Response:
        meta = storage.head_object(caller, name, key, Conditions())
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        return pages.render(
            request,
            "storage/object.html",
            caller,
            name=name,
            key=key,
            meta=meta,
            content_type=meta.headers.get("content-type", "binary/octet-stream"),
            crumbs=breadcrumbs(name, folder),
            back=bucket_url(name, prefix=folder),
            download=bucket_url(name, "/download", key=key),
            delete=bucket_url(name, "/delete-objects"),
            share_action=bucket_url(name, "/share"),
            folder=folder,
            expiries=SHARE_EXPIRIES,
            expires=expires,
            share=share,
            share_until=(datetime.now(UTC) + timedelta(seconds=expires)).timestamp(),
        )

    @web.get("/object")
    def details(request: Request, name: str, key: str, caller: SignedIn) -> Response:
        return details_page(request, caller, name, key)

    @web.post("/share")
    def share(
        request: Request,
        name: str,
        caller: SignedIn,
        key: Text,
        expires: Annotated[int, Form()] = 3600,
    ) -> Response:
        """A presigned GET URL, signed with the account's internal key."""
        if expires not in {seconds for seconds, _ in SHARE_EXPIRIES}:
            expires = 3600
        storage.head_object(caller, name, key, Conditions())
        credentials = access_keys.signing_credentials(caller.account.id)
        url = presign_url(connect.endpoint, connect.region, credentials, "GET", name, key, expires)
        return details_page(request, caller, name, key, url, expires)

    @web.get("/download")
    def download(name: str, key: str, caller: SignedIn, version: str = "") -> Response:
        """The object's bytes: its current version, or the version S3 names ``version``."""
        opened = storage.open_object(caller, name, key, Conditions(), version=version or None)
        meta = opened.meta
        headers = {
            "content-length": str(meta.size),
            "content-disposition": attachment(key),
            "etag": f'"{meta.etag}"',
            # The bytes are the user's, served from the console's origin: never as a page.
            "content-security-policy": "default-src 'none'; sandbox",
        }
        return StreamingResponse(
            send_chunks(opened.chunks()),
            media_type=meta.headers.get("content-type", "application/octet-stream"),
            headers=headers,
        )

    return web
