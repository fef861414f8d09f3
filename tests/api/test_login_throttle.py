"""Login throttling: per (account, address), counted before the password is checked, with an
account-wide backstop; addresses come from a proxy's headers only when it is trusted."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.conftest import PASSWORD, assert_problem, fresh_email
from tests.live import LiveServer

WRONG = "guess guess!"


def from_address(server: LiveServer, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (all of 127/8 is this host)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.api_url, transport=transport, timeout=30)


def attempt(client: httpx.Client, email: str, password: str, **headers: str) -> httpx.Response:
    return client.post("/v1/login", json={"email": email, "password": password}, headers=headers)


def test_a_strangers_guesses_do_not_lock_the_owner_out(server: LiveServer) -> None:
    email = server.account(fresh_email("owner"), PASSWORD)
    with from_address(server, "127.0.0.2") as stranger, from_address(server, "127.0.0.3") as owner:
        for _ in range(5):
            assert_problem(attempt(stranger, email, WRONG), 401, "unauthenticated")
        # The stranger's address waits, even with the right password ...
        blocked = attempt(stranger, email, PASSWORD)
        assert_problem(blocked, 429, "too-many-attempts")
        assert 0 < int(blocked.headers["retry-after"]) <= 10
        # ... while the owner, elsewhere, logs in.
        assert attempt(owner, email, PASSWORD).status_code == 201


def test_concurrent_guesses_cannot_all_pass_the_counter(server: LiveServer) -> None:
    """Twenty guesses at once used to be checked all twenty: each read the count before
    any failure was written."""
    email = server.account(fresh_email("burst"), PASSWORD)
    with from_address(server, "127.0.0.4") as guesser, ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: attempt(guesser, email, WRONG), range(20)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(401) == 5 and codes.count(429) == 15, codes


def test_a_client_cannot_choose_its_address_without_a_trusted_proxy(server: LiveServer) -> None:
    email = server.account(fresh_email("spoof"), PASSWORD)
    with from_address(server, "127.0.0.5") as guesser:
        for n in range(5):
            forged = {"x-forwarded-for": f"203.0.113.{n}"}
            assert_problem(attempt(guesser, email, WRONG, **forged), 401, "unauthenticated")
        forged = {"x-forwarded-for": "203.0.113.99"}
        assert_problem(attempt(guesser, email, WRONG, **forged), 429, "too-many-attempts")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server behind a (pretend) TLS-terminating proxy on 127.0.0.6."""
    live = LiveServer(
        tmp_path_factory.mktemp("proxied") / "data",
        extra=(
            "--trusted-proxies",
            "127.0.0.6",
            "--public-url",
            "https://cloud.example.com",
        ),
    )
    live.start()
    yield live
    live.stop()


def test_behind_a_trusted_proxy_the_forwarded_address_is_throttled(proxied: LiveServer) -> None:
    email = proxied.account(fresh_email("proxied"), PASSWORD)
    with from_address(proxied, "127.0.0.6") as proxy:
        for _ in range(5):
            wrong = attempt(proxy, email, WRONG, **{"x-forwarded-for": "203.0.113.7"})
            assert_problem(wrong, 401, "unauthenticated")
        blocked = attempt(proxy, email, PASSWORD, **{"x-forwarded-for": "203.0.113.7"})
        assert_problem(blocked, 429, "too-many-attempts")
        # Another client of the same proxy is another address.
        other = attempt(proxy, email, PASSWORD, **{"x-forwarded-for": "198.51.100.1"})
        assert other.status_code == 201
    # A client that reaches Nexq directly cannot pose as the proxy's clients.
    with from_address(proxied, "127.0.0.7") as direct:
        for n in range(5):
            forged = {"x-forwarded-for": f"198.51.100.{10 + n}"}
            assert_problem(attempt(direct, email, WRONG, **forged), 401, "unauthenticated")
        assert attempt(direct, email, PASSWORD).status_code == 429


def test_console_cookies_are_secure_behind_a_tls_terminating_proxy(proxied: LiveServer) -> None:
    """The proxy speaks plain HTTP to Nexq: the request scheme alone would drop Secure."""
    email = proxied.account(fresh_email("cookie"), PASSWORD)
    with from_address(proxied, "127.0.0.8") as browser:
        login_page = browser.get("/login")
        # The browser reaches the proxy over HTTPS, so it sends back Secure cookies; httpx,
        # talking plain HTTP to Nexq as the proxy does, would not: the test passes them on.
        anonymous = login_page.headers["set-cookie"]
        assert "Secure" in anonymous
        csrf = login_page.text.split('name="csrf_token" value="')[1].split('"')[0]
        signed_in = browser.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": csrf},
            headers={"cookie": anonymous.split(";")[0]},
        )
        assert signed_in.status_code == 303, signed_in.text
        cookie = signed_in.headers["set-cookie"]
        assert "nexq_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie


def test_without_a_public_url_cookies_follow_the_scheme(server: LiveServer) -> None:
    email = server.account(fresh_email("plain"), PASSWORD)
    with httpx.Client(base_url=server.api_url) as browser:
        csrf = browser.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        signed_in = browser.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": csrf},
            headers={"x-forwarded-proto": "https"},  # not believed: no trusted proxy
        )
        assert signed_in.status_code == 303
        assert "Secure" not in signed_in.headers["set-cookie"]
