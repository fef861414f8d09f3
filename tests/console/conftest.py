"""Console fixtures: one live server and one headless Chromium for the console tests (each
module uses accounts of its own), a fresh browser context per test, signed in by a session
cookie obtained through the login form."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from nexq.accounts.tiers import default_tiers_text
from tests.compat.test_billing import TEST_TIER
from tests.live import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
XSS = "<img src=x onerror=alert(1)>"
TIMEOUT = 30  # argon2 on a busy CI machine can take seconds
_names = itertools.count()
_sessions: dict[tuple[str, str], str] = {}


def fresh_email(kind: str = "user") -> str:
    return f"{kind}{next(_names)}-{id(_names) % 10_000}@example.com"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has a CSRF field"
    return match.group(1)


def session_cookie(server: LiveServer, email: str, password: str = PASSWORD) -> str:
    """Log in through the console's form (as a browser would) and return the session token."""
    with httpx.Client(base_url=server.api_url, timeout=TIMEOUT) as client:
        token = csrf_of(client.get("/login").text)
        answer = client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text
        return str(answer.cookies["nexq_session"])


def make_account(server: LiveServer, kind: str = "user") -> str:
    """A new customer account (through the REST sign-up: no CLI process to start)."""
    email = fresh_email(kind)
    answer = httpx.post(
        f"{server.api_url}/v1/signup",
        json={"email": email, "password": PASSWORD},
        timeout=TIMEOUT,
        verify=False,  # the TLS test's certificate is self-signed
    )
    assert answer.status_code == 201, answer.text
    return email


def owner_s3(server: LiveServer, email: str) -> Any:
    """boto3 with a new All Buckets key of the account (made through the REST API)."""
    with httpx.Client(base_url=server.api_url, timeout=TIMEOUT) as api:
        login = api.post("/v1/login", json={"email": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        made = api.post(
            "/v1/storage/access-keys", json={"label": "tests", "buckets": "all"}, headers=headers
        ).json()
    return s3_client(server, made["access_key_id"], made["secret_access_key"])


def s3_client(server: LiveServer, key_id: str, secret: str) -> Any:
    """boto3 on the live server, one attempt per request: a retry never hides an error (a
    test that needs more than the Free tier's request rates raises them for its account)."""
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
        ),
    )


@dataclass
class Tab:
    """A browser page on the console, and every JavaScript dialog that tried to open."""

    page: Page
    context: BrowserContext
    server: LiveServer
    dialogs: list[str] = field(default_factory=list)

    def open(self, path: str) -> Page:
        self.page.goto(self.server.api_url + path)
        return self.page

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        """Sign this browser in; one login per account serves every test (argon2 is slow)."""
        token = _sessions.get((self.server.api_url, email))
        if token is None:
            token = _sessions[(self.server.api_url, email)] = session_cookie(
                self.server, email, password
            )
        self.context.add_cookies(
            [
                {
                    "name": "nexq_session",
                    "value": token,
                    "url": self.server.api_url,
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for every console module (starting one costs seconds)."""
    live = LiveServer(tmp_path_factory.mktemp("console") / "data")
    live.data_dir.mkdir()
    live.start()
    yield live
    live.stop()
    live.remove_databases()


@pytest.fixture(scope="package")
def priced_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second live server for Limits & Quotas and Billing: the shipped tiers (new accounts
    are Free) plus the "metered" tier of the billing tests, whose prices make a few requests
    cost visible money."""
    data = tmp_path_factory.mktemp("priced") / "data"
    data.mkdir()
    (data / "tiers.toml").write_text(default_tiers_text() + TEST_TIER)
    live = LiveServer(data)
    live.start()
    yield live
    live.stop()


@contextlib.contextmanager
def api_session(server: LiveServer, email: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """An httpx client of the REST API, signed in with a session token of the account."""
    with httpx.Client(base_url=server.api_url, timeout=TIMEOUT) as api:
        login = api.post("/v1/login", json={"email": email, "password": password})
        assert login.status_code == 201, login.text
        api.headers["Authorization"] = f"Bearer {login.json()['token']}"
        yield api


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """One headless Debian Chromium (never a downloaded browser), stopped when the console
    tests end so that Playwright's event loop does not outlive them."""
    # Expectations wait longer than Playwright's 5 s: a loaded 2-core CI machine hashes
    # passwords and starts uploads slowly, and auto-waiting costs nothing when things are fast.
    expect.set_options(timeout=20_000)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _tab(chromium: Browser, server: LiveServer, **options: Any) -> Iterator[Tab]:
    context = chromium.new_context(base_url=server.api_url, **options)
    page = context.new_page()
    tab = Tab(page, context, server)

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield tab
    context.close()
    # No page of the console ever opens alert()/confirm(): one that did would be injected.
    assert tab.dialogs == []


@pytest.fixture
def tab(chromium: Browser, server: LiveServer) -> Iterator[Tab]:
    """A fresh, signed-out browser context."""
    yield from _tab(chromium, server)


@pytest.fixture
def priced_tab(chromium: Browser, priced_server: LiveServer) -> Iterator[Tab]:
    """A fresh, signed-out browser context on the priced server."""
    yield from _tab(chromium, priced_server)


@pytest.fixture
def plain_tab(chromium: Browser, server: LiveServer) -> Iterator[Tab]:
    """A browser with JavaScript off: every flow must still work as plain forms."""
    yield from _tab(chromium, server, java_script_enabled=False)


@pytest.fixture(scope="module")
def user(server: LiveServer) -> str:
    """A customer account shared by the module's tests."""
    return make_account(server)


@pytest.fixture(scope="module")
def s3(server: LiveServer, user: str) -> Any:
    """boto3 for ``user``, with an All Buckets key."""
    return owner_s3(server, user)


@pytest.fixture
def signed_in(tab: Tab, user: str) -> Tab:
    tab.sign_in(user)
    return tab
