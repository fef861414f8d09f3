"""The web console under attack: stored and reflected XSS in a real browser, session fixation,
CSRF on every state-changing route, cross-account access, and a seeded fuzz of every form.

Routes are not listed here: they are read from the console application itself
(``console_fuzz.console_routes``), so a route added later is attacked and fuzzed without a
change to this file, and one whose path parameter the suite cannot fill fails loudly.

Short form (CI): 3,000 fuzzed requests. Long form (``make fuzz``, ``NEXQ_RELIABILITY=long``):
20,000. ``NEXQ_CONSOLE_FUZZ_COUNT`` and ``NEXQ_CONSOLE_FUZZ_SEED`` choose otherwise;
``NEXQ_CONSOLE_FUZZ_REPORT`` names a JSON file for the figures (under ``make fuzz`` it is
``bench/console-fuzz-results.json``, beside ``NEXQ_FUZZ_REPORT``).
"""

from __future__ import annotations

import collections
import html
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.console.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    TIMEOUT,
    csrf_of,
    make_account,
    owner_s3,
)
from tests.live import Key, LiveServer, nexq
from tests.oci_push import push_image
from tests.reliability.console_fuzz import (
    ANONYMOUS_FORMS,
    EVIL_ORIGIN,
    XSS,
    Auth,
    Generator,
    Input,
    Route,
    State,
    Targets,
    changed_tables,
    console_routes,
    multipart,
    snapshot,
)
from tests.reliability.harness import build, env_int, exchange, scale, signed_request

COUNT = env_int("NEXQ_CONSOLE_FUZZ_COUNT", scale(3000, 20_000))
SEED = env_int("NEXQ_CONSOLE_FUZZ_SEED", 20261128)
VISA = "4242 4242 4242 4242"
YEAR = str(time.gmtime().tm_year + 2)
# Pages with no parameters that every signed-in account can open.
PAGES = [
    "/storage/buckets",
    "/storage/access-keys",
    "/storage/access-keys/new",
    "/storage/usage",
    "/account/api-keys",
    "/account/api-keys/new",
    "/account/limits",
    "/account/password",
    "/billing/overview",
    "/billing/invoices",
    "/billing/payment-methods",
    "/billing/payment-methods/new",
    "/billing/budget",
    "/registries",
    "/databases",
    "/databases/new",
    "/databases/new?mode=restore",
    "/compute/ssh-keys",
    "/compute/instances",
    "/compute/instances/new",
    "/compute/snapshots",
    "/compute/backups",
]
# What a payload would leave in the page had it been parsed as markup rather than text.
INJECTED = """() => {
  const found = [];
  const show = (el) => el.outerHTML.slice(0, 160);
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const url = ["href", "src", "action", "formaction", "data"].includes(attr.name);
      if (attr.name.startsWith("on") || (url && /^\\s*javascript:/i.test(attr.value))) {
        found.push(show(el));
      }
    }
  }
  const tags = 'img[src="x"], script:not([src]), iframe, object, embed, base, meta[http-equiv]';
  for (const el of document.querySelectorAll(tags)) found.push(show(el));
  return found;
}"""


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("console-attacks") / "data")
    live.data_dir.mkdir()
    live.start()
    yield live
    live.stop()
    live.remove_databases()


@pytest.fixture(scope="module")
def routes() -> list[Route]:
    found = console_routes()
    changing = {str(r) for r in found if r.changes_state}
    # The enumeration itself must work: these are known to exist.
    assert {"POST /storage/buckets", "POST /logout", "PUT /storage/buckets/{name}/object"} <= (
        changing
    ), changing
    assert len(changing) >= 25, changing
    return found


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    expect.set_options(timeout=20_000)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@dataclass
class XssTab:
    """A browser context that ignores the console's CSP, so that only escaping stands
    between a payload and its execution; every JavaScript dialog is recorded."""

    page: Page
    context: BrowserContext
    server: LiveServer
    dialogs: list[str] = field(default_factory=list)

    def open(self, path: str) -> Page:
        response = self.page.goto(self.server.api_url + path)
        assert response is not None
        # The real defence in depth is there even though this context bypasses it.
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        return self.page

    def sign_in(self, email: str) -> None:
        token = _login(self.server, email)
        self.context.add_cookies(
            [{"name": "nexq_session", "value": token, "url": self.server.api_url}]
        )

    def inert(self, *texts: str) -> None:
        """Nothing ran, nothing was injected, and each of ``texts`` is shown literally."""
        self.page.wait_for_load_state()
        found = self.page.evaluate(INJECTED)
        assert found == [], f"{self.page.url}: markup from user data became elements: {found}"
        assert self.dialogs == [], f"{self.page.url}: a script ran: {self.dialogs}"
        shown = self.page.evaluate("document.body.innerText")
        for text in texts:
            assert text in shown, f"{self.page.url}: {text!r} is not shown as text"


def _xss_tab(chromium: Browser, server: LiveServer, **options: Any) -> Iterator[XssTab]:
    context = chromium.new_context(base_url=server.api_url, bypass_csp=True, **options)
    page = context.new_page()
    tab = XssTab(page, context, server)

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield tab
    context.close()
    assert tab.dialogs == []


@pytest.fixture
def xss_tab(chromium: Browser, server: LiveServer) -> Iterator[XssTab]:
    yield from _xss_tab(chromium, server)


# An email address may carry markup: check_email only wants something@domain.tld.
MARKUP_EMAIL = 'x"><img/src=x/onerror=alert(11)>@example.com'


@pytest.fixture(scope="module")
def marked_user(server: LiveServer) -> str:
    """An account whose own email is a payload (it is shown in every page's header)."""
    answer = httpx.post(
        f"{server.api_url}/v1/signup",
        json={"email": MARKUP_EMAIL, "password": PASSWORD},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 201, answer.text
    return MARKUP_EMAIL


def _db(server: LiveServer) -> Path:
    return server.data_dir / "meta.db"


def _account_id(server: LiveServer, email: str) -> str:
    with sqlite3.connect(f"file:{_db(server)}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT id FROM accounts WHERE email = ?", (email,)).fetchone()
    assert row, email
    return str(row[0])


def _http(server: LiveServer, session: str | None = None, **options: Any) -> httpx.Client:
    """A client of the control plane (plain HTTP: no CA bundle to load for each client)."""
    cookies = {"nexq_session": session} if session else None
    return httpx.Client(
        base_url=server.api_url, timeout=TIMEOUT, verify=False, cookies=cookies, **options
    )


def _login(server: LiveServer, email: str) -> str:
    """A new console session of ``email``, through the login form as a browser does."""
    with _http(server) as browser:
        token = csrf_of(browser.get("/login").text)
        answer = browser.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text[:300]
        return str(answer.cookies["nexq_session"])


def _message(page: str) -> str:
    """The message of a console error page (or a script's JSON error)."""
    found = re.search(r'role="alert">([^<]*)<|"error":\s*"([^"]*)"', page)
    return html.unescape(found.group(1) or found.group(2)) if found else page[:120]


def _log(server: LiveServer) -> Path:
    return server.data_dir.parent / f"server-{server.s3_port}.log"


# --------------------------------------------------------------------------------- XSS


def test_the_detectors_see_an_injection(xss_tab: XssTab) -> None:
    """The checks below can fail: markup parsed into a console page (CSP and all, which this
    context bypasses) runs its handler and trips both detectors."""
    page = xss_tab.open("/login")
    injected = f"<p>{XSS[0]}</p><a href='javascript:void(0)'>x</a>"
    page.evaluate("html => document.body.insertAdjacentHTML('beforeend', html)", injected)
    found = page.evaluate(INJECTED)
    assert any("onerror" in f for f in found) and any("javascript:" in f for f in found)
    deadline = time.monotonic() + 10
    while not xss_tab.dialogs and time.monotonic() < deadline:
        xss_tab.page.wait_for_timeout(50)  # lets Playwright deliver the dialog event
    assert xss_tab.dialogs == ["1"]
    xss_tab.dialogs.clear()


def test_markup_in_keys_folders_and_metadata_is_text(
    xss_tab: XssTab, server: LiveServer, marked_user: str
) -> None:
    s3 = owner_s3(server, marked_user)
    bucket = "xss-objects"
    s3.create_bucket(Bucket=bucket)
    root_keys = [p for p in XSS if "/" not in p]
    folder = '"><svg onload=alert(21)>'
    content_type = 'text/html"><img src=x onerror=alert(22)>'
    disposition = 'attachment; filename="<img src=x onerror=alert(23)>.html"'
    metadata = {"note": XSS[1], "template": "{{7*7}}", "quote": "' onmouseover='alert(24)"}
    for key in root_keys:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=b"<script>alert(25)</script>",
            ContentType=content_type,
            ContentDisposition=disposition,
            CacheControl="<b>no-cache</b>",
            ContentLanguage="{{7*7}}",
            Metadata=metadata,
        )
    nested = f"{folder}/{XSS[3]}"  # a key whose slashes make folders of markup too
    s3.put_object(Bucket=bucket, Key=nested, Body=b"x")
    xss_tab.sign_in(marked_user)

    xss_tab.open("/storage/buckets")
    xss_tab.inert(marked_user, bucket)
    xss_tab.open(f"/storage/buckets/{bucket}")
    xss_tab.inert(*root_keys, folder + "/")
    xss_tab.page.get_by_role("link", name=folder + "/").click()
    expect(xss_tab.page.get_by_role("heading", name=bucket)).to_contain_text(folder)
    xss_tab.inert(folder, "</")  # the nested key's next folder level: "</" of "</script>"
    for key in [*root_keys, nested]:
        xss_tab.open(f"/storage/buckets/{bucket}/object?key={quote(key, safe='')}")
        xss_tab.inert(key)
        if key != nested:
            xss_tab.inert(content_type, disposition, "<b>no-cache</b>", *metadata.values())
            xss_tab.inert("{{7*7}}")  # never evaluated: the literal text is there
    # A share link of a markup key, and the delete dialog that names it.
    xss_tab.open(f"/storage/buckets/{bucket}/object?key={quote(root_keys[0], safe='')}")
    xss_tab.page.get_by_role("button", name="Create share link").click()
    expect(xss_tab.page.locator("#share-url")).to_have_value(re.compile("X-Amz-Signature"))
    xss_tab.inert()
    xss_tab.page.get_by_role("button", name=f"Delete {root_keys[0]}").click()
    expect(xss_tab.page.locator("#confirm-message")).to_have_text(
        f"Delete {root_keys[0]}? It cannot be recovered."
    )
    xss_tab.inert()
    xss_tab.page.locator("#confirm-cancel").click()
    # The confirmation page the server renders when no script asked (JS off) is inert too.
    with _console(server, marked_user) as (client, token):
        confirm = client.post(
            f"/storage/buckets/{bucket}/delete-objects",
            data={"key": root_keys, "csrf_token": token},
        )
    question = f"Delete {len(root_keys)} objects?"
    assert confirm.status_code == 200 and question in confirm.text
    xss_tab.page.set_content(confirm.text)
    xss_tab.inert(question)
    hidden = xss_tab.page.locator("input[name=key]").evaluate_all("els => els.map(e => e.value)")
    assert hidden == root_keys
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == len(root_keys) + 1


def test_markup_in_key_labels_and_names_is_text(
    xss_tab: XssTab, server: LiveServer, marked_user: str
) -> None:
    xss_tab.sign_in(marked_user)
    page = xss_tab.open("/storage/access-keys/new")
    label = XSS[0]
    page.get_by_label("Label").fill(label)
    page.get_by_role("button", name="Create Access Key").click()
    expect(page.get_by_role("heading", name="Access key created")).to_be_visible()
    xss_tab.inert(label)
    page = xss_tab.open("/storage/access-keys")
    xss_tab.inert(label)
    page.get_by_role("button", name=f"Revoke {label}").click()
    expect(page.locator("#confirm-message")).to_contain_text(f"Revoke {label}?")
    xss_tab.inert()
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_contain_text(f"Access key {label} (")
    xss_tab.inert(label)
    page.get_by_role("button", name=f"Delete {label}").click()
    expect(page.locator("#confirm-message")).to_contain_text(f"Delete the access key {label} (")
    xss_tab.inert()
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_contain_text("deleted")
    xss_tab.inert(label)

    name, description = XSS[1], XSS[2] + " {{7*7}}"
    page = xss_tab.open("/account/api-keys/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description").fill(description)
    page.get_by_role("button", name="Create API Key").click()
    expect(page.get_by_role("heading", name="API key created")).to_be_visible()
    xss_tab.inert(name)
    page = xss_tab.open("/account/api-keys")
    xss_tab.inert(name, description)
    page.get_by_role("button", name=f"Regenerate {name}").click()
    expect(page.locator("#confirm-message")).to_contain_text(f"Regenerate {name}?")
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("heading", name="API key regenerated")).to_be_visible()
    xss_tab.inert(name)
    page = xss_tab.open("/account/api-keys")
    page.get_by_role("button", name=f"Revoke {name}").click()
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(f"API key {name} revoked.")
    xss_tab.inert(name, description)
    # A refused name (too long) comes back in the form as a value, not as markup.
    page = xss_tab.open("/account/api-keys/new")
    page.get_by_label("Name").fill(XSS[0] * 20)
    page.get_by_role("button", name="Create API Key").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value(XSS[0] * 20)
    xss_tab.inert()


def test_markup_in_billing_forms_is_text(
    xss_tab: XssTab, server: LiveServer, marked_user: str
) -> None:
    xss_tab.sign_in(marked_user)
    email = "{{7*7}}'/=x@example.com"  # what an <input type=email> lets through
    webhook = 'https://hooks.example/"><img src=x onerror=alert(32)>'
    page = xss_tab.open("/billing/budget")
    page.get_by_label("Amount").fill("25.00")
    page.get_by_label("Thresholds").fill("50, 80")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Webhook URL").fill(webhook)
    page.get_by_role("button", name="Set budget").click()
    expect(page.get_by_role("status")).to_contain_text("Budget saved")
    expect(page.locator("#budget-email")).to_have_text(email)
    expect(page.locator("#budget-webhook")).to_have_text(webhook)
    expect(page.get_by_label("Webhook URL")).to_have_value(webhook)
    xss_tab.inert(email, webhook)
    page.get_by_label("Amount").fill(XSS[0])
    page.get_by_role("button", name="Save budget").click()
    expect(page.get_by_role("alert")).to_contain_text("amount")
    expect(page.get_by_label("Amount")).to_have_value(XSS[0])
    xss_tab.inert()
    # The server takes more than the browser's email check lets through: markup, sent directly.
    markup_email = '"><svg/onload=alert(31)>@example.com'
    with _console(server, marked_user) as (client, token):
        form = {"amount": "25", "email": markup_email, "webhook_url": webhook}
        saved = client.post("/billing/budget", data={**form, "csrf_token": token})
    assert saved.status_code == 303, saved.text[:300]
    page = xss_tab.open("/billing/budget")
    expect(page.locator("#budget-email")).to_have_text(markup_email)
    expect(page.get_by_label("Email")).to_have_value(markup_email)
    xss_tab.inert(markup_email, webhook)

    holder = XSS[1] + " {{7*7}}"
    page = xss_tab.open("/billing/payment-methods/new")
    page.get_by_label("Card number").fill(VISA)
    page.get_by_label("Month").select_option("12")
    page.get_by_label("Year").fill(YEAR)
    page.get_by_label("Name on the card").fill(holder)
    page.get_by_role("button", name="Add card").click()
    expect(page.get_by_role("status")).to_contain_text("Visa •••• 4242 added")
    xss_tab.inert(holder)
    page.get_by_role("link", name="Edit Visa •••• 4242").click()
    expect(page.get_by_label("Name on the card")).to_have_value(holder)
    xss_tab.inert()

    # Reflected: query strings and paths that pages and error pages repeat.
    xss_tab.open(f"/billing/overview?month={quote(XSS[0])}")
    xss_tab.inert(XSS[0])
    xss_tab.open(f"/storage/usage?start={quote(XSS[1])}&end={quote(XSS[2])}")
    xss_tab.inert("YYYY-MM-DD")
    xss_tab.open(f"/storage/buckets/{quote(XSS[0], safe='')}")
    xss_tab.inert(XSS[0])
    xss_tab.open(f"/storage/buckets/{quote(XSS[1], safe='')}/object?key={quote(XSS[2])}")
    xss_tab.inert()
    xss_tab.open(f"/databases/{quote(XSS[0], safe='')}")
    xss_tab.inert(XSS[0])
    for path in PAGES:  # every page of an account full of payloads
        xss_tab.open(path)
        xss_tab.inert(marked_user)


def test_bucket_names_cannot_carry_markup(xss_tab: XssTab, server: LiveServer) -> None:
    email = make_account(server, "namer")
    xss_tab.sign_in(email)
    page = xss_tab.open("/storage/buckets")
    for name in (XSS[0], XSS[4], "{{7*7}}"):
        page.get_by_label("Bucket name").fill(name)
        with page.expect_navigation():  # the refusal replaces the page that was refused before
            page.get_by_role("button", name="Create bucket").click()
        expect(page.locator("#bucket-name-error")).to_contain_text("Bucket name")
        expect(page.get_by_label("Bucket name")).to_have_value(name)
        xss_tab.inert()
    expect(page.get_by_role("heading", name="No buckets yet")).to_be_visible()


def test_login_page_reflects_next_as_text_and_never_leaves_the_site(
    xss_tab: XssTab, server: LiveServer
) -> None:
    email = make_account(server, "nexter")
    for target in ("javascript:alert(41)", '"><img src=x onerror=alert(42)>', "//evil.example"):
        page = xss_tab.open(f"/login?next={quote(target)}&reason={quote(XSS[0])}")
        xss_tab.inert()
        expect(page.locator("input[name=next]")).to_have_value(target)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/storage/buckets$"))
        xss_tab.context.clear_cookies()


# ---------------------------------------------------------------------------- sessions


class _console:  # noqa: N801 - used as a context manager, like a function
    """An httpx client signed in to the console, with the session's CSRF token."""

    def __init__(self, server: LiveServer, email: str) -> None:
        self.server, self.email = server, email

    def __enter__(self) -> tuple[httpx.Client, str]:
        token = _login(self.server, self.email)
        self.client = _http(self.server, token)
        return self.client, csrf_of(self.client.get("/storage/buckets").text)

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def _signed_in_as(server: LiveServer, session: str) -> str | None:
    """Whose console a session cookie opens (None: it sends the browser to log in)."""
    with _http(server, session) as client:
        answer = client.get("/storage/buckets")
    if answer.status_code == 303:
        assert "/login" in answer.headers["location"]
        return None
    assert answer.status_code == 200
    found = re.search(r'<span class="sr-only">Signed in as </span>([^<]+)</span>', answer.text)
    assert found, answer.text[:500]
    return found.group(1)


def test_a_session_cookie_planted_before_login_is_replaced(
    xss_tab: XssTab, server: LiveServer
) -> None:
    victim = make_account(server, "victim")
    # In the browser: a value the attacker chose, set before the victim logs in.
    planted = "nxs_" + "A" * 40
    xss_tab.context.add_cookies([{"name": "nexq_session", "value": planted, "url": server.api_url}])
    page = xss_tab.open("/login")
    page.get_by_label("Email").fill(victim)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/storage/buckets$"))
    expect(page.get_by_role("banner")).to_contain_text(victim)
    issued = {c["name"]: c["value"] for c in xss_tab.context.cookies()}["nexq_session"]
    assert issued != planted, "the server kept the session value chosen before login"
    assert _signed_in_as(server, issued) == victim
    assert _signed_in_as(server, planted) is None

    # Sent with the login form itself: a made-up value, and the attacker's own real session
    # (with its CSRF token, which its owner can read): the victim gets a new session, and
    # the attacker's stays the attacker's.
    attacker = make_account(server, "attacker")
    attackers_own = _login(server, attacker)
    for planted in ("nxs_" + "B" * 40, attackers_own):
        with _http(server, planted) as browser:
            page_with_form = browser.get(
                "/login" if planted != attackers_own else "/account/password"
            )
            token = csrf_of(page_with_form.text)
            answer = browser.post(
                "/login", data={"email": victim, "password": PASSWORD, "csrf_token": token}
            )
            assert answer.status_code == 303, answer.text
            issued = answer.cookies["nexq_session"]
        assert issued != planted
        assert _signed_in_as(server, issued) == victim
        assert _signed_in_as(server, planted) == (attacker if planted == attackers_own else None)


def test_logout_ends_the_session_on_the_server(server: LiveServer) -> None:
    email = make_account(server, "leaver")
    with _console(server, email) as (client, token):
        session = client.cookies["nexq_session"]
        assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    # The old value, replayed as a cookie or a bearer token, no longer opens anything.
    assert _signed_in_as(server, session) is None
    with _http(server, session) as replay:
        page = replay.get("/storage/usage")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login?reason=expired")
        made = replay.post("/storage/buckets", data={"name": "after-logout", "csrf_token": token})
        assert made.status_code == 303 and made.headers["location"].startswith("/login")
        api = replay.get("/v1/account", headers={"Authorization": f"Bearer {session}"})
        assert api.status_code == 401
    with sqlite3.connect(f"file:{_db(server)}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT 1 FROM buckets WHERE name = 'after-logout'").fetchone() is None


@dataclass
class _Account:
    email: str
    id: str
    bucket: str
    key: str


def _registry_with_an_image(client: httpx.Client, server: LiveServer, name: str) -> bool:
    """Create the registry ``name`` through the console (the client sends its CSRF token)
    and push an image to it with the credential shown once; False if it was refused."""
    made = client.post("/registries", data={"name": name})
    shown = {
        field: re.search(rf'id="registry-{field}"[^>]*value="([^"]*)"', made.text)
        for field in ("username", "token")
    }
    if made.status_code != 200 or not shown["username"] or not shown["token"]:
        return False
    username, token = (html.unescape(m.group(1)) for m in shown.values() if m)
    push_image(server, username, token, f"{name}/app/web", "v1", [name.encode()])
    return True


def _database(client: httpx.Client, name: str) -> bool:
    """Create the database ``name`` (the Free tier's one micro) through the console, whose
    answer shows its password; False if it was refused."""
    made = client.post("/databases", data={"name": name, "plan": "micro", "backups": "on"})
    return made.status_code == 200 and 'id="database-password"' in made.text


def _ssh_key(client: httpx.Client, name: str) -> bool:
    """Add a new Ed25519 public key named ``name`` through the console."""
    key = Ed25519PrivateKey.generate().public_key()
    text = key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    return client.post("/compute/ssh-keys", data={"name": name, "public_key": text}).is_redirect


def _instance(client: httpx.Client, name: str) -> bool:
    """Launch the instance ``name`` (the Free tier's one, the smallest size) through the
    console, with the account's default key; False if it was refused."""
    return client.post("/compute/instances", data={"name": name, "size": "nano"}).is_redirect


def _copies(server: LiveServer, client: httpx.Client, instance: str) -> None:
    """A snapshot and a backup of ``instance`` (taken through the console once it runs),
    then the instance stopped: the host's vCPUs are shared by every test account's."""
    deadline = time.monotonic() + 120  # TCG on a busy 2-core host
    while ">Running</span>" not in client.get(f"/compute/instances/{instance}").text:
        assert time.monotonic() < deadline, f"{instance} never ran"
        time.sleep(0.5)
    for kind in ("snapshots", "backups"):
        taken = client.post(f"/compute/instances/{instance}/{kind}", data={"name": f"{instance}-1"})
        assert taken.is_redirect
        assert f"{instance}-1" in client.get(f"/compute/{kind}").text, kind
    assert client.post(f"/compute/instances/{instance}/stop").is_redirect


def _stocked_account(server: LiveServer, kind: str) -> tuple[_Account, Targets]:
    """An account with one of everything a console URL can name."""
    email = make_account(server, kind)
    bucket = f"{kind}-bucket-{int(time.time() * 1000) % 10**8}"
    with _console(server, email) as (client, token):
        form = {"csrf_token": token}
        # The instance first: it boots while the rest is made, then its disk is copied.
        client.headers["x-csrf-token"] = token
        assert _ssh_key(client, f"{kind}-key")
        assert _instance(client, f"{kind}-vm")
        assert client.post("/storage/buckets", data={**form, "name": bucket}).status_code == 303
        h = {"x-csrf-token": token, "accept": "application/json"}
        put = client.put(
            f"/storage/buckets/{bucket}/object?key=secret.txt", content=b"s", headers=h
        )
        assert put.status_code == 200, put.text
        made = client.post(f"/storage/buckets/{bucket}/uploads", json={"key": "big"}, headers=h)
        assert made.status_code == 200, made.text
        assert (
            client.post("/storage/access-keys", data={**form, "label": f"{kind}-s3"}).status_code
            == 200
        )
        assert (
            client.post(
                "/account/api-keys",
                data={**form, "name": f"{kind}-api", "scopes": "storage:read"},
            ).status_code
            == 200
        )
        card = {**form, "number": VISA, "exp_month": "12", "exp_year": YEAR, "holder": kind}
        assert client.post("/billing/payment-methods", data=card).status_code == 303
        assert client.post("/billing/budget", data={**form, "amount": "7"}).status_code == 303
        ticket = {**form, "subject": f"{kind} ticket", "service": "Object Storage"}
        ticket |= {"severity": "Low", "description": "details"}
        opened = client.post(
            "/support/tickets", data=ticket, files={"files": ("log.txt", b"a log")}
        )
        assert opened.status_code == 303, opened.text[:300]
        client.headers["x-csrf-token"] = token
        assert _registry_with_an_image(client, server, f"{kind}-reg-{bucket.rsplit('-', 1)[1]}")
        assert _database(client, f"{kind}-db")
        _copies(server, client, f"{kind}-vm")
    account = _Account(email, _account_id(server, email), bucket, "secret.txt")
    return account, Targets.read(_db(server), account.id)


def test_a_session_never_reaches_another_accounts_data(
    server: LiveServer, routes: list[Route]
) -> None:
    """Every route that names a resource in its path, given the other account's ids."""
    mine, _ = _stocked_account(server, "alice")
    theirs, their_targets = _stocked_account(server, "bob")
    their_targets.invoices = ["NQ-202601-00000000"]  # no invoice exists on a fresh server
    tried, wrong = 0, []
    with _console(server, mine.email) as (client, token):
        before = snapshot(_db(server))
        for route in routes:
            # The guide's pages are public and nobody's (in PUBLIC_CONSOLE).
            if not route.path_params or str(route) in PUBLIC_CONSOLE:
                continue
            path = route.path
            for param in route.path_params:
                values = their_targets.path_values(route, param)
                assert values, f"{route}: the other account has no {param}"
                path = path.replace("{" + param + "}", quote(values[0], safe=""))
            query = {"key": theirs.key} if any(q.name == "key" for q in route.query) else {}
            headers = {"x-csrf-token": token}
            if route.body == "json":
                body: dict[str, Any] = {
                    "json": {"key": "big", "parts": [{"number": 1, "etag": "x"}]}
                }
            else:
                body = {"data": {"confirm": "yes", "key": theirs.key, "csrf_token": token}}
                if route.body == "multipart":
                    body["files"] = {"files": ("stolen.txt", b"x")}
            if route.method == "PUT":
                body = {"content": b"overwritten"}
            answer = client.request(route.method, path, params=query, headers=headers, **body)
            tried += 1
            if answer.status_code != 404:
                wrong.append(f"{route}: {answer.status_code} {_message(answer.text)}")
            # (A 404 may repeat the bucket name it was asked for, nothing else of theirs.)
            for secret in (theirs.email, "bob-s3", "bob-api", "Visa"):
                assert secret not in answer.text, (str(route), secret)
        # Their names appear on none of my pages either.
        for page in PAGES:
            text = client.get(page).text
            assert theirs.bucket not in text and "bob-api" not in text and "bob-s3" not in text
            assert "bob-db" not in text
        # Nor is their database a source to restore from, named in a link or not.
        restore = client.get("/databases/new", params={"mode": "restore", "source": "bob-db"})
        assert restore.status_code == 200 and "bob-db" not in restore.text
        made = client.post(
            "/databases",
            data={"mode": "restore", "source": "bob-db", "name": "stolen", "plan": "micro"},
            headers={"x-csrf-token": token},
        )
        assert made.status_code == 400
        assert "The account has no database named &#39;bob-db&#39;." in made.text
    assert tried >= 15
    assert changed_tables(before, snapshot(_db(server))) == []
    assert wrong == [], "404 expected, as if absent:\n" + "\n".join(wrong)


# --------------------------------------------------------------------------------- CSRF


def _plausible_form(route: Route, targets: Targets, tag: str) -> dict[str, Any]:
    """Fields that would make ``route`` act, were it not for the missing token."""
    values = {
        "name": f"csrf-{tag}",
        "confirm": "yes",
        "key": targets.keys[0] if targets.keys else "k",
        "label": "csrf",
        "scopes": "storage:read",
        "tier": "free",
        "current": "wrong",
        "new": "a new password!",
        "email": f"{tag}@example.com",
        "password": PASSWORD,
        "amount": "1",
        "number": VISA,
        "exp_month": "1",
        "exp_year": YEAR,
        "holder": "csrf",
        "expires": "3600",
        "access": "write",
        "confirm_name": _named(route, targets),
    }
    data: dict[str, Any] = {}
    for f in route.fields:
        if f.kind in ("text", "texts", "int"):
            data[f.name] = values.get(f.name, "x")
    return data


def _named(route: Route, targets: Targets) -> str:
    """The name a delete form must be given to act: its registry's or database's."""
    names = targets.registries
    if route.path.startswith("/databases/"):
        names = targets.databases
    elif route.path.startswith("/compute/instances/"):
        names = targets.instances
    return names[0] if names else "x"


CROSS_SITE = {"origin": EVIL_ORIGIN, "referer": EVIL_ORIGIN + "/", "sec-fetch-site": "cross-site"}


def _forgeries(route: Route, data: dict[str, Any], token: str | None) -> list[dict[str, Any]]:
    """What another site can make a browser send to ``route``: the form with ``token`` (or
    none) in the form field or the header, and JSON only as text/plain or with a header."""
    header = {"x-csrf-token": token} if token is not None else {}
    if route.body == "json":
        body = json.dumps({"key": "csrf", "parts": [{"number": 1, "etag": "x"}]})
        return [
            {"content": body, "headers": {**CROSS_SITE, "content-type": "text/plain"}},
            {
                "content": body,
                "headers": {**CROSS_SITE, "content-type": "application/json", **header},
            },
        ]
    if route.method == "PUT" and route.body is None:
        return [{"content": b"forged", "headers": {**CROSS_SITE, **header}}]
    form = dict(data) if token is None else {**data, "csrf_token": token}
    forged: dict[str, Any] = {"data": form, "headers": CROSS_SITE}
    if route.body == "multipart":
        forged["files"] = {"files": ("f.txt", b"x")}
    return [forged]


def test_cross_site_requests_without_the_token_are_refused_everywhere(
    server: LiveServer, routes: list[Route]
) -> None:
    mine, targets = _stocked_account(server, "carol")
    with _console(server, make_account(server, "other")) as (_, foreign):
        pass
    with _http(server) as stranger:
        anonymous = csrf_of(stranger.get("/login").text)
        anonymous_cookie = stranger.cookies["nexq_anonymous"]
    changing = [r for r in routes if r.changes_state]
    refused = 0
    with _console(server, mine.email) as (client, token):
        session = client.cookies["nexq_session"]
        for index, route in enumerate(changing):
            path = route.path
            for param in route.path_params:
                values = targets.path_values(route, param)
                assert values, f"{route}: no {param} to aim at"
                path = path.replace("{" + param + "}", quote(values[0], safe=""))
            params = {"key": targets.keys[0]} if any(q.name == "key" for q in route.query) else {}
            data = _plausible_form(route, targets, f"r{index}")
            attempts: list[tuple[str, dict[str, Any]]] = []
            for label, value in (
                ("none", None),
                ("empty", ""),
                ("another session's", foreign),
                ("a signed-out visitor's", anonymous),
                ("zeros", "0" * 64),
            ):
                if label == "a signed-out visitor's" and route.path in ANONYMOUS_FORMS:
                    continue  # that is the token logging in uses, by design
                attempts += [(label, r) for r in _forgeries(route, data, value)]
            for label, request in attempts:
                before = snapshot(_db(server))
                cookie = f"nexq_session={session}"
                if label == "a signed-out visitor's":
                    cookie += f"; nexq_anonymous={anonymous_cookie}"
                request["headers"] = {**request["headers"], "cookie": cookie}
                client.cookies.clear()
                answer = client.request(route.method, path, params=params, **request)
                assert answer.status_code == 403, (
                    str(route),
                    label,
                    answer.status_code,
                    answer.text[:300],
                )
                assert changed_tables(before, snapshot(_db(server))) == [], (str(route), label)
                refused += 1
            client.cookies.set("nexq_session", session)
            # The control: the same route with the token is not refused as CSRF (so the 403s
            # above were about the token). Destructive ones only ask for confirmation here.
            control = {k: v for k, v in data.items() if k not in ("confirm", "confirm_name")}
            headers = {"x-csrf-token": token, "accept": "text/html"}
            if route.path == "/logout":
                continue  # its control is test_logout_ends_the_session_on_the_server
            if route.body == "json":
                answer = client.request(route.method, path, json={"key": "k"}, headers=headers)
            elif route.method == "PUT" and route.body is None:
                answer = client.request(
                    route.method, path, params=params, content=b"ok", headers=headers
                )
            elif route.body == "multipart":
                answer = client.request(
                    route.method,
                    path,
                    data=control,
                    files={"files": ("f.txt", b"x")},
                    headers=headers,
                )
            else:
                answer = client.request(route.method, path, data=control, headers=headers)
            assert answer.status_code != 403, (str(route), answer.text[:300])
            assert answer.status_code < 500, (str(route), answer.text[:300])
    assert refused >= 5 * len(changing)


# ------------------------------------------------------------- what the fuzz found, fixed


def test_keys_s3_cannot_address_are_refused(server: LiveServer) -> None:
    """Found by the fuzz: the console stored objects under an empty key and keys with NUL,
    which no S3 request can name (``/bucket/`` is the bucket; NUL is an InvalidURI)."""
    email = make_account(server, "keys")
    with _console(server, email) as (client, token):
        assert client.post("/storage/buckets", data={"name": "keys-b", "csrf_token": token})
        before = snapshot(_db(server))
        script = {"x-csrf-token": token, "accept": "application/json"}
        for key in ("", "a\x00b"):
            put = client.put(
                "/storage/buckets/keys-b/object", params={"key": key}, content=b"x", headers=script
            )
            assert put.status_code == 400 and "key" in put.json()["error"].lower(), put.text
            made = client.post("/storage/buckets/keys-b/uploads", json={"key": key}, headers=script)
            assert made.status_code == 400, made.text
        for names in (["dir/"], ["\x00.txt"], ["first.txt", "y" * 1100], ["ok.txt", "/"]):
            # Built by hand: a client library would escape the NUL in a file name.
            parts: list[tuple[str | bytes, str | bytes, str | None, str | None]] = [
                ("csrf_token", token, None, None),
                ("prefix", "", None, None),
            ]
            parts += [("files", b"data", n, "text/plain") for n in names]
            form = client.post(
                "/storage/buckets/keys-b/upload",
                content=multipart(parts, "b0undary"),
                headers={"content-type": "multipart/form-data; boundary=b0undary"},
            )
            assert form.status_code == 400, (names, form.status_code)
            assert repr(names[-1])[:20] in _message(form.text), _message(form.text)
        # A refused upload form stores none of its files, not even the good ones before.
        assert changed_tables(before, snapshot(_db(server))) == []
        ok = client.post(
            "/storage/buckets/keys-b/upload",
            files=[("files", ("ok.txt", b"d"))],
            data={"prefix": "dir/", "csrf_token": token},
        )
        assert ok.status_code == 303
        assert "dir/ok.txt" in client.get("/storage/buckets/keys-b/object?key=dir/ok.txt").text


def test_usage_period_at_the_end_of_the_calendar_is_refused(server: LiveServer) -> None:
    """Found by the fuzz: ``end=9999-12-31`` was a 500 (the day after it does not exist)."""
    with _console(server, make_account(server, "calendar")) as (client, _):
        for start, end in (("9999-12-31", "9999-12-31"), ("9999-12-01", "9999-12-31")):
            page = client.get("/storage/usage", params={"start": start, "end": end})
            assert page.status_code == 400, page.status_code
            assert "Choose an end before 9999-12-31." in page.text
        for start, end in (("9999-12-01", "9999-12-30"), ("0001-01-01", "0001-01-31")):
            assert client.get("/storage/usage", params={"start": start, "end": end}).is_success


def test_budget_amounts_must_be_written_plainly(server: LiveServer) -> None:
    """Found by the fuzz: ``1E+999999999`` was a valid budget, and the budget page then wrote
    it out digit by digit (a billion of them: a page taking minutes and gigabytes)."""
    with _console(server, make_account(server, "budgeter")) as (client, token):
        for amount in ("1E+999999999", "1e3", "0.0000000000000000000000000001", "1" * 13, "٣"):
            refused = client.post("/billing/budget", data={"amount": amount, "csrf_token": token})
            assert refused.status_code == 400, amount
            assert "at most 12 digits before the point" in _message(refused.text), amount
        shown_as = (("25", "25.00 USD"), (" 999999999999.999999 ", "999999999999.999999"))
        for amount, shown in shown_as:
            saved = client.post("/billing/budget", data={"amount": amount, "csrf_token": token})
            assert saved.status_code == 303, (amount, _message(saved.text))
            assert shown in client.get("/billing/budget").text
        assert "amount: more than 0." in _message(
            client.post("/billing/budget", data={"amount": "-5", "csrf_token": token}).text
        )


def test_api_budget_amounts_are_bounded(server: LiveServer) -> None:
    email = make_account(server, "api-budget")
    with _http(server) as api:
        login = api.post("/v1/login", json={"email": email, "password": PASSWORD})
        bearer = {"authorization": f"Bearer {login.json()['token']}"}
        try:
            answer = api.put("/v1/billing/budget", json={"amount": "1E+999999999"}, headers=bearer)
            assert answer.status_code == 400, answer.text
        finally:
            api.delete("/v1/billing/budget", headers=bearer)


def test_api_usage_of_the_last_month_is_not_a_server_error(server: LiveServer) -> None:
    email = make_account(server, "api-usage")
    with _http(server) as api:
        login = api.post("/v1/login", json={"email": email, "password": PASSWORD})
        bearer = {"authorization": f"Bearer {login.json()['token']}"}
        answer = api.get("/v1/storage/usage", params={"month": "9999-12"}, headers=bearer)
    assert answer.status_code < 500, answer.text


# ---------------------------------------------------------------------------- form fuzz


@dataclass
class _Fuzzer:
    """The fuzzing session: its credentials, the server's log, and what was seen."""

    server: LiveServer
    email: str
    auth: Auth
    log_offset: int = 0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    families: collections.Counter[str] = field(default_factory=collections.Counter)
    routes: collections.Counter[str] = field(default_factory=collections.Counter)
    server_errors: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    csrf_not_refused: list[str] = field(default_factory=list)
    refused_but_changed: list[str] = field(default_factory=list)
    relogins: int = 0
    latencies: list[tuple[float, str]] = field(default_factory=list)

    def new_log(self) -> bytes:
        path = _log(self.server)
        size = path.stat().st_size
        if size == self.log_offset:
            return b""
        with path.open("rb") as f:
            f.seek(self.log_offset)
            data = f.read()
        self.log_offset = size
        return data

    def relogin(self) -> None:
        self.relogins += 1
        self.auth.session = _login(self.server, self.email)
        self.auth.csrf = self.csrf()

    def csrf(self) -> str:
        with _http(self.server, self.auth.session) as client:
            page = client.get("/storage/buckets")
        assert page.status_code == 200, page.status_code
        return csrf_of(page.text)

    def client(self) -> httpx.Client:
        return _http(self.server, self.auth.session, headers={"x-csrf-token": self.auth.csrf})

    def pages_work(self, targets: Targets) -> None:
        """The server is up and every page renders whatever the fuzz stored."""
        assert self.server.process is not None and self.server.process.poll() is None, "died"
        with self.client() as client:
            paths = list(PAGES)
            for bucket in targets.buckets[:3]:
                paths.append(f"/storage/buckets/{quote(bucket)}")
            for key in targets.keys[:10]:
                if targets.buckets:
                    paths.append(f"/storage/buckets/fuzz/object?key={quote(key, safe='')}")
            for card in targets.cards[:2]:
                paths.append(f"/billing/payment-methods/{card}/edit")
            for database in targets.databases[:2]:
                paths.append(f"/databases/{quote(database)}")
            for instance in targets.instances[:2]:
                paths.append(f"/compute/instances/{quote(instance)}")
            for path in paths:
                started = time.monotonic()
                answer = client.get(path)
                took = time.monotonic() - started
                assert answer.status_code < 500, (path, answer.status_code)
                assert took < 5, f"{path} took {took:.1f} s to render"
                if answer.status_code == 303:  # logged out by the fuzz's own /logout
                    self.relogin()
                    return self.pages_work(targets)

    def stock(self, targets: Targets) -> Targets:
        """Put back what the fuzz deleted, so that valid ids keep reaching the handlers."""
        with self.client() as client:
            if "fuzz" not in targets.buckets:
                client.post("/storage/buckets", data={"name": "fuzz"})
            if "fuzz" not in targets.registries:
                _registry_with_an_image(client, self.server, "fuzz")
            if "fuzz" not in targets.databases:
                _database(client, "fuzz")
            if not targets.ssh_keys:
                _ssh_key(client, f"fuzz-{time.monotonic_ns()}")
            if not targets.instances:
                _instance(client, "fuzz")
            if len(targets.keys) < 3:
                for key in ("k", "dir/sub/key.txt", "a"):
                    client.put(f"/storage/buckets/fuzz/object?key={key}", content=b"fuzz")
            if not targets.uploads:
                client.post("/storage/buckets/fuzz/uploads", json={"key": "k"})
            if not targets.access_keys:
                client.post("/storage/access-keys", data={"label": "fuzz"})
            if not targets.api_keys:
                client.post("/account/api-keys", data={"name": "fuzz", "scopes": "storage:read"})
            if not targets.cards:
                client.post(
                    "/billing/payment-methods",
                    data={"number": VISA, "exp_month": "12", "exp_year": YEAR, "holder": "F"},
                )
        return Targets.read(_db(self.server), targets.account_id)


def _send(port: int, item: Input) -> Any:
    data = build(item.method, item.target, item.headers, item.body)
    return exchange(port, data, timeout=15)


@pytest.mark.timeout(3600)
def test_fuzzed_console_forms_never_fail_the_server(
    server: LiveServer, routes: list[Route], tmp_path: Path
) -> None:
    email = make_account(server, "formfuzzer")
    other = make_account(server, "bystander")
    with _console(server, other) as (_, foreign_csrf):
        pass
    with _http(server) as stranger:
        anonymous = csrf_of(stranger.get("/login").text)
        anonymous_cookie = stranger.cookies["nexq_anonymous"]
    fuzzer = _Fuzzer(server, email, Auth("", "", foreign_csrf, anonymous, anonymous_cookie))
    fuzzer.relogin()
    fuzzer.relogins = 0
    account = _account_id(server, email)
    db = _db(server)
    targets = fuzzer.stock(Targets.read(db, account))
    generator = Generator(SEED, routes, f"127.0.0.1:{server.api_port}")
    fuzzer.new_log()  # only what the fuzz causes counts (earlier tests' open bugs log too)
    fuzz_log_starts = fuzzer.log_offset
    watch = State(db)
    state = watch.read()
    started = time.monotonic()
    for index in range(COUNT):
        item = generator.make(index, fuzzer.auth, targets)
        fuzzer.families[item.family] += 1
        fuzzer.routes[str(item.route)] += 1
        sent = time.monotonic()
        try:
            answer = _send(server.api_port, item)
            took = time.monotonic() - sent
            fuzzer.latencies.append((took, item.describe()[:200]))
        except (TimeoutError, OSError) as exc:
            fuzzer.unanswered.append(f"{exc!r}: {item.describe()}")
            continue
        if answer is None:
            fuzzer.statuses["closed"] += 1
            fuzzer.unanswered.append(f"closed: {item.describe()}")
            continue
        fuzzer.statuses[str(answer.status)] += 1
        if answer.status >= 500:
            fuzzer.server_errors.append(f"{answer.status}: {item.describe()}")
        if b"Traceback" in fuzzer.new_log():
            fuzzer.tracebacks.append(item.describe())
        if item.expects_csrf_refusal and answer.status != 403:
            fuzzer.csrf_not_refused.append(f"{answer.status}: {item.describe()}")
        if watch.committed():  # else nothing can have changed
            after = watch.read()
            if answer.status >= 400 and (changed := changed_tables(state, after)):
                fuzzer.refused_but_changed.append(f"{answer.status} {changed}: {item.describe()}")
            state = after
        logged_out = item.route.path == "/logout" and answer.status == 303
        if logged_out and _signed_in_as(server, fuzzer.auth.session) is None:
            fuzzer.relogin()
            watch.committed()
            state = watch.read()  # the new session is no input's doing
        if index % 250 == 249:
            targets = Targets.read(db, account)
            fuzzer.pages_work(targets)
            targets = fuzzer.stock(targets)
            watch.committed()
            state = watch.read()
    elapsed = time.monotonic() - started
    watch.close()
    targets = Targets.read(db, account)
    fuzzer.pages_work(targets)
    # Every key the console stored can be addressed by S3 (no empty key, no NUL).
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        unaddressable = conn.execute(
            "SELECT b.name, o.key FROM objects o JOIN buckets b ON b.id = o.bucket_id "
            "WHERE o.key = '' OR instr(o.key, char(0)) > 0 "
            "UNION ALL SELECT b.name, u.key FROM uploads u JOIN buckets b ON b.id = u.bucket_id "
            "WHERE u.key = '' OR instr(u.key, char(0)) > 0"
        ).fetchall()
    # What the console stored stays usable through the other doors: S3 lists every bucket.
    with fuzzer.client() as client:
        # (The fuzz may have moved the account to a tier whose key quota is now full.)
        assert client.post("/account/tier", data={"tier": "enterprise"}).status_code == 303
        made = client.post("/storage/access-keys", data={"label": "after the fuzz"})
        assert made.status_code == 200, made.text[:300]
        key_id = re.search(r'id="access-key-id"[^>]*value="([^"]+)"', made.text)
        secret = re.search(r'id="secret-access-key"[^>]*value="([^"]+)"', made.text)
    assert key_id and secret, "the created page shows the new key"
    key = Key(key_id.group(1), secret.group(1), email)
    for bucket in Targets.read(db, account).buckets:
        for query in ("list-type=2", "list-type=2&encoding-type=url", ""):
            listed = signed_request(server, key, "GET", f"/{bucket}", query)
            assert listed.status == 200, (bucket, query, listed.body[:300])
    with _log(server).open("rb") as f:
        f.seek(fuzz_log_starts)
        log = f.read().decode(errors="replace")
    report: dict[str, Any] = {
        "seed": SEED,
        "inputs": COUNT,
        "seconds": round(elapsed, 1),
        "routes_fuzzed": len(fuzzer.routes),
        "families": dict(fuzzer.families.most_common()),
        "statuses": dict(fuzzer.statuses.most_common()),
        "server_errors": fuzzer.server_errors[:50],
        "unanswered": fuzzer.unanswered[:50],
        "tracebacks": fuzzer.tracebacks[:50],
        "csrf_not_refused": fuzzer.csrf_not_refused[:50],
        "refused_but_changed": fuzzer.refused_but_changed[:50],
        "relogins_after_fuzzed_logout": fuzzer.relogins,
        "answer_ms_p50_p99_max": [
            round(1000 * sorted(fuzzer.latencies)[int(q * (len(fuzzer.latencies) - 1))][0], 1)
            for q in (0.5, 0.99, 1.0)
        ],
        "slowest": [f"{t * 1000:.0f} ms {d}" for t, d in sorted(fuzzer.latencies)[-5:]],
        "objects_left": len(snapshot(db)["objects"]),
        "unaddressable_keys": [repr(k) for k in unaddressable[:20]],
    }
    default = tmp_path / "console-fuzz-report.json"
    if os.environ.get("NEXQ_FUZZ_REPORT"):
        default = Path(os.environ["NEXQ_FUZZ_REPORT"]).with_name("console-fuzz-results.json")
    target = Path(os.environ.get("NEXQ_CONSOLE_FUZZ_REPORT") or default)
    target.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    changing = {str(r) for r in routes if r.changes_state}
    assert changing <= set(fuzzer.routes), changing - set(fuzzer.routes)
    assert not unaddressable, f"keys S3 cannot address: {unaddressable[:5]}"
    assert not fuzzer.server_errors, f"{len(fuzzer.server_errors)} 5xx: {fuzzer.server_errors[:5]}"
    assert not fuzzer.unanswered, f"{len(fuzzer.unanswered)}: {fuzzer.unanswered[:5]}"
    assert not fuzzer.tracebacks, f"tracebacks after: {fuzzer.tracebacks[:5]}"
    assert "Traceback" not in log, log[log.index("Traceback") - 300 :][:3000]
    assert not fuzzer.csrf_not_refused, fuzzer.csrf_not_refused[:5]
    assert not fuzzer.refused_but_changed, fuzzer.refused_but_changed[:5]


# Console routes that serve whoever asks: the pages for getting in, logging out, and the
# sections' bare paths, which only redirect to a page of the section (that one asks).
PUBLIC_CONSOLE = {
    "GET /",
    "GET /login",
    "POST /login",
    "GET /signup",
    "POST /signup",
    "POST /logout",
    "GET /storage",
    "GET /account",
    "GET /billing",
    "GET /support",
    # The user guide: public, as a documentation site is; it reads nobody's data.
    "GET /docs",
    "GET /docs/search",
    "GET /docs/{name}",
    "GET /docs/{name}/{slug}",
    "GET /docs/{name}/screenshots/{file}",
    # A password reset link: its token is the credential (one use, one hour), not a session.
    "GET /reset-password/{token}",
    "POST /reset-password/{token}",
}


def test_every_console_route_refuses_callers_without_a_live_session(
    server: LiveServer, routes: list[Route]
) -> None:
    """Every route of the console application (read from it, so a new route is covered)
    x no session, a logged-out session, and a suspended account's session: each is sent to
    log in (JSON callers get 401) and nothing changes, even with a valid CSRF token."""
    owner, targets = _stocked_account(server, "sessionless")
    targets.invoices = targets.invoices or ["NQ-202601-00000000"]  # none on a fresh server
    with _http(server) as anonymous:
        anonymous_token = csrf_of(anonymous.get("/login").text)
        anonymous_cookies = dict(anonymous.cookies)
    ended = _login(server, owner.email)
    with _http(server, ended) as client:
        ended_token = csrf_of(client.get("/storage/buckets").text)
        assert client.post("/logout", data={"csrf_token": ended_token}).status_code == 303
    suspended_email = make_account(server, "suspended-console")
    suspended = _login(server, suspended_email)
    with _http(server, suspended) as client:
        suspended_token = csrf_of(client.get("/storage/buckets").text)
    nexq("admin", "account", "suspend", suspended_email, data_dir=server.data_dir)
    callers = {
        "anonymous": (anonymous_cookies, anonymous_token),
        "logged-out": ({"nexq_session": ended}, ended_token),
        "suspended": ({"nexq_session": suspended}, suspended_token),
    }
    before = snapshot(_db(server))
    wrong, tried = [], 0
    try:
        for route in routes:
            if str(route) in PUBLIC_CONSOLE or route.path.startswith("/static"):
                continue
            path = route.path
            for param in route.path_params:
                path = path.replace("{" + param + "}", quote(targets.path_values(route, param)[0]))
            for caller, (cookies, token) in callers.items():
                as_json = route.body == "json"
                headers = {
                    "x-csrf-token": token,
                    "accept": "application/json" if as_json else "*/*",
                }
                with httpx.Client(
                    base_url=server.api_url, timeout=TIMEOUT, cookies=cookies
                ) as client:
                    answer = client.request(
                        route.method,
                        path,
                        params={"key": owner.key} if route.query else None,
                        headers=headers,
                        data=None if as_json or route.method == "GET" else {"csrf_token": token},
                        json={} if as_json else None,
                    )
                tried += 1
                location = answer.headers.get("location", "")
                refused = (
                    answer.status_code == 401 if as_json else answer.status_code == 303
                ) and (as_json or location.startswith("/login"))
                if not refused:
                    wrong.append(f"{route} x {caller}: {answer.status_code} {location}")
        after = snapshot(_db(server))
    finally:
        nexq("admin", "account", "resume", suspended_email, data_dir=server.data_dir)
    assert tried >= 3 * 30
    assert changed_tables(before, after) == []
    assert wrong == [], "\n".join(wrong)
