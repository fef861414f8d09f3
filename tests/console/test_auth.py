"""Getting in and out of the console, and what protects a session: sign-up, login, logout,
password change, expiry, brute-force slow-down, cookies, CSRF, CSP, the layout."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.conftest import (
    PASSWORD,
    TIMEOUT,
    Tab,
    csrf_of,
    fresh_email,
    make_account,
    session_cookie,
)
from tests.console.guide_screenshots import readme_screenshot
from tests.live import LiveServer


def log_in(tab: Tab, email: str, password: str) -> None:
    tab.page.get_by_label("Email").fill(email)
    tab.page.get_by_label("Password").fill(password)
    tab.page.get_by_role("button", name="Log in").click()


def test_sign_up_log_out_and_log_in_again(tab: Tab) -> None:
    page = tab.open("/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    readme_screenshot(page, "login")
    page.get_by_role("link", name="Create an account").click()
    email = fresh_email("signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("10 to 1024 characters")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(re.compile(r"/storage/buckets$"))
    expect(page.get_by_role("status")).to_contain_text("Welcome to Nexq")
    expect(page.get_by_role("banner")).to_contain_text(email)
    expect(page.get_by_role("heading", name="No buckets yet")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have been logged out.")
    tab.open("/storage/access-keys")
    expect(page).to_have_url(re.compile(r"/login\?reason=login&next=%2Fstorage%2Faccess-keys"))
    log_in(tab, email, "not the password")
    expect(page.get_by_role("alert")).to_have_text("The email or password is wrong.")
    expect(page.get_by_label("Email")).to_have_value(email)
    log_in(tab, email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/storage/access-keys$"))  # back where it was going
    expect(page.get_by_role("heading", name="Access Keys", exact=True)).to_be_visible()


def test_the_same_email_cannot_sign_up_twice(tab: Tab, user: str) -> None:
    page = tab.open("/signup")
    page.get_by_label("Email").fill(user.upper())
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("already exists")


def test_repeated_wrong_passwords_are_slowed_down(tab: Tab, server: LiveServer) -> None:
    email = make_account(server, "guessed")
    page = tab.open("/login")
    for _ in range(5):
        log_in(tab, email, "wrong guess!!")
        expect(page.get_by_role("alert")).to_have_text("The email or password is wrong.")
    log_in(tab, email, PASSWORD)  # even the right password waits now
    expect(page.get_by_role("alert")).to_contain_text("Too many failed logins")
    expect(page.get_by_role("alert")).to_contain_text("try again in")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_change_password(tab: Tab, server: LiveServer) -> None:
    email = make_account(server, "changer")
    other_session = session_cookie(server, email)
    tab.sign_in(email)
    page = tab.open("/account/password")
    new = "a brand new passphrase"

    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(new)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("The current password is wrong.")

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(new + "!")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("differ")

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(new)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed")

    # Other sessions ended; this one goes on; only the new password logs in.
    with httpx.Client(
        base_url=server.api_url, cookies={"nexq_session": other_session}, timeout=TIMEOUT
    ) as old:
        assert old.get("/storage/buckets").status_code == 303
    page.get_by_role("button", name="Log out").click()
    log_in(tab, email, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("The email or password is wrong.")
    log_in(tab, email, new)
    expect(page).to_have_url(re.compile(r"/storage/buckets$"))


def test_an_unknown_or_expired_session_asks_to_log_in_again(tab: Tab) -> None:
    tab.context.add_cookies(
        [{"name": "nexq_session", "value": "nxs_" + "x" * 40, "url": tab.server.api_url}]
    )
    page = tab.open("/storage/usage")
    expect(page).to_have_url(re.compile(r"/login\?reason=expired&next=%2Fstorage%2Fusage"))
    expect(page.get_by_role("status")).to_have_text("Your session has expired; log in again.")
    assert "nexq_session" not in {c["name"] for c in tab.context.cookies()}


def test_session_cookie_is_http_only_same_site_and_expires(tab: Tab, user: str) -> None:
    page = tab.open("/login")
    started = time.time()
    log_in(tab, user, PASSWORD)
    expect(page).to_have_url(re.compile(r"/storage/buckets$"))
    cookies = {c["name"]: c for c in tab.context.cookies()}
    session = cookies["nexq_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is False  # plain HTTP here; Secure is set behind TLS
    assert started + 11.9 * 3600 < session["expires"] < started + 12.1 * 3600
    assert cookies["nexq_anonymous"]["httpOnly"] is True
    # Script cannot read the session: document.cookie does not show it.
    assert "nexq_session" not in page.evaluate("document.cookie")


def test_security_headers_and_no_inline_script(tab: Tab, user: str) -> None:
    tab.sign_in(user)
    for path in (
        "/login",
        "/storage/buckets",
        "/storage/usage",
        "/account/api-keys",
        "/account/limits",
        "/billing/overview",
        "/billing/invoices",
        "/billing/payment-methods",
        "/billing/payment-methods/new",
        "/billing/budget",
    ):
        response = tab.page.goto(tab.server.api_url + path)
        assert response is not None
        headers = response.headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        expect(tab.page.locator("script:not([src])")).to_have_count(0)
        expect(tab.page.locator("[style]")).to_have_count(0)
    assets = httpx.get(tab.server.api_url + "/static/console.js", timeout=TIMEOUT)
    assert assets.status_code == 200 and "javascript" in assets.headers["content-type"]
    # The REST API keeps its own answers next to the console.
    missing = httpx.get(tab.server.api_url + "/v1/no-such-thing", timeout=TIMEOUT)
    assert missing.headers["content-type"] == "application/problem+json"


def test_state_changing_requests_need_the_csrf_token(server: LiveServer, user: str) -> None:
    session = session_cookie(server, user)
    with httpx.Client(
        base_url=server.api_url, cookies={"nexq_session": session}, timeout=TIMEOUT
    ) as browser:
        token = csrf_of(browser.get("/storage/buckets").text)
        refused = browser.post("/storage/buckets", data={"name": "csrf-forged"})
        assert refused.status_code == 403
        assert "came from another site" in refused.text
        wrong = browser.post(
            "/storage/buckets", data={"name": "csrf-forged", "csrf_token": "0" * 64}
        )
        assert wrong.status_code == 403
        script = browser.put(
            "/storage/buckets/csrf-forged/object?key=a",
            content=b"x",
            headers={"accept": "application/json"},
        )
        assert script.status_code == 403 and "error" in script.json()
        assert "csrf-forged" not in browser.get("/storage/buckets").text
        made = browser.post("/storage/buckets", data={"name": "csrf-forged", "csrf_token": token})
        assert made.status_code == 303
        assert "csrf-forged" in browser.get("/storage/buckets").text
        # A token from before login (or another session) does not work inside this one.
        with httpx.Client(base_url=server.api_url, timeout=TIMEOUT) as stranger:
            foreign = csrf_of(stranger.get("/login").text)
        assert browser.post("/logout", data={"csrf_token": foreign}).status_code == 403


def test_layout_navigation_and_keyboard(tab: Tab, user: str) -> None:
    tab.sign_in(user)
    page = tab.open("/storage/buckets")
    nav = page.get_by_role("navigation", name="Services")
    expect(nav.get_by_role("link", name="Buckets")).to_have_attribute("aria-current", "page")
    for name in (
        "Access Keys",
        "Usage",
        "API Keys",
        "Limits & Quotas",
        "Password",
        "Overview",
        "Invoices",
        "Payment methods",
        "Budget & alerts",
    ):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(nav.get_by_role("link", name="Container Registry")).to_be_visible()
    expect(nav.get_by_role("link", name="Databases")).to_be_visible()
    expect(nav.get_by_text("Compute", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="SSH Keys")).to_be_visible()
    expect(nav.get_by_text("Soon", exact=True)).to_have_count(0)  # every service is built
    # Keyboard only: type a name and press Enter to create a bucket.
    page.get_by_label("Bucket name").focus()
    page.keyboard.type("keyboard-made")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Bucket keyboard-made created")
    nav.get_by_role("link", name="Usage").click()
    expect(nav.get_by_role("link", name="Usage")).to_have_attribute("aria-current", "page")
    missing = tab.open("/no/such/page")
    expect(missing.get_by_role("heading", name="Page not found")).to_be_visible()


def test_cookies_are_secure_behind_tls(tmp_path_factory: pytest.TempPathFactory) -> None:
    live = LiveServer(
        tmp_path_factory.mktemp("tls") / "data",
        extra=("--self-signed", "--workers", "1"),
        scheme="https",
    )
    live.data_dir.mkdir()
    live.start()
    try:
        email = make_account(live, "tls")
        with httpx.Client(base_url=live.api_url, verify=False, timeout=TIMEOUT) as client:
            page = client.get("/login")
            assert "secure" in page.headers["set-cookie"].lower()
            answer = client.post(
                "/login",
                data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
            )
        cookie = answer.headers["set-cookie"].lower()
        assert answer.status_code == 303
        assert "nexq_session=" in cookie and "; secure" in cookie and "httponly" in cookie
    finally:
        live.stop()
