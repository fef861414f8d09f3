"""The website endpoint over ASGI: a request whose host names a bucket's website
(``<bucket>.<website domain>``), answered by ``website.answer`` with the objects it reads
through the S3 handlers, anonymously; then metered to the bucket's owner.

The S3 app hands such requests here (``S3App.__call__``) and lends what a read needs: who
may read (its authenticator: the bucket's policy and ACLs, the owner's read rate), the
worker pool, and its way of sending and of metering an answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any
from urllib.parse import unquote

from nexq.core.errors import DomainError
from nexq.storage.directory import Credential
from nexq.storage.errors import NoSuchKey
from nexq.storage.metering import BillingClass, Meter
from nexq.storage.model import Bucket
from nexq.storage.s3 import cors, website
from nexq.storage.s3.cors_answers import bucket_rules
from nexq.storage.s3.errors import S3Error, access_denied, from_domain, internal_error, naming
from nexq.storage.s3.handlers.common import Services
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.operations import Access, Operation
from nexq.storage.s3.routes import HANDLERS
from nexq.storage.website import SETTING, Website

log = logging.getLogger("nexq.s3")
Scope = dict[str, Any]
Send = Callable[[Any, Any, Response, str, str], Awaitable[int]]
Count = Callable[[Meter, S3Request, int, int], None]

# What a website request passes on to the object it reads: its conditions and range.
_PLAIN_HEADERS = frozenset({"host", "user-agent", "referer"})
_WEBSITE_HEADERS = _PLAIN_HEADERS | {
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
}


class WebsiteEndpoint:
    """Serves buckets' static websites on the S3 listener."""

    def __init__(
        self,
        services: Services,
        executor: Executor,
        authenticate: Callable[[S3Request], Credential],
        send: Send,
        count: Count,
        meter: Meter | None,
        host_id: str,
        *,
        reads_wait: bool,
    ) -> None:
        self._services = services
        self._executor = executor
        self._authenticate = authenticate
        self._send = send
        self._count = count
        self._meter = meter
        self._host_id = host_id
        self._reads_wait = reads_wait

    async def serve(
        self, scope: Scope, receive: Any, send: Any, request_id: str, bucket: str
    ) -> None:
        """Answer a request to ``bucket``'s website."""
        method = scope["method"]
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        fetched: list[S3Request] = []
        found: list[Bucket] = []

        async def fetch(key: str, plain: bool) -> Response:
            req = self._get(scope, receive, method, bucket, key, plain)
            fetched.append(req)
            try:
                return await HANDLERS[req.operation](req, self._services)
            except S3Error as exc:
                raise _absent(exc) if exc.code == "NoSuchKey" else exc from None
            except DomainError as exc:
                error = from_domain(exc, method)
                if not isinstance(exc, NoSuchKey):
                    raise error from None
                hidden = access_denied() if req.absence_hidden else None
                raise _absent(hidden or naming(error, bucket, key, None, None)) from None

        async def configuration() -> Website | None:
            owned, text = await self._configuration(bucket)
            found.append(owned)
            return Website.from_json(text) if text is not None else None

        scope["nexq.operation"] = "WebsiteGetObject" if method != "HEAD" else "WebsiteHeadObject"
        scope["nexq.request_id"] = request_id
        try:
            path = raw_path.partition("?")[0]
            visit = website.Visit(
                method,
                bucket,
                unquote(path, errors="strict")[1:],
                path,
                host_of(scope),
                "https" if scope.get("scheme") == "https" else "http",
            )
            if method == "OPTIONS":
                response = await self._preflight(scope, bucket, visit.key)
            else:
                response = await website.answer(visit, configuration, fetch)
        except S3Error as exc:
            response = self._error(exc, request_id)
        except DomainError as exc:
            response = self._error(from_domain(exc, method), request_id)
        except UnicodeError:
            error = S3Error("InvalidURI", "Couldn't parse the specified URI.", 400)
            response = self._error(error, request_id)
        except Exception:
            log.exception("internal error in website request %s %s", request_id, raw_path)
            response = self._error(internal_error(), request_id)
        if found and method != "OPTIONS":
            self._add_cors(scope, found[0], method, response)
        sent = await self._send(send, receive, response, request_id, method)
        if self._meter is None:
            return
        last = fetched[-1] if fetched else None
        if last is not None and last.credential is not None:
            self._count(self._meter, last, response.status, sent)
        elif found:
            # Answered without reading an object (a redirect, a refused method): a request
            # of the owner's site all the same, billed as S3 bills a website's redirects;
            # an error is shown to the owner, not billed.
            billing = BillingClass.B if response.status < 400 else BillingClass.OTHER
            owner = found[0]
            self._meter.record(owner.account_id, owner.id, owner.name, billing)

    async def _preflight(self, scope: Scope, bucket: str, key: str) -> Response:
        """A CORS preflight to the website, answered from the bucket's CORS rules as the REST
        endpoint answers it (a page for a refusal, as every website error)."""
        headers = _headers_of(scope)
        directory = self._services.objects.directory

        def rules() -> tuple[cors.CORSRule, ...] | None:
            directory.refresh()
            found = directory.bucket(bucket)
            if found is None:
                raise S3Error("AccessForbidden", "CORSResponse: Bucket not found", 403)
            return bucket_rules(directory, found)

        loop = asyncio.get_running_loop()
        allowed = cors.preflight(
            await loop.run_in_executor(self._executor, rules),
            headers.get("origin"),
            headers.get("access-control-request-method"),
            headers.get("access-control-request-headers"),
            "OBJECT" if key else "BUCKET",
        )
        return Response(200, {name.lower(): value for name, value in allowed.items()})

    def _add_cors(self, scope: Scope, bucket: Bucket, method: str, response: Response) -> None:
        """The CORS headers the bucket's rules give a request with an ``Origin`` (S3 compat:
        the website endpoint applies the bucket's CORS configuration, so a site's fonts and
        scripts can be fetched from other origins), errors included."""
        if not any(name == b"origin" for name, _ in scope["headers"]):
            return  # most requests: no dict of their headers made for nothing
        headers = _headers_of(scope)
        directory = self._services.objects.directory
        allowed = cors.actual_response_headers(
            bucket_rules(directory, bucket),  # cached: _configuration refreshed the directory
            headers["origin"],
            method,
            headers.get("access-control-request-method"),
            headers.get("access-control-request-headers"),
        )
        for name, value in allowed.items():
            response.headers[name.lower()] = value

    def _error(self, error: S3Error, request_id: str) -> Response:
        if error.status == 304:
            # A 304 has no body: a page after it would be read as the next response.
            return Response(304, dict(error.headers))
        return website.error_page(error, request_id, self._host_id)

    async def _configuration(self, bucket: str) -> tuple[Bucket, str | None]:
        """The bucket and its stored website configuration, or NoSuchBucket."""
        directory = self._services.objects.directory

        def lookup() -> tuple[Bucket, str | None]:
            # Nothing authenticated yet refreshed the caches for this request: do it here, so
            # a configuration changed by another process applies at once (as CORS does).
            directory.refresh()
            found = directory.bucket(bucket)
            if found is None:
                raise S3Error(
                    "NoSuchBucket",
                    "The specified bucket does not exist",
                    404,
                    {"BucketName": bucket},
                )
            return found, directory.setting(found, SETTING)

        return await asyncio.get_running_loop().run_in_executor(self._executor, lookup)

    def _get(
        self, scope: Scope, receive: Any, method: str, bucket: str, key: str, plain: bool
    ) -> S3Request:
        """An anonymous GET (HEAD) of ``key``, as the website endpoint reads its objects:
        the request's conditions and range kept (unless ``plain``), its credentials and query
        not (S3 compat: the website endpoint serves what is public, to anyone)."""
        kept = _PLAIN_HEADERS if plain else _WEBSITE_HEADERS
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            lower = name.decode("latin-1").lower()
            if lower in kept:
                headers[lower] = value.decode("latin-1")
        client = scope.get("client")
        head = method == "HEAD"
        return S3Request(
            method="HEAD" if head else "GET",
            raw_path=f"/{bucket}/{key}",
            bucket=bucket,
            key=key,
            query={},
            query_list=[],
            raw_query=b"",
            headers=headers,
            operation=Operation.HEAD_OBJECT if head else Operation.GET_OBJECT,
            access=Access.READ,
            receive=receive,
            executor=self._executor,
            authenticate=self._authenticate,
            reads_wait=self._reads_wait,
            client=client[0] if client else None,
            secure=scope.get("scheme") == "https",
            scheme=scope.get("scheme", "http"),
        )


def _headers_of(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }


def host_of(scope: Scope) -> str:
    """The request's ``Host`` header, as sent."""
    for name, value in scope["headers"]:
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


def _absent(error: S3Error) -> website.Absent:
    return website.Absent(error.code, error.message, error.status, error.extra, error.headers)
