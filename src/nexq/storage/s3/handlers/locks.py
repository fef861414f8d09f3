"""Object Lock: Put/GetObjectLockConfiguration, Put/GetObjectRetention, Put/GetObjectLegalHold,
and the x-amz-object-lock-* headers of writes and reads."""

from __future__ import annotations

from nexq.storage.errors import InvalidArgument
from nexq.storage.locks import ObjectLocks
from nexq.storage.model import ObjectMeta
from nexq.storage.object_lock import (
    MODES,
    LockConfiguration,
    MalformedDefaultRetention,
    default_retention,
)
from nexq.storage.s3.body import read_small
from nexq.storage.s3.document import Fields, root_of
from nexq.storage.s3.errors import invalid_argument, malformed_xml, missing_content_length
from nexq.storage.s3.handlers.common import Services, empty, version_header
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.lock_headers import bypass_governance, parse_date
from nexq.storage.s3.xml import document, iso_time_millis
from nexq.storage.versions import shown

MAX_LOCK_BYTES = 64 * 1024


async def _body(req: S3Request) -> bytes:
    body = await read_small(req, MAX_LOCK_BYTES)
    if body is None:
        raise missing_content_length()
    return body


def _version_headers(req: S3Request, meta: ObjectMeta) -> dict[str, str]:
    if "versionId" in req.query:
        return {"x-amz-version-id": shown(meta.version_id)}
    return version_header(meta.version_id)


# the bucket's configuration ----------------------------------------------------------------
async def put_object_lock_configuration(req: S3Request, s: Services) -> Response:
    root = root_of(await _body(req), "ObjectLockConfiguration")
    fields = Fields(root, frozenset({"ObjectLockEnabled", "Rule"}))
    if fields.text("ObjectLockEnabled") != "Enabled":
        raise malformed_xml()
    config = LockConfiguration()
    rule = fields.element("Rule")
    if rule is not None:
        retention = Fields(rule, frozenset({"DefaultRetention"})).element("DefaultRetention")
        if retention is None:
            raise malformed_xml()
        parts = Fields(retention, frozenset({"Mode", "Days", "Years"}))
        mode, days, years = parts.text("Mode"), parts.integer("Days"), parts.integer("Years")
        if mode is None:  # an empty DefaultRetention is not "no default"
            raise malformed_xml()
        try:
            config = default_retention(mode, days, years)
        except MalformedDefaultRetention:
            raise malformed_xml() from None
        except InvalidArgument as exc:
            name, value = ("Days", days) if days is not None else ("Years", years)
            raise invalid_argument(exc.message, name, str(value)) from None
    await req.run(lambda: ObjectLocks(s.objects).configure(req.caller, req.bucket or "", config))
    return empty(200)


async def get_object_lock_configuration(req: S3Request, s: Services) -> Response:
    config = await req.run(
        lambda: ObjectLocks(s.objects).configuration(req.caller, req.bucket or "")
    )
    inner = "<ObjectLockEnabled>Enabled</ObjectLockEnabled>"
    if config.mode is not None:
        span = f"<Days>{config.days}</Days>" if config.days else f"<Years>{config.years}</Years>"
        inner += (
            f"<Rule><DefaultRetention><Mode>{config.mode}</Mode>{span}</DefaultRetention></Rule>"
        )
    return Response.xml(document("ObjectLockConfiguration", inner))


# a version's retention and legal hold ---------------------------------------------------
async def put_object_retention(req: S3Request, s: Services) -> Response:
    root = root_of(await _body(req), "Retention")
    fields = Fields(root, frozenset({"Mode", "RetainUntilDate"}))
    mode, until = fields.text("Mode"), fields.text("RetainUntilDate")
    if bool(mode) != bool(until):  # S3 compat: both or neither (which removes it), as AWS
        raise malformed_xml()
    if mode and mode not in MODES:  # the schema's enumeration (a header's is InvalidArgument)
        raise malformed_xml()
    retention = (mode, parse_date(until, "RetainUntilDate") if until else None)
    meta = await req.run(
        lambda: ObjectLocks(s.objects).set_retention(
            req.caller,
            req.bucket or "",
            req.key or "",
            req.query.get("versionId"),
            retention,
            bypass_governance(req),
        )
    )
    return empty(200, _version_headers(req, meta))


async def get_object_retention(req: S3Request, s: Services) -> Response:
    meta = await req.run(
        lambda: ObjectLocks(s.objects).retention(
            req.caller, req.bucket or "", req.key or "", req.query.get("versionId")
        )
    )
    until = iso_time_millis(meta.lock_until or 0.0)
    response = Response.xml(
        document(
            "Retention", f"<Mode>{meta.lock_mode}</Mode><RetainUntilDate>{until}</RetainUntilDate>"
        )
    )
    response.headers.update(_version_headers(req, meta))
    return response


async def put_object_legal_hold(req: S3Request, s: Services) -> Response:
    root = root_of(await _body(req), "LegalHold")
    status = Fields(root, frozenset({"Status"})).text("Status")
    if status not in ("ON", "OFF"):
        raise malformed_xml()
    meta = await req.run(
        lambda: ObjectLocks(s.objects).set_legal_hold(
            req.caller, req.bucket or "", req.key or "", req.query.get("versionId"), status == "ON"
        )
    )
    return empty(200, _version_headers(req, meta))


async def get_object_legal_hold(req: S3Request, s: Services) -> Response:
    meta = await req.run(
        lambda: ObjectLocks(s.objects).legal_hold(
            req.caller, req.bucket or "", req.key or "", req.query.get("versionId")
        )
    )
    status = "ON" if meta.legal_hold else "OFF"
    response = Response.xml(document("LegalHold", f"<Status>{status}</Status>"))
    response.headers.update(_version_headers(req, meta))
    return response
