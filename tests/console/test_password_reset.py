"""Password reset, browser-free: the operator's `nexq admin account reset-password` prints a
one-time link; its page sets the password (console) or POST /v1/account/password-reset does
(REST); used, expired and unknown links get a clear page; the token is in no log."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.console.conftest import PASSWORD, TIMEOUT, csrf_of, fresh_email, session_cookie
from tests.live import LiveServer, nexq, nexq_json

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own, with its access log on: the tokens must not be in it."""
    live = LiveServer(tmp_path_factory.mktemp("reset") / "data", env={"NEXQ_ACCESS_LOG": "stderr"})
    live.start()
    yield live
    live.stop()
    live.remove_databases()


def reset_link(server: LiveServer, email: str) -> str:
    printed = nexq_json("admin", "account", "reset-password", email, data_dir=server.data_dir)
    assert printed["email"] == email
    assert printed["expires"].endswith("+00:00")
    link = str(printed["link"])
    # The running server's real address, so that the operator can hand the link on as is.
    assert link.startswith(f"{server.api_url}/reset-password/nxr_"), link
    return link


def logs(server: LiveServer) -> str:
    return "".join(p.read_text() for p in server.data_dir.parent.glob("server-*.log"))


def test_the_console_sets_a_new_password_through_the_link(server: LiveServer) -> None:
    email = server.account(fresh_email(), PASSWORD)
    old_session = session_cookie(server, email)
    link = reset_link(server, email)
    path = link.removeprefix(server.api_url)
    token = path.rsplit("/", 1)[1]
    with httpx.Client(base_url=server.api_url, timeout=TIMEOUT) as browser:
        page = browser.get(path)
        assert page.status_code == 200
        assert "Choose a new password" in page.text and email in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        csrf = csrf_of(page.text)

        differ = browser.post(
            path, data={"password": NEW_PASSWORD, "confirm": "something else", "csrf_token": csrf}
        )
        assert differ.status_code == 400 and "The two passwords differ" in differ.text
        short = browser.post(
            path, data={"password": "short", "confirm": "short", "csrf_token": csrf}
        )
        assert short.status_code == 400 and "10 to 1024 characters" in short.text

        done = browser.post(
            path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": csrf}
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/login?reason=password-reset"
        login = browser.get(done.headers["location"])
        assert "Your password has been set; log in with it." in login.text

        again = browser.get(path)
        assert again.status_code == 404
        assert "This link cannot be used" in again.text and "already been used" in again.text
        reused = browser.post(
            path,
            data={
                "password": "yet another password",
                "confirm": "yet another password",
                "csrf_token": csrf,
            },
        )
        assert reused.status_code == 404 and "ask your operator" in reused.text

    # The old session is logged out; the new password logs in, the old one no longer does.
    account_page = httpx.get(
        f"{server.api_url}/v1/account",
        headers={"Authorization": f"Bearer {old_session}"},
        timeout=TIMEOUT,
    )
    assert account_page.status_code == 401
    assert session_cookie(server, email, NEW_PASSWORD)
    refused = httpx.post(
        f"{server.api_url}/v1/login", json={"email": email, "password": PASSWORD}, timeout=TIMEOUT
    )
    assert refused.status_code == 401
    assert token not in logs(server)
    assert path not in logs(server)
    assert '"operation":"/reset-password/{token}"' in logs(server)  # logged, as its route


def test_expired_and_unknown_links_get_a_clear_page(server: LiveServer) -> None:
    email = server.account(fresh_email(), PASSWORD)
    path = reset_link(server, email).removeprefix(server.api_url)
    server.sql("UPDATE password_resets SET expires_at = 0")
    expired = httpx.get(server.api_url + path, timeout=TIMEOUT)
    assert expired.status_code == 404
    assert "has expired" in expired.text and "ask your operator" in expired.text
    unknown = httpx.get(f"{server.api_url}/reset-password/nxr_nothing", timeout=TIMEOUT)
    assert unknown.status_code == 404 and "unknown or has already been used" in unknown.text


def test_the_api_resets_once(server: LiveServer) -> None:
    email = server.account(fresh_email(), PASSWORD)
    token = reset_link(server, email).rsplit("/", 1)[1]
    with httpx.Client(base_url=server.api_url, timeout=TIMEOUT) as api:
        weak = api.post("/v1/account/password-reset", json={"token": token, "new_password": email})
        assert weak.status_code == 400, weak.text
        done = api.post(
            "/v1/account/password-reset", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert done.status_code == 204, done.text
        again = api.post(
            "/v1/account/password-reset", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert again.status_code == 404
        assert again.json()["type"] == "urn:nexq:problem:not-found"
        assert "already been used" in again.json()["detail"]
        login = api.post("/v1/login", json={"email": email, "password": NEW_PASSWORD})
        assert login.status_code == 201
    assert token not in logs(server)


def test_the_command_refuses_an_unknown_account(server: LiveServer) -> None:
    done = nexq(
        "admin",
        "account",
        "reset-password",
        "nobody@example.com",
        data_dir=server.data_dir,
        check=False,
    )
    assert done.returncode == 1
    assert "No account with the email nobody@example.com" in done.stderr
    assert re.search(r"nxr_\w+", done.stdout + done.stderr) is None


def test_the_login_page_says_what_to_do_when_the_password_is_lost(server: LiveServer) -> None:
    page = httpx.get(f"{server.api_url}/login", timeout=TIMEOUT)
    assert "Forgot password? Ask your operator for a password reset link." in page.text
