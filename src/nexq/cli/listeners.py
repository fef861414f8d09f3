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
