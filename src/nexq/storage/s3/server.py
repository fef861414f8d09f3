"""The S3 endpoint as a raw ASGI app: address, route, authenticate, handle, answer."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from typing import Any
from urllib.parse import unquote

from nexq.core import telemetry
from nexq.core.errors import DomainError, RateLimited
from nexq.core.ratelimit import RateLimiter
from nexq.storage.directory import Credential
from nexq.storage.errors import NoSuchKey
from nexq.storage.metering import BillingClass, Meter
from nexq.storage.s3 import cors_answers, sigv4, website
from nexq.storage.s3.acl_grants import AclGrants
from nexq.storage.s3.admission import admit, watch_body
from nexq.storage.s3.auth import Authenticator
from nexq.storage.s3.errors import (
    S3Error,
    access_denied,
    from_domain,
    internal_error,
    naming,
    render,
    request_timeout,
)
from nexq.storage.s3.handlers.common import Services
from nexq.storage.s3.http import Response, S3Request
from nexq.storage.s3.operations import BILLING, Access, Operation, route
from nexq.storage.s3.policies import BucketPolicies
from nexq.storage.s3.routes import HANDLERS
from nexq.storage.s3.website_endpoint import WebsiteEndpoint, host_of

_READS = (Access.READ, Access.LIST)
log = logging.getLogger("nexq.s3")
Scope = dict[str, Any]


class S3App:
    """ASGI application serving the S3 protocol."""

    def __init__(
        self,
        services: Services,
        authenticator: Authenticator,
        executor: Executor,
        domain: str | None,
        meter: Meter | None = None,
        rates: RateLimiter | None = None,
        *,
        reads_wait: bool = False,
        website_domain: str | None = None,
    ) -> None:
        self._services = services
        self._reads_wait = reads_wait  # S3Request.reads_wait
        self._meter = meter
        self._rates = rates
        self._auth = authenticator
        self._policies = BucketPolicies(services.objects.directory, services.acl.stored_object_tags)
        self._acls = AclGrants(services.acl)
        self._executor = executor
        self._domain_suffix = f".{domain}" if domain else None
        self._website_suffix = f".{website_domain.lower()}" if website_domain else None
        self._host_id = os.urandom(24).hex()
        # Request ids stay unique across worker processes: a random prefix per process.
        self._id_prefix = os.urandom(4).hex().upper()
        self._counter = 0
        self._websites = WebsiteEndpoint(
            services,
            executor,
            self._authenticate,
            self._send,
            self._count,
            meter,
            self._host_id,
            reads_wait=reads_wait,
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self._counter += 1
        request_id = f"{self._id_prefix}{self._counter:08X}"
        method = scope["method"]
        if self._website_suffix is not None:
            bucket = website.bucket_of(host_of(scope), self._website_suffix)
            if bucket is not None:
                await self._websites.serve(scope, receive, send, request_id, bucket)
                return
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        raw_path = raw_path.partition("?")[0]
        req: S3Request | None = None
        watched = watch_body(scope, receive)
        try:
            req = self._parse(scope, watched or receive, method, raw_path)
            # What the listener's telemetry and access log say of the request (web.observe).
            scope["nexq.operation"] = req.operation.value
            scope["nexq.request_id"] = request_id
            await admit(req, self._services)
            response = await HANDLERS[req.operation](req, self._services)
        except S3Error as exc:
            response = self._error(exc, request_id, method)
        except DomainError as exc:
            telemetry.refusal_of("s3", exc)
            error = from_domain(exc, method)
            if req is not None and req.absence_hidden and isinstance(exc, NoSuchKey):
                error = access_denied()
            elif req is not None and "x-amz-copy-source" not in req.headers:
                # (A copy's errors may be its source's or its target's: named by neither.)
                error = naming(
                    error,
                    req.bucket,
                    req.key,
                    req.query.get("uploadId"),
                    req.query.get("versionId"),
                )
            response = self._error(error, request_id, method)
        except Exception:
            log.exception("internal error in request %s %s %s", request_id, method, raw_path)
            response = self._error(internal_error(), request_id, method)
        if req is not None and req.credential is not None:  # authenticated, lazily
            scope["nexq.account"] = req.caller.account.id
        if req is not None and "origin" in req.headers:  # a browser's: the bucket's CORS
            cors_answers.add_actual_headers(req, response, self._services.objects.directory)
        if watched is not None and not watched.asked:
            # The client still holds the body it announced: this connection cannot carry
            # another request, as its next bytes may be that body or the next request.
            response.headers["connection"] = "close"
        sent = await self._send(send, receive, response, request_id, method)
        if self._meter is not None and req is not None:
            if req.credential is not None:
                self._count(self._meter, req, response.status, sent)
            elif req.operation is Operation.OPTIONS_OBJECT:
                directory = self._services.objects.directory
                cors_answers.count_preflight(self._meter, directory, req, response.status)

    def request_timeout(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The answer to a request whose body stopped arriving: 400 RequestTimeout.

        The listener times request bodies and sends this itself (``nexq.cli.listeners``);
        the request's handler then sees the client leave and discards what it received.
        """
        self._counter += 1
        request_id = f"{self._id_prefix}{self._counter:08X}"
        headers = [
            (b"x-amz-request-id", request_id.encode()),
            (b"x-amz-id-2", self._host_id.encode()),
            (b"server", b"Nexq"),
            (b"content-type", b"application/xml"),
        ]
        return 400, headers, render(request_timeout(), request_id, self._host_id)

    def _count(self, meter: Meter, req: S3Request, status: int, sent: int) -> None:
        """Meter a request whose caller was authenticated (see docs/metering.md for the rules)."""
        caller = req.caller
        billing = BILLING[req.operation]
        if req.bucket is None:
            meter.record(caller.account.id, "", "", billing)
            return
        directory = self._services.objects.directory
        if req.operation is Operation.CREATE_BUCKET and status < 300:
            bucket = directory.fresh_bucket(req.bucket)  # the cache may remember it absent
        else:
            bucket = directory.bucket(req.bucket)
        if bucket is None:
            return  # no such bucket: nobody to bill
        opened = bucket.id in caller.granted and status < 300
        if bucket.account_id != caller.account.id and not opened:
            # Requests refused to another account (or anyone) are shown to the owner but
            # never billed to them.
            meter.record(bucket.account_id, bucket.id, bucket.name, BillingClass.OTHER)
            return
        # As S3 (without Requester Pays): what the bucket's policy lets others do is billed
        # to the bucket's owner.
        data_out = sent if req.operation is Operation.GET_OBJECT and status < 300 else 0
        meter.record(bucket.account_id, bucket.id, bucket.name, billing, req.data_in, data_out)

    def _parse(self, scope: Scope, receive: Any, method: str, raw_path: str) -> S3Request:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        raw_query = scope.get("query_string", b"")
        query_list = sigv4.parse_query(raw_query)
        try:
            path = unquote(raw_path, errors="strict")
            query = {k: v or "" for k, v in query_list}
            for value in query.values():
                value.encode()
        except UnicodeError:
            raise S3Error("InvalidURI", "Couldn't parse the specified URI.", 400) from None
        if "\x00" in path:
            raise S3Error("InvalidURI", "Couldn't parse the specified URI.", 400)
        bucket: str | None
        host = headers.get("host", "").rsplit(":", 1)[0].lower()
        if self._domain_suffix and host.endswith(self._domain_suffix):
            bucket = host[: -len(self._domain_suffix)] or None
            key = path[1:] if bucket else None
        else:
            trimmed = path[1:]
            bucket_part, _, key_part = trimmed.partition("/")
            bucket = bucket_part or None
            key = key_part or None
        operation, access = route(method, bucket, key, query, "x-amz-copy-source" in headers)
        client = scope.get("client")
        return S3Request(
            method=method,
            raw_path=raw_path,
            bucket=bucket,
            key=key,
            query=query,
            query_list=query_list,
            raw_query=raw_query,
            headers=headers,
            operation=operation,
            access=access,
            receive=receive,
            executor=self._executor,
            authenticate=self._authenticate,
            reads_wait=self._reads_wait,
            client=client[0] if client else None,
            secure=scope.get("scheme") == "https",
            scheme=scope.get("scheme", "http"),
        )

    def _authenticate(self, req: S3Request) -> Credential:
        """Who signed the request, and what the bucket's policy and ACLs let them do; then the
        account's read or write rate must allow it (an anonymous caller's, the owner's)."""
        credential = self._auth.authenticate(req)
        anonymous = credential.principal.anonymous
        if anonymous and (req.bucket is None or req.operation is Operation.CREATE_BUCKET):
            raise access_denied("Anonymous access is not allowed; sign your request.")
        credential = self._policies.authorize(req, credential, req.client, req.secure)
        credential = self._acls.authorize(req, credential)  # after the policy: its Deny wins
        credential = self._policies.open_per_key(req, credential)
        if self._rates is not None:
            account_id = credential.key.account_id
            if anonymous:
                bucket = self._services.objects.directory.bucket(req.bucket or "")
                if bucket is None:
                    return credential  # NoSuchBucket follows; nobody's rate to take from
                account_id = bucket.account_id
            # ListBuckets reads the account (its access is SERVICE, as CreateBucket's is).
            read = req.access in _READS or req.operation is Operation.LIST_BUCKETS
            name = "s3_read_rps" if read else "s3_write_rps"
            limit = self._services.objects.quotas.limit(account_id, name)
            wait = self._rates.take(f"{account_id}/{name}", limit)
            if wait:
                raise RateLimited(name, wait)
        return credential

    def _error(self, exc: S3Error, request_id: str, method: str) -> Response:
        if exc.status == 304:
            return Response(304, dict(exc.headers))
        headers = {"content-type": "application/xml", **exc.headers}
        if exc.status in (503,):
            headers.setdefault("retry-after", "1")
        return Response(exc.status, headers, render(exc, request_id, self._host_id))

    async def _send(
        self, send: Any, receive: Any, response: Response, request_id: str, method: str
    ) -> int:
        """Send the response; returns the number of body bytes handed to the server."""
        headers = [
            (b"x-amz-request-id", request_id.encode()),
            (b"x-amz-id-2", self._host_id.encode()),
            (b"server", b"Nexq"),
        ]
        for name, value in response.headers.items():
            headers.append((name.encode("latin-1"), _header_value(value)))
        if "content-length" not in response.headers and response.stream is None:
            headers.append((b"content-length", str(len(response.body)).encode()))
        if method == "HEAD" and response.status >= 300:
            # S3 compat: errors to HEAD carry no body, and no length of the body not sent.
            headers = [h for h in headers if h[0] != b"content-length"]
            headers.append((b"content-length", b"0"))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return 0
        if response.stream is not None:
            return await _send_stream(send, receive, response.stream)
        await send({"type": "http.response.body", "body": response.body})
        return len(response.body)


async def _send_stream(send: Any, receive: Any, stream: AsyncIterator[bytes | memoryview]) -> int:
    """Send a streamed body, and stop reading the blob as soon as the client goes away.

    The server silently drops what is sent after a disconnect, so without watching for it a
    download abandoned at its first megabyte would still read the whole object from disk.
    """
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.ensure_future(watch())
    sent = 0
    try:
        async for chunk in stream:
            if gone.is_set():
                return sent
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += len(chunk)
        await send({"type": "http.response.body", "body": b""})
        return sent
    finally:
        watcher.cancel()
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _header_value(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        # Metadata values outside latin-1 are sent as UTF-8 bytes, as S3 stores them.
        return value.encode("utf-8")


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


__all__ = ["Operation", "S3App"]
