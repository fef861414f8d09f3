"""Every request a listener answers, counted (core.telemetry) and, if the operator asks, one
JSON line in the access log.

An app names what it understood of a request in its ASGI scope, which this wrapper reads
once the answer is sent: ``nexq.operation`` (S3's ``GetObject``; the REST and console apps
leave it to their router's ``route``), ``nexq.account`` (the caller's account id once
authenticated) and ``nexq.request_id`` (the id the client was given, when the protocol
gives one). Nothing else of the request is logged: no query string (presigned URLs carry
signatures), no header, no body.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from nexq.core import telemetry

ACCESS = logging.getLogger("nexq.access")
Scope = dict[str, Any]
ASGIApp = Any


def _operation(scope: Scope) -> str:
    named = scope.get("nexq.operation")
    if named:
        return str(named)
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    root = scope.get("root_path") or ""
    return f"{root}{path}"


class Observed:
    """``app`` as ``service`` (s3, registry, control-plane), counted, and logged if
    ``access_log``; with its request paths unless not ``paths`` (the control plane's are
    logged as their route, e.g. ``/v1/databases/{name}``: a path is no place for a secret,
    but the log should not be where one leaks if a page ever puts one there)."""

    def __init__(self, app: ASGIApp, service: str, access_log: bool, paths: bool = True) -> None:
        self._app = app
        self._service = service
        self._access_log = access_log
        self._paths = paths
        self._prefix = os.urandom(4).hex().upper()
        self._counter = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)  # e.g. the S3 app's request_timeout

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        received = 0
        sent = 0
        status = 0

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def counting_send(message: Any) -> None:
            nonlocal sent, status
            kind = message["type"]
            if kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, counting_receive, counting_send)
        finally:
            seconds = time.perf_counter() - started
            operation = _operation(scope)
            # A request the app never answered (the client left first) is a 499, as nginx
            # logs it.
            status = status or 499
            telemetry.request(self._service, operation, status, seconds, received, sent)
            if self._access_log:
                self._log(scope, operation, status, seconds, received, sent)

    def _log(
        self, scope: Scope, operation: str, status: int, seconds: float, received: int, sent: int
    ) -> None:
        request_id = scope.get("nexq.request_id")
        if request_id is None:
            self._counter += 1
            request_id = f"{self._prefix}{self._counter:08X}"
        client = scope.get("client")
        ACCESS.info(
            json.dumps(
                {
                    "time": round(time.time(), 3),
                    "request_id": request_id,
                    "service": self._service,
                    "operation": operation,
                    "method": scope["method"],
                    "path": scope.get("root_path", "") + scope["path"] if self._paths else None,
                    "status": status,
                    "account": scope.get("nexq.account"),
                    "bytes_in": received,
                    "bytes_out": sent,
                    "duration_ms": round(seconds * 1000, 3),
                    "client": client[0] if client else None,
                },
                separators=(",", ":"),
            )
        )


def access_log_to(target: str) -> bool:
    """Send ``nexq.access`` lines to ``target`` (``stderr``, or a file path, appended): the
    setting NEXQ_ACCESS_LOG; ``off`` (or empty) logs nothing. Whether lines are wanted."""
    if target in ("", "off"):
        return False
    handler: logging.Handler
    if target == "stderr":
        handler = logging.StreamHandler()
    else:
        handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    ACCESS.addHandler(handler)
    ACCESS.setLevel(logging.INFO)
    ACCESS.propagate = False  # a JSON line each, not the application log's format
    return True
