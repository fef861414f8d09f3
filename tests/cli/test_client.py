"""NexqClient on its own: errors, pagination and token hygiene."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from nexq.client import ApiError, ClientError, NexqClient, Unreachable
from tests.cli.conftest import admin_api_key, api_url
from tests.live import LiveServer, free_port

TOKEN = "nxq_" + "s" * 40


def mocked(handler: Any) -> NexqClient:
    return NexqClient("http://api.test", TOKEN, transport=httpx.MockTransport(handler))


def test_problem_bodies_become_api_errors() -> None:
    problem = {
        "type": "urn:nexq:problem:not-found",
        "title": "Not found",
        "status": 404,
        "detail": "no bucket named 'x'",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        return httpx.Response(
            404, json=problem, headers={"content-type": "application/problem+json"}
        )

    with pytest.raises(ApiError) as caught, mocked(handler) as api:
        api.get_bucket("x")
    assert (caught.value.status, caught.value.type) == (404, "urn:nexq:problem:not-found")
    assert caught.value.detail == "no bucket named 'x'"
    assert caught.value.body == problem
    assert str(caught.value) == "no bucket named 'x'"


def test_a_body_that_is_not_json_still_makes_an_api_error() -> None:
    with (
        pytest.raises(ApiError) as caught,
        mocked(lambda r: httpx.Response(502, text="<html>Bad Gateway</html>")) as api,
    ):
        api.account()
    assert caught.value.status == 502
    assert caught.value.type == "about:blank"
    assert caught.value.detail == "HTTP 502 Bad Gateway"
    assert caught.value.body == "<html>Bad Gateway</html>"


def test_a_2xx_that_is_not_json_is_a_client_error() -> None:
    with (
        pytest.raises(ClientError) as caught,
        mocked(lambda r: httpx.Response(200, text="hello")) as api,
    ):
        api.account()
    assert not isinstance(caught.value, ApiError)


def test_lists_follow_next_cursor_until_null() -> None:
    pages = {None: (["a", "b"], "c1"), "c1": (["c"], "c2"), "c2": ([], None)}
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        items, cursor = pages[params.get("cursor")]
        return httpx.Response(200, json={"items": items, "next_cursor": cursor})

    with mocked(handler) as api:
        assert api.list_buckets() == ["a", "b", "c"]
    assert [p.get("cursor") for p in seen] == [None, "c1", "c2"]


def test_a_repeated_cursor_does_not_loop_forever() -> None:
    with (
        mocked(lambda r: httpx.Response(200, json={"items": [1], "next_cursor": "same"})) as api,
        pytest.raises(ClientError),
    ):
        api.list_access_keys()


def test_path_segments_are_escaped() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(204)

    with mocked(handler) as api:
        api.delete_object("b", "a/b c?d#e")
        api.delete_object("b", "..")
    assert paths == [
        "/v1/storage/buckets/b/objects/a%2Fb%20c%3Fd%23e",
        "/v1/storage/buckets/b/objects/%2E%2E",
    ]


def test_connection_failures_are_unreachable_and_never_show_the_token() -> None:
    api = NexqClient(f"http://127.0.0.1:{free_port()}", TOKEN)
    with pytest.raises(Unreachable) as caught:
        api.account()
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(api)


def test_against_the_live_api(server: LiveServer) -> None:
    email = server.account("client-test@example.com")
    token = admin_api_key(server, email)["token"]
    with NexqClient(api_url(server), token, page_size=2) as api:
        assert api.account()["email"] == email
        names = [f"client-{i}" for i in range(5)]
        for name in names:
            api.create_bucket(name)
        # Three pages of two: every bucket, once, in order.
        assert [b["name"] for b in api.list_buckets()] == names
        with pytest.raises(ApiError) as caught:
            api.get_bucket("client-missing")
        assert caught.value.status == 404
        assert caught.value.type == "urn:nexq:problem:not-found"
        info = api.storage()
        assert info["s3_endpoint"].startswith("http")
    with pytest.raises(ApiError) as caught, NexqClient(api_url(server), TOKEN) as stranger:
        stranger.list_buckets()
    assert caught.value.status == 401
    assert caught.value.type == "urn:nexq:problem:unauthenticated"
    assert TOKEN not in json.dumps(caught.value.body)
