"""Budget webhooks cannot reach what only the server can (issue 17, item 4): a live server with
no NEXQ_WEBHOOK_ALLOW refuses internal destinations when a URL is set and again when it would
post, while the account's notification still appears. (tests/compat/test_billing.py runs the
real send path to a local receiver that its server allows by name.)"""

from __future__ import annotations

import ipaddress
import itertools
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from nexq.accounts.tiers import default_tiers_text
from nexq.core.egress import why_not_public
from tests.compat.test_billing import TEST_TIER, customer, restart, traffic, until
from tests.live import LiveServer

_n = itertools.count()
TOKEN = "hook-t0ken-not-for-logs"


class Receiver(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        Receiver.received.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[int]:
    httpd = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("webhooks") / "data"
    data.mkdir()
    (data / "tiers.toml").write_text(default_tiers_text() + TEST_TIER)
    live = LiveServer(data)  # no NEXQ_WEBHOOK_ALLOW: public targets only
    live.start()
    yield live
    live.stop()


def test_internal_webhook_urls_are_refused_when_set(server: LiveServer, receiver: int) -> None:
    _, _, api = customer(server)
    for url, says in (
        (f"http://127.0.0.1:{receiver}/hook", "127.0.0.1 is a loopback address"),
        (f"http://127.0.0.1:{server.api_port}/v1/account", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.5/hook", "10.0.0.5 is a private address"),
        ("http://[::ffff:127.0.0.1]/", "an IPv4-mapped IPv6 address"),
        (f"http://localhost:{receiver}/hook", "localhost is a loopback name"),
    ):
        answer = api.put("/v1/billing/budget", json={"amount": "10", "webhook_url": url})
        assert answer.status_code == 400, url
        assert answer.headers["content-type"] == "application/problem+json"
        detail = answer.json()["detail"]
        assert detail.startswith("webhook_url: ") and says in detail
        assert "Nexq only posts to public addresses" in detail
    assert api.get("/v1/billing/budget").json() is None


def own_name() -> str | None:
    """This machine's name, when it resolves to an address Nexq must refuse (e.g. 127.0.1.1)."""
    name = socket.gethostname()
    try:
        addresses = {a[4][0] for a in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        return None
    refused = any(why_not_public(ipaddress.ip_address(a)) for a in addresses)
    return name if refused else None


def test_a_stored_internal_webhook_is_not_posted_to_and_the_notification_stays(
    server: LiveServer, receiver: int
) -> None:
    # Budgets as an older Nexq saved them, before the rule: written into the database.
    urls = [
        f"http://127.0.0.1:{receiver}/hook?token={TOKEN}",
        f"http://localhost:{receiver}/hook?token={TOKEN}",
    ]
    name = own_name()
    if name is not None:  # a name that DNS (here /etc/hosts) sends to a refused address
        urls.append(f"http://{name}:{receiver}/hook?token={TOKEN}")
    customers = []
    for url in urls:
        _, s3, api = customer(server)
        budget = {"amount": "0.01", "thresholds": [50], "webhook_url": "https://hooks.example/x"}
        assert api.put("/v1/billing/budget", json=budget).status_code == 200
        account_id = api.get("/v1/account").json()["id"]
        with sqlite3.connect(server.data_dir / "meta.db") as db:
            db.execute("UPDATE budgets SET webhook_url = ? WHERE account_id = ?", (url, account_id))
        traffic(server, s3)
        customers.append(api)
    restart(server)  # flushes the meters; the janitor then checks the budgets
    for api in customers:
        notes = until(lambda api=api: api.get("/v1/notifications").json())  # type: ignore[misc]
        assert len(notes) == 1 and "50% of your budget" in notes[0]["message"]
    log = server_log(server)
    deadline = time.monotonic() + 30
    while log.count("budget alert webhook of account") < len(urls):
        assert time.monotonic() < deadline, log[-2000:]
        time.sleep(0.25)
        log = server_log(server)
    assert Receiver.received == []
    assert "127.0.0.1 is a loopback address" in log
    assert "localhost is a loopback name" in log
    if name is not None:
        assert f"{name} resolves to " in log
    assert TOKEN not in log and "/hook" not in log


def server_log(server: LiveServer) -> str:
    return Path(server.data_dir.parent / f"server-{server.s3_port}.log").read_text()
