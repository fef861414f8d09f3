"""API fixtures: httpx clients with bearer tokens against the module's live server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

from tests.live import BURST, LiveServer

_names = itertools.count()
PASSWORD = "correct horse battery"


def api(server: LiveServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.api_url, headers=headers, timeout=30)


def fresh_email(kind: str = "user") -> str:
    return f"{kind}{next(_names)}-{id(_names)}@example.com"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    """The answer is an RFC 9457 problem of this kind, with a readable detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["type"] == f"urn:nexq:problem:{slug}", body
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.fixture(scope="module")
def user(server: LiveServer) -> str:
    """A Free customer account's email, shared by the tests of a module. Raised limits:
    - api_rps: the module's tests call the API as this account back to back, faster than
      Free's 20 requests/s on a fast machine (tests/compat/test_quotas.py tests the rate);
    - buckets: test_storage.py's ``bucket`` fixture makes a bucket per test (Free has 10);
    - api_keys: test_api_keys.py makes a key or more per test (Free has 10)."""
    email = server.account(fresh_email(), PASSWORD)
    server.raise_limits(email, api_rps=BURST, buckets=100, api_keys=100)
    return email


@pytest.fixture(scope="module")
def client(server: LiveServer, user: str) -> Iterator[httpx.Client]:
    """The customer, with an every-scope API key."""
    with api(server, server.api_key(user)) as c:
        yield c
