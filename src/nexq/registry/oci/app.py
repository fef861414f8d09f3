"""The registry endpoint as an ASGI app: the OCI Distribution Specification v1.1.

Routing is by the end of the path, since a name may hold any number of components
(``/v2/<registry>/<repository path>/manifests/<reference>``). Every call to the stores runs
in the worker pool; request bodies are streamed to it (body.py), blob reads streamed out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from nexq.core import telemetry
from nexq.core.errors import DomainError, RateLimited
from nexq.core.identity import Unauthenticated
from nexq.core.quotas import NoQuotas, Quotas
from nexq.core.ratelimit import RateLimiter
from nexq.registry.access import ANONYMOUS, TOKEN_SECONDS, Caller, RegistryAuth
from nexq.registry.content import RATE_LIMIT, Content
from nexq.registry.errors import DigestInvalid, RangeInvalid, SizeInvalid
from nexq.registry.manifests import OCI_INDEX
from nexq.registry.metering import EGRESS, PULLS, PUSHES, RegistryMeter
from nexq.registry.model import MAX_MANIFEST_BYTES, Blob, Manifest
from nexq.registry.oci.body import BodyPipe
from nexq.registry.oci.errors import OciError, from_domain

log = logging.getLogger("nexq.registry")
T = TypeVar("T")
API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("manifest", re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")),
    ("upload", re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<id>[^/]*)$")),
    ("blob", re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$")),
    ("tags", re.compile(r"^/v2/(?P<name>.+)/tags/list$")),
    ("referrers", re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$")),
    ("catalog", re.compile(r"^/v2/(?:(?P<registry>[^/]+)/)?_catalog$")),
)
# An oversized manifest is read to its end (up to this much) before the 413: a refusal sent
# while the client, or a proxy in front of Nexq, is still sending is often lost to it as a
# closed connection instead.
_DRAIN_BYTES = 16 * 1024 * 1024
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Route:
    kind: str
    params: dict[str, str]


def route(path: str) -> Route | None:
    for kind, pattern in _ROUTES:
        if match := pattern.match(path):
            return Route(kind, {k: v for k, v in match.groupdict().items() if v is not None})
    return None


def _range_header(size: int) -> str:
    """The upload's progress as the spec writes it (inclusive; ``0-0`` when empty)."""
    return f"0-{max(size - 1, 0)}"


class RegistryApp:
    """ASGI application serving the OCI distribution protocol."""

    def __init__(
        self,
        content: Content,
        auth: RegistryAuth,
        executor: Executor,
        service: str | None = None,
        meter: RegistryMeter | None = None,
        rates: RateLimiter | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        self._content = content
        self._auth = auth
        self._executor = executor
        self._service = service  # the token service name; the Host header's when None
        self._meter = meter
        self._rates = rates
        self._quotas = quotas or NoQuotas()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._answer(request)
        except OciError as exc:
            response = self._error(exc, request)
        except DomainError as exc:
            telemetry.refusal_of("registry", exc)
            response = self._error(from_domain(exc), request)
        except (ClientDisconnect, ConnectionError):
            return  # the client left mid-request: nobody to answer, nothing was kept
        except Exception:
            log.exception("registry: %s %s failed", request.method, request.url.path)
            response = self._error(
                OciError("UNKNOWN", "internal error; the server's log has the details", 500),
                request,
            )
        response.headers.setdefault(*API_VERSION)
        await response(scope, receive, send)

    def _error(self, exc: OciError, request: Request) -> Response:
        headers = dict(exc.headers)
        if exc.status == 401:
            headers["WWW-Authenticate"] = self._challenge(request)
        body = b"" if request.method == "HEAD" else exc.body()
        return Response(body, exc.status, headers, media_type="application/json")

    def _challenge(self, request: Request) -> str:
        base = f"{request.url.scheme}://{request.headers.get('host', 'localhost')}"
        found = route(request.url.path)
        challenge = f'Bearer realm="{base}/v2/token",service="{self._service_name(request)}"'
        if found and "name" in found.params:
            actions = "pull,push" if request.method in _WRITES else "pull"
            challenge += f',scope="repository:{found.params["name"]}:{actions}"'
        return challenge

    def _service_name(self, request: Request) -> str:
        return self._service or request.headers.get("host", "localhost")

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, partial(call, *args)
        )

    async def _stream_in(self, request: Request, call: Callable[[Iterable[bytes]], T]) -> T:
        """Run ``call`` in the pool on the request body as it arrives."""
        pipe = BodyPipe(asyncio.get_running_loop())
        pump = asyncio.create_task(pipe.pump(request.stream()))
        try:
            return await self._run(call, pipe)
        finally:
            if not pump.done():
                pump.cancel()
            # Its failure (the client left) has reached the consumer already.
            with contextlib.suppress(asyncio.CancelledError, ClientDisconnect, ConnectionError):
                await pump

    async def _threaded(self, pieces: Iterator[Any]) -> Any:
        """A blocking iterator of a blob's bytes, read in the pool a piece at a time."""
        loop = asyncio.get_running_loop()
        done = object()
        while True:
            piece = await loop.run_in_executor(self._executor, next, pieces, done)
            if piece is done:
                return
            yield piece

    async def _counted(self, pieces: Any, account_id: str, registry_id: str) -> Any:
        """The pieces, with the bytes actually sent counted as egress (a client that stops
        reading is billed for what it got)."""
        sent = 0
        try:
            async for piece in pieces:
                yield piece
                sent += len(piece)
        finally:
            if self._meter is not None:
                self._meter.count(account_id, registry_id, EGRESS, sent)

    # authentication ----------------------------------------------------------------------

    async def _caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value:
            return await self._run(self._auth.bearer, value.strip())
        if scheme.lower() == "basic" and value:
            username, password = _basic(value)
            return await self._run(self._auth.login, username, password)
        raise OciError("UNAUTHORIZED", ANONYMOUS, 401)

    async def _token(self, request: Request) -> Response:
        """The token endpoint: Basic credentials (GET, as docker asks) or an OAuth2 password
        grant (POST, as containerd asks) in exchange for a bearer token."""
        if request.method == "POST":
            form = await request.form()
            if form.get("grant_type") != "password":
                raise OciError(
                    "UNSUPPORTED", "grant_type: only 'password' is supported (no refresh)", 400
                )
            username, password = str(form.get("username", "")), str(form.get("password", ""))
            caller: Caller | None = await self._run(self._auth.login, username, password)
        elif request.headers.get("authorization"):
            caller = await self._caller(request)
        else:
            # The token spec: a caller without credentials is anonymous and gets a token
            # granting nothing; the registry refuses what it then asks for (401), and clients
            # tell their user to log in instead of "invalid username/password".
            caller = None
        token = await self._run(self._auth.issue, caller)
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = {
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_SECONDS,
            "issued_at": issued,
        }
        return Response(json.dumps(body), 200, media_type="application/json")

    # routing -----------------------------------------------------------------------------

    async def _answer(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        if path == "/v2/token":
            request.scope["nexq.operation"] = f"{method} token"
            return await self._token(request)
        if path in ("/v2", "/v2/"):
            request.scope["nexq.operation"] = f"{method} base"
            await self._caller(request)
            return Response(b"{}", 200, media_type="application/json")
        found = route(path)
        if found is None:
            raise OciError("NOT_FOUND", f"{path} is not an endpoint of this registry", 404)
        caller = await self._caller(request)
        # What the listener's telemetry and access log say of the request (web.observe).
        request.scope["nexq.operation"] = f"{method} {found.kind}"
        request.scope["nexq.account"] = caller.account_id
        if self._rates is not None:
            limit = self._quotas.limit(caller.account_id, RATE_LIMIT)
            if wait := self._rates.take(f"{caller.account_id}/{RATE_LIMIT}", limit):
                raise RateLimited(RATE_LIMIT, wait)
        handler = _HANDLERS.get((found.kind, "GET" if method == "HEAD" else method))
        if handler is None:
            raise OciError("UNSUPPORTED", f"{method} is not allowed on {path}", 405)
        return await handler(self, request, caller, found.params)

    # blobs -------------------------------------------------------------------------------

    async def get_blob(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        registry, blob = await self._run(self._content.locate_blob, caller, p["name"], p["digest"])
        headers = {
            "Docker-Content-Digest": blob.digest,
            "ETag": f'"{blob.digest}"',
            "Accept-Ranges": "bytes",
            "Cache-Control": "max-age=31536000",
        }
        start, length, status = 0, blob.size, 200
        asked = request.headers.get("range", "")
        # RFC 9110 (14.2): a Range in a unit the server does not know MUST be ignored.
        if asked.strip().lower().startswith("bytes="):
            start, length = _byte_range(asked, blob.size)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{blob.size}"
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            return Response(None, status, headers, media_type="application/octet-stream")
        pieces = self._content.read_blob(blob, start, length)
        sent = self._counted(self._threaded(pieces), registry.account_id, registry.id)
        return StreamingResponse(sent, status, headers, media_type="application/octet-stream")

    async def delete_blob(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        await self._run(self._content.delete_blob, caller, p["name"], p["digest"])
        return Response(None, 202, {"Content-Length": "0"})

    # uploads -----------------------------------------------------------------------------

    async def start_upload(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        name, query = p["name"], request.query_params
        if p.get("id"):
            raise OciError("UNSUPPORTED", "POST starts an upload at .../blobs/uploads/", 405)
        mount = query.get("mount")
        if mount:
            blob = await self._run(self._content.mount, caller, name, mount, query.get("from"))
            if blob is not None:
                return _created_blob(name, blob)
        upload = await self._run(self._content.start_upload, caller, name)
        digest = query.get("digest")
        if digest:  # a single POST carrying the whole blob
            blob = await self._stream_in(
                request, partial(self._content.finish, caller, name, upload.id, digest)
            )
            return _created_blob(name, blob)
        return _upload_answer(202, name, upload.id, 0)

    async def upload_status(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        upload = await self._run(self._content.upload, caller, p["name"], p["id"])
        return _upload_answer(204, p["name"], upload.id, upload.size)

    async def _out_of_order(
        self, caller: Caller, p: dict[str, str], start: int | None
    ) -> Response | None:
        """The 416 a chunk that does not start where the upload ends gets, before its bytes
        are read (spec: chunks MUST be uploaded in order, else 416); None when in order."""
        if start is None:
            return None
        upload = await self._run(self._content.upload, caller, p["name"], p["id"])
        if start != upload.size:
            return _range_refused(p["name"], p["id"], start, upload.size)
        return None

    async def patch_upload(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        name, upload_id = p["name"], p["id"]
        start, length = _content_range(request)
        if refused := await self._out_of_order(caller, p, start):
            return refused
        declared = request.headers.get("content-length")
        if length is not None and declared and declared.isdigit() and int(declared) != length:
            # Refused before a byte is kept, as the reference registry does: the session
            # stays where it was.
            raise OciError(
                "SIZE_INVALID",
                f"Content-Length {declared} is not the {length} bytes of the Content-Range",
                400,
            )
        try:
            upload = await self._stream_in(
                request, partial(self._content.append, caller, name, upload_id, start=start)
            )
        except RangeInvalid as exc:
            return _range_refused(name, upload_id, start or 0, exc.size)
        if length is not None and start is not None and upload.size != start + length:
            raise SizeInvalid(
                f"Content-Range: {length} bytes were announced, {upload.size - start} came."
            )
        return _upload_answer(202, name, upload.id, upload.size)

    async def finish_upload(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        name, upload_id = p["name"], p["id"]
        digest = request.query_params.get("digest")
        if not digest:
            raise DigestInvalid("digest: the PUT that completes an upload names its digest.")
        # The closing PUT may carry the last chunk, with its Content-Range: in order too
        # (a range beside an empty body describes no chunk, and is let be).
        start, _ = _content_range(request)
        if request.headers.get("content-length") == "0":
            start = None
        if refused := await self._out_of_order(caller, p, start):
            return refused
        try:
            blob = await self._stream_in(
                request,
                partial(self._content.finish, caller, name, upload_id, digest, start=start),
            )
        except RangeInvalid as exc:
            return _range_refused(name, upload_id, start or 0, exc.size)
        return _created_blob(name, blob)

    async def cancel_upload(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        await self._run(self._content.cancel_upload, caller, p["name"], p["id"])
        return Response(None, 204)

    # manifests ---------------------------------------------------------------------------

    async def get_manifest(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        manifest, blob = await self._run(self._content.manifest, caller, p["name"], p["ref"])
        headers = {
            "Docker-Content-Digest": manifest.digest,
            "ETag": f'"{manifest.digest}"',
            "Content-Length": str(manifest.size),
        }
        if request.method == "HEAD":
            return Response(None, 200, headers, media_type=manifest.media_type)
        body = await self._run(self._content.manifest_bytes, blob)
        if self._meter is not None:
            self._meter.count(blob.account_id, manifest.registry_id, PULLS, 1)
            self._meter.count(blob.account_id, manifest.registry_id, EGRESS, len(body))
        return Response(body, 200, headers, media_type=manifest.media_type)

    async def put_manifest(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        name = p["name"]
        body = bytearray()
        received = 0
        async for data in request.stream():
            received += len(data)
            if received <= MAX_MANIFEST_BYTES:
                body += data
            elif received > _DRAIN_BYTES:
                break  # not worth reading on: the answer goes out, the connection closes
        if received > MAX_MANIFEST_BYTES:
            raise OciError(
                "SIZE_INVALID", f"manifest: larger than {MAX_MANIFEST_BYTES // 2**20} MiB", 413
            )
        manifest = await self._run(
            self._content.put_manifest,
            caller,
            name,
            p["ref"],
            request.headers.get("content-type"),
            bytes(body),
        )
        if self._meter is not None:
            self._meter.count(caller.account_id, manifest.registry_id, PUSHES, 1)
        headers = {
            "Location": f"/v2/{name}/manifests/{manifest.digest}",
            "Docker-Content-Digest": manifest.digest,
            "Content-Length": "0",
        }
        if manifest.subject:
            headers["OCI-Subject"] = manifest.subject
        return Response(None, 201, headers)

    async def delete_manifest(
        self, request: Request, caller: Caller, p: dict[str, str]
    ) -> Response:
        await self._run(self._content.delete_manifest, caller, p["name"], p["ref"])
        return Response(None, 202, {"Content-Length": "0"})

    # discovery ---------------------------------------------------------------------------

    async def list_tags(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        name = p["name"]
        n, last = _page(request)
        found = await self._run(
            self._content.tags, caller, name, None if n is None else n + 1, last
        )
        tags, after = _page_of(found, n)
        headers = {}
        if after is not None:
            query = urlencode({"n": n, "last": after})
            headers["Link"] = f'</v2/{name}/tags/list?{query}>; rel="next"'
        body = json.dumps({"name": name, "tags": tags})
        return Response(body, 200, headers, media_type="application/json")

    async def catalog(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        registry = p.get("registry")
        n, last = _page(request)
        found = await self._run(
            self._content.catalog, caller, registry, None if n is None else n + 1, last
        )
        names, after = _page_of(found, n)
        headers = {}
        if after is not None:
            prefix = f"/v2/{registry}" if registry else "/v2"
            query = urlencode({"n": n, "last": after})
            headers["Link"] = f'<{prefix}/_catalog?{query}>; rel="next"'
        body = json.dumps({"repositories": names})
        return Response(body, 200, headers, media_type="application/json")

    async def referrers(self, request: Request, caller: Caller, p: dict[str, str]) -> Response:
        wanted = request.query_params.get("artifactType")
        found = await self._run(self._content.referrers, caller, p["name"], p["digest"], wanted)
        body = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [_descriptor(m) for m in found],
        }
        headers = {"OCI-Filters-Applied": "artifactType"} if wanted else {}
        return Response(json.dumps(body), 200, headers, media_type=OCI_INDEX)


Handler = Callable[[RegistryApp, Request, Caller, dict[str, str]], Awaitable[Response]]
_HANDLERS: dict[tuple[str, str], Handler] = {
    ("blob", "GET"): RegistryApp.get_blob,
    ("blob", "DELETE"): RegistryApp.delete_blob,
    ("upload", "POST"): RegistryApp.start_upload,
    ("upload", "GET"): RegistryApp.upload_status,
    ("upload", "PATCH"): RegistryApp.patch_upload,
    ("upload", "PUT"): RegistryApp.finish_upload,
    ("upload", "DELETE"): RegistryApp.cancel_upload,
    ("manifest", "GET"): RegistryApp.get_manifest,
    ("manifest", "PUT"): RegistryApp.put_manifest,
    ("manifest", "DELETE"): RegistryApp.delete_manifest,
    ("tags", "GET"): RegistryApp.list_tags,
    ("catalog", "GET"): RegistryApp.catalog,
    ("referrers", "GET"): RegistryApp.referrers,
}


def _descriptor(manifest: Manifest) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": manifest.size,
    }
    if manifest.artifact_type:
        descriptor["artifactType"] = manifest.artifact_type
    if manifest.annotations:
        descriptor["annotations"] = json.loads(manifest.annotations)
    return descriptor


def _basic(value: str) -> tuple[str, str]:
    try:
        username, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise Unauthenticated("The Basic credentials are malformed.") from None
    return username, password


def _created_blob(name: str, blob: Blob) -> Response:
    headers = {
        "Location": f"/v2/{name}/blobs/{blob.digest}",
        "Docker-Content-Digest": blob.digest,
        "Content-Length": "0",
    }
    return Response(None, 201, headers)


def _upload_answer(status: int, name: str, upload_id: str, size: int) -> Response:
    headers = {
        "Location": f"/v2/{name}/blobs/uploads/{quote(upload_id)}",
        "Range": _range_header(size),
        "Docker-Upload-UUID": upload_id,
        "Blob-Upload-Session-ID": upload_id,
        "Content-Length": "0",
    }
    return Response(None, status, headers)


def _range_refused(name: str, upload_id: str, start: int, size: int) -> Response:
    """416 with the upload's progress, from which the client resumes."""
    error = OciError(
        "BLOB_UPLOAD_INVALID",
        f"Content-Range: the chunk starts at {start}, the upload holds {size} bytes",
        416,
    )
    answer = _upload_answer(416, name, upload_id, size)
    answer.body = error.body()
    answer.headers["Content-Length"] = str(len(answer.body))
    answer.headers["Content-Type"] = "application/json"
    return answer


def _content_range(request: Request) -> tuple[int | None, int | None]:
    """(start, length) a PATCH's Content-Range announces; (None, None) for a streamed one."""
    header = request.headers.get("content-range")
    if not header:
        return None, None
    match = _CONTENT_RANGE.match(header.strip())
    if not match or int(match.group(2)) < int(match.group(1)):
        raise OciError(
            "BLOB_UPLOAD_INVALID", f"Content-Range {header!r}: <start>-<end> expected", 416
        )
    start, end = int(match.group(1)), int(match.group(2))
    return start, end - start + 1


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """(start, length) of a single ``bytes=`` range of a blob of ``size`` bytes."""
    match = _RANGE.match(header.strip())
    if match and (match.group(1) or match.group(2)):
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:
            start, end = max(size - int(last), 0), size - 1
        if start < size and start <= end:
            return start, end - start + 1
    raise OciError(
        "BLOB_UNKNOWN",
        f"Range {header!r} is not satisfiable for a blob of {size} bytes",
        416,
        **{"Content-Range": f"bytes */{size}"},
    )


def _page_of(found: list[str], n: int | None) -> tuple[list[str], str | None]:
    """The entries to answer of ``found`` (fetched with one more than ``n``), and the last
    of them when more follow. Spec (end-8b): ``n=0`` is an empty list, with no Link."""
    if n is None or len(found) <= n:
        return found, None
    return found[:n], (found[n - 1] if n else None)


def _page(request: Request) -> tuple[int | None, str | None]:
    raw = request.query_params.get("n")
    if raw is None:
        return None, request.query_params.get("last")
    if not raw.isdigit():
        raise OciError("PAGINATION_NUMBER_INVALID", f"n={raw!r}: a number of entries", 400)
    return int(raw), request.query_params.get("last")
