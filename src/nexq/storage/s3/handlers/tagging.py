"""Object tags: Put/Get/DeleteObjectTagging, of the latest version or of one by versionId."""

from __future__ import annotations

from collections.abc import Callable

from nexq.storage.conditions import Conditions
from nexq.storage.errors import DeleteMarkerFound
from nexq.storage.model import ObjectMeta
from nexq.storage.s3.body import read_small
from nexq.storage.s3.errors import missing_content_length
from nexq.storage.s3.handlers.common import Services, empty, version_header
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.tagging_xml import parse_object_tagging, render_tagging
from nexq.storage.versions import shown

MAX_TAGGING_BYTES = 64 * 1024


def _version_headers(req: S3Request, version_id: str | None) -> dict[str, str]:
    if "versionId" in req.query:
        return {"x-amz-version-id": shown(version_id)}
    return version_header(version_id)


def _not_on_markers(call: Callable[[], ObjectMeta]) -> Callable[[], ObjectMeta]:
    """S3 compat: the tagging calls answer a delete marker, the latest version or the one
    named, with 405 MethodNotAllowed (AWS's answer), where a read of the latest is NoSuchKey."""

    def guarded() -> ObjectMeta:
        try:
            return call()
        except DeleteMarkerFound as exc:
            raise DeleteMarkerFound(exc.version_id, exc.last_modified, asked=True) from None

    return guarded


async def _tag(req: S3Request, s: Services, tags: tuple[tuple[str, str], ...]) -> dict[str, str]:
    meta = await req.run(
        _not_on_markers(
            lambda: s.objects.tag_object(
                req.caller, req.bucket or "", req.key or "", req.query.get("versionId"), tags
            )
        )
    )
    return _version_headers(req, meta.version_id)


async def put_object_tagging(req: S3Request, s: Services) -> Response:
    body = await read_small(req, MAX_TAGGING_BYTES)
    if body is None:
        raise missing_content_length()
    tags = tuple(parse_object_tagging(body))
    return empty(200, await _tag(req, s, tags))


async def delete_object_tagging(req: S3Request, s: Services) -> Response:
    return empty(204, await _tag(req, s, ()))


async def get_object_tagging(req: S3Request, s: Services) -> Response:
    meta = await req.run(
        _not_on_markers(
            lambda: s.objects.head_object(
                req.caller,
                req.bucket or "",
                req.key or "",
                Conditions(),
                req.query.get("versionId"),
            )
        )
    )
    response = Response.xml(render_tagging(meta.tags))
    response.headers.update(_version_headers(req, meta.version_id))
    return response
