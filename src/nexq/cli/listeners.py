"""Serving ASGI apps on pre-bound sockets in one worker process (uvicorn on uvloop)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# A request's head (request line and headers) must arrive within this many seconds of its
# first byte, or of the connection opening: a client trickling headers (slowloris) is cut
# off instead of holding a connection forever. nginx allows 60 s, Apache 20-40 s.
HEADER_TIMEOUT = 20.0

# What a listener answers when a request body stops arriving: status, headers, body.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
TimeoutAnswer = Callable[[Any], Answer]  # given the ASGI scope


def problem_timeout(scope: Any) -> Answer:
    """The control plane's answer to a stalled body: a 408 problem (docs/api.md, Errors)."""
    body = {
        "type": "urn:nexq:problem:request-timeout",
        "title": "Request timeout",
        "status": 408,
        "detail": "The request body stopped arriving; the connection is closed.",
    }
    return 408, [(b"content-type", b"application/problem+json")], json.dumps(body).encode()


class Listener(NamedTuple):
    """An ASGI app, the socket it is served on, and its answer to a stalled request body."""

    app: Any
    sock: socket.socket
    timeout_answer: TimeoutAnswer = problem_timeout
    # Its own certificate and key, served whatever the others serve (the databases' backup
    # listener is always HTTPS).
    tls: tuple[Path, Path] | None = None


class _Protocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with deadlines on request heads and idle request bodies,
    and pipelining fixed.

    Bodies: once a request's head is in, a body from which no byte arrives for
    :attr:`body_idle` seconds (while the server is reading: time that flow control holds
    the socket, or that a client waits for ``100 Continue``, is not the client's) is
    answered with the listener's :attr:`timeout_answer` (S3: 400 RequestTimeout) unless the
    response has begun, and the connection closed; the app sees the client leave, so it
    discards what it received. uvicorn has no such deadline: a body that stopped arriving
    held its connection, its coroutine and, for an upload, a temporary file, for ever. Like
    S3's (and nginx's ``client_body_timeout``) the deadline is between two reads, not on the
    whole body: a slow but steady upload is never cut off.

    Pipelining: uvicorn makes the newest (queued) request its ``cycle`` while an earlier one
    still runs, so when the client goes away only the queued request hears of it, and the
    running one then writes to a closed transport (a RuntimeError out of the app, logged
    as "Exception in ASGI application"). Every request still running is told here. And a
    malformed request after well-formed pipelined ones was answered 400 (and the connection
    closed) before them; its 400 now waits until they are answered, in order.
    """

    body_idle = 20.0  # set per listener by serve_forever
    timeout_answer: TimeoutAnswer = staticmethod(problem_timeout)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._running: list[Any] = []
        self._bad_request: str | None = None
        # The current request's body is still expected (from its head to its last byte).
        self._in_body = False
        self._body_seen = 0.0  # loop time of the body's latest byte (or its head's end)
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        earlier = self.cycle
        super().on_headers_complete()
        if self.cycle is not earlier:  # not an upgrade: a request that may have a body
            self._in_body = True
            self._body_seen = self.loop.time()
        if earlier is not None and earlier is not self.cycle and not earlier.response_complete:
            self._running = [c for c in self._running if not c.response_complete]
            self._running.append(earlier)

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Timed here, once per read rather than per parser event; a request without a body
        # is whole by now and arms nothing.
        if self._in_body:
            self._body_seen = self.loop.time()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.body_idle, self._check_body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._disarm_body_timer()
        self._disconnect_running()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._disarm_head_timer()
        current = self.cycle
        if current is not None and not current.more_body and self._answering():
            # The bad bytes follow whole requests still being answered: answer those first,
            # reading nothing more meanwhile.
            self._bad_request = msg
            self.flow.pause_reading()
            return
        # The bad bytes are in the body of the current request: it can never complete.
        if current is not None and not current.response_complete:
            self._running.append(current)
        self._disconnect_running()
        super().send_400_response(msg)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._bad_request is not None and not self._answering():
            msg, self._bad_request = self._bad_request, None
            if not self.transport.is_closing():
                super().send_400_response(msg)

    def _answering(self) -> bool:
        """Whether a request of this connection still awaits (or is sending) its answer."""
        running = self.cycle is not None and not self.cycle.response_complete
        return running or bool(self.pipeline)

    def _disconnect_running(self) -> None:
        for cycle in self._running:
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        self._running.clear()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(HEADER_TIMEOUT, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _disarm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _check_body(self) -> None:
        self._body_timer = None
        if not self._in_body or self.transport.is_closing():
            return
        now = self.loop.time()
        cycle = self.cycle
        if self.flow.read_paused or (
            cycle is not None
            and (
                cycle.waiting_for_100_continue
                or (cycle.response_started and not cycle.response_complete)
            )
        ):
            # The server is not reading (the app has not taken what came, or has not asked
            # for the body yet), or is busy answering: the client is not the one idle.
            self._body_seen = now
        idle = now - self._body_seen
        if idle < self.body_idle:
            self._body_timer = self.loop.call_later(self.body_idle - idle, self._check_body)
            return
        self._body_timed_out()

    def _body_timed_out(self) -> None:
        """Answer the stalled request (unless its response has begun) and hang up."""
        cycle = self.cycle
        self._in_body = False
        if cycle is not None and not cycle.response_started:
            status, headers, body = self.timeout_answer(cycle.scope)
            if cycle.scope["method"] == "HEAD":
                body = b""
            content = [STATUS_LINE[status]]
            for name, value in [*self.server_state.default_headers, *headers]:
                content.extend([name, b": ", value, b"\r\n"])
            content.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
            content.append(body)
            self.transport.write(b"".join(content))
        if cycle is not None and not cycle.response_complete:
            # The app hears that the client left (and drops whatever it still sends): it
            # discards the partial body as for any upload cut short.
            cycle.keep_alive = False
            cycle.disconnected = True
            cycle.message_event.set()
        self._disconnect_running()
        self.transport.close()


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`serve_forever`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _raise_descriptor_limit() -> None:
    """Take the hard limit on open files as the soft one (systemd's default soft limit is
    1,024): a download holds one descriptor per segment it reads, up to 10,000 for an object
    of as many parts, besides one per connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve_forever(
    listeners: list[Listener],
    tls_cert: Path | None,
    tls_key: Path | None,
    body_idle: float = 20.0,
    trusted_proxies: tuple[str, ...] = (),
    shutdown_seconds: float = 30.0,
) -> None:
    """Serve each app on its socket until SIGINT or SIGTERM, then stop them all gracefully.

    A request body from which no byte arrives for ``body_idle`` seconds is answered with the
    listener's ``timeout_answer`` and its connection closed. X-Forwarded-For and
    X-Forwarded-Proto are believed only from ``trusted_proxies`` (uvicorn's default would
    believe any local client). On SIGINT or SIGTERM, requests under way get
    ``shutdown_seconds`` to finish; then their connections are dropped (and so is a
    connection whose client stopped reading an answer already sent, which would otherwise
    hold the stop for ever).
    """
    _raise_descriptor_limit()
    tls: dict[str, Any] = {}
    if tls_cert and tls_key:
        tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}
    options: dict[str, Any] = {
        "lifespan": "off",
        "access_log": False,
        "log_level": "warning",
        "timeout_keep_alive": 30,
        "server_header": False,
        "date_header": True,
        "h11_max_incomplete_event_size": 64 * 1024,
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": list(trusted_proxies) or None,
        "timeout_graceful_shutdown": shutdown_seconds,
        **tls,
    }
    servers = []
    for listener in listeners:
        protocol = type(
            "_ListenerProtocol",
            (_Protocol,),
            {"body_idle": body_idle, "timeout_answer": staticmethod(listener.timeout_answer)},
        )
        own = options
        if listener.tls is not None:
            own = {
                **options,
                "ssl_certfile": str(listener.tls[0]),
                "ssl_keyfile": str(listener.tls[1]),
            }
        servers.append(_Server(uvicorn.Config(listener.app, http=protocol, **own)))

    def stop_all() -> None:
        for server in servers:
            server.should_exit = True

    async def main() -> None:
        # One handler stops every listener: with uvicorn's own, the server that starts last
        # takes the signal from the others, and a signal during start-up reaches only one.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop_all)
        await asyncio.gather(
            *(
                server.serve(sockets=[listener.sock])
                for server, listener in zip(servers, listeners, strict=True)
            )
        )

    uvloop.run(main())
