"""Stopping `nexq serve` waits for what is under way, but only NEXQ_SHUTDOWN_SECONDS: a
TLS client that keeps an idle connection open (and never answers the server's close)
cannot hold the stop for 30 s, as it did before the setting (systemd would have waited,
and the tests' servers were killed after 20 s)."""

from __future__ import annotations

import signal
import socket
import ssl
import time
from pathlib import Path

import pytest

from tests.live import LiveServer


@pytest.mark.parametrize("seconds", [1.0, 4.0])
def test_an_idle_tls_client_holds_the_stop_no_longer_than_the_setting(
    tmp_path: Path, seconds: float
) -> None:
    server = LiveServer(
        tmp_path / "data",
        extra=("--self-signed",),
        scheme="https",
        env={"NEXQ_SHUTDOWN_SECONDS": str(seconds)},
    )
    server.start()
    assert server.process is not None
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", server.api_port))
    idle = context.wrap_socket(raw)
    try:
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(100).startswith(b"HTTP/1.1 200")  # then kept open, idle
        began = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(40)
        took = time.monotonic() - began
        server.process = None
        assert code == 0
        assert seconds - 0.5 <= took < seconds + 3, took  # held, then bounded
    finally:
        idle.close()
        server.stop()
