"""The object browser with versions shown: every version and delete marker of each key, with
Download (that version), Restore (it becomes current again) and Delete version (for good).

Restoring copies the version onto its own key, as S3's console does: the copy is the new
current version, and in a bucket with versioning enabled nothing is lost on the way.
"""

import itertools
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from nexq.core.identity import Principal
from nexq.storage.conditions import Conditions
from nexq.storage.console.links import Connect, breadcrumbs, bucket_url
from nexq.storage.errors import InvalidArgument
from nexq.storage.service import NewContent, ObjectStorage
from nexq.storage.versions import ListedVersion, shown
from nexq.web.console.web import Flash, Pages

PAGE_SIZE = 100
Text = Annotated[str, Form()]


def by_key(versions: list[ListedVersion]) -> list[tuple[str, list[ListedVersion]]]:
    """The page's versions, grouped under their key (newest first within each)."""
    return [(key, list(group)) for key, group in itertools.groupby(versions, lambda v: v.key)]


def router(storage: ObjectStorage, pages: Pages, connect: Connect, part_bytes: int) -> APIRouter:
    """GET .../versions and the Restore and Delete version forms."""
    web = APIRouter(prefix="/storage/buckets/{name}")
    SignedIn = Annotated[Principal, Depends(pages.principal)]  # noqa: N806 - a type alias

    def ask_first(
        request: Request,
        caller: Principal,
        target: tuple[str, str, str, str, str],
        path: str,
        title: str,
        message: str,
        button: tuple[str, str | None],
    ) -> Response | None:
        """What a version action answers before acting: 404 for another's bucket, whatever the
        form says; a refusal without key and version; the confirmation page until confirmed.
        None when the action may go ahead."""
        name, key, version, prefix, confirm = target
        storage.bucket(caller, name)
        if not key or not version:
            raise InvalidArgument("Name the key and the version.")
        if confirm == "yes":
            return None
        style = {"style": button[1]} if button[1] else {}
        return pages.confirm(
            request,
            caller,
            title=title,
            message=message,
            action=bucket_url(name, path),
            button=button[0],
            fields=[("key", key), ("version", version), ("prefix", prefix)],
            back=bucket_url(name, "/versions", prefix=prefix),
            **style,
        )

    @web.get("/versions")
    def versions(
        request: Request,
        name: str,
        caller: SignedIn,
        prefix: str = "",
        key_marker: str = "",
        version_marker: str = "",
        page: int = 1,
    ) -> Response:
        # The header shows the bucket's Object Lock, which the cache may hold from before a
        # change made through another process (as on the Settings tab).
        storage.directory.refresh()
        stats = storage.bucket_stat(caller, name)
        listing = storage.list_versions(
            caller, name, prefix, "/", (key_marker or None, version_marker or None), PAGE_SIZE
        )
        next_url = ""
        if listing.is_truncated and listing.next_key_marker:
            next_url = bucket_url(
                name,
                "/versions",
                prefix=prefix,
                key_marker=listing.next_key_marker,
                version_marker=listing.next_version_id_marker or "",
                page=str(page + 1),
            )
        return pages.render(
            request,
            "storage/bucket_versions.html",
            caller,
            stats=stats,
            name=name,
            prefix=prefix,
            crumbs=breadcrumbs(name, prefix),
            groups=by_key(listing.versions),
            folders=listing.common_prefixes,
            page=max(page, 1),
            first_url=bucket_url(name, "/versions", prefix=prefix) if key_marker else "",
            next_url=next_url,
            part_bytes=part_bytes,
            bucket_url=bucket_url,
            connect=connect,
            shown=shown,
            showing_versions=True,
            lock=storage.lock_configuration(stats.bucket),
        )

    @web.post("/versions/restore")
    def restore(
        request: Request,
        name: str,
        caller: SignedIn,
        key: Text = "",
        version: Text = "",
        prefix: Text = "",
        confirm: Text = "",
    ) -> Response:
        back = bucket_url(name, "/versions", prefix=prefix)
        asked = ask_first(
            request,
            caller,
            (name, key, version, prefix, confirm),
            "/versions/restore",
            f"Restore version {version} of {key}?",
            "A copy of this version becomes the current version of the object. "
            "In a bucket with versioning enabled the version it replaces is kept.",
            ("Restore", "primary"),
        )
        if asked is not None:
            return asked
        made, _ = storage.copy_object(
            caller, (name, key, version), (name, key), Conditions(), None, NewContent({}, {})
        )
        flash = Flash(
            "success",
            f"Restored {key}: version {version} is current again "
            f"(as version {shown(made.version_id)}).",
        )
        return pages.redirect(request, back, flash)

    @web.post("/versions/delete")
    def delete_version(
        request: Request,
        name: str,
        caller: SignedIn,
        key: Text = "",
        version: Text = "",
        prefix: Text = "",
        confirm: Text = "",
    ) -> Response:
        back = bucket_url(name, "/versions", prefix=prefix)
        asked = ask_first(
            request,
            caller,
            (name, key, version, prefix, confirm),
            "/versions/delete",
            f"Delete version {version} of {key} permanently?",
            "The version is deleted for good and cannot be recovered. (Deleting a "
            "delete marker brings back the version before it.)",
            ("Delete version", None),
        )
        if asked is not None:
            return asked
        removal = storage.delete_object(caller, name, key, version)
        if removal.delete_marker:
            flash = Flash("success", f"Removed the delete marker {version} of {key}.")
        elif removal.removed:
            flash = Flash("success", f"Deleted version {version} of {key} permanently.")
        else:
            flash = Flash("info", f"Version {version} of {key} was already gone.")
        return pages.redirect(request, back, flash)

    return web
