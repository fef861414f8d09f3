"""Serving ASGI apps on pre-bound sockets in one worker process (uvicorn on uvloop)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A request's head (request line and headers) must arrive within this many seconds of its
# first byte, or of the connection opening: a client trickling headers (slowloris) is cut
# off instead of holding a connection forever. nginx allows 60 s, Apache 20-40 s.
HEADER_TIMEOUT = 20.0


class _Protocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on request heads and pipelining fixed.

    Pipelining: uvicorn makes the newest (queued) request its ``cycle`` while an earlier one
    still runs, so when the client goes away only the queued request hears of it, and the
    running one then writes to a closed transport (a RuntimeError out of the app, logged
    as "Exception in ASGI application"). Every request still running is told here. And a
    malformed request after well-formed pipelined ones was answered 400 (and the connection
    closed) before them; its 400 now waits until they are answered, in order.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._running: list[Any] = []
        self._bad_request: str | None = None

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
        if earlier is not None and earlier is not self.cycle and not earlier.response_complete:
            self._running = [c for c in self._running if not c.response_complete]
            self._running.append(earlier)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
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


class _Listener(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`serve_forever`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_forever(
    apps: list[tuple[Any, socket.socket]], tls_cert: Path | None, tls_key: Path | None
) -> None:
    """Serve each app on its socket until SIGINT or SIGTERM, then stop them all gracefully."""
    tls: dict[str, Any] = {}
    if tls_cert and tls_key:
        tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}
    options: dict[str, Any] = {
        "lifespan": "off",
        "http": _Protocol,
        "access_log": False,
        "log_level": "warning",
        "timeout_keep_alive": 30,
        "server_header": False,
        "date_header": True,
        "h11_max_incomplete_event_size": 64 * 1024,
        **tls,
    }
    servers = [_Listener(uvicorn.Config(app, **options)) for app, _ in apps]

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
            *(server.serve(sockets=[sock]) for server, (_, sock) in zip(servers, apps, strict=True))
        )

    uvloop.run(main())
