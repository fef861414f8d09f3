"""The OpenAPI document is the contract: fuzzed with schemathesis against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.live import BURST, LiveServer

# What must hold for any input: no 5xx, and every answer documented by the schema (status,
# content type, body shape). Rejections of "valid-looking" input (a bucket that does not
# exist, a name that breaks S3's rules) are fine, so positive_data_acceptance is not asked.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    email = server.account("fuzzed@example.com")
    # The fuzz sends hundreds of requests as fast as the server answers: Free's 20 API
    # requests/s would turn most of them into 429s. Its other limits stay Free's, so refused
    # creations (403 quota-exceeded) must match the document too.
    server.raise_limits(email, api_rps=BURST)
    base = httpx.Client(
        base_url=server.api_url,
        headers={"Authorization": f"Bearer {server.api_key(email)}"},
    )
    base.post("/v1/storage/buckets", json={"name": "fuzz-bucket"})
    return server.api_key(email, "fuzz")


@pytest.fixture(scope="module")
def api_schema(server: LiveServer) -> Iterator[Any]:
    yield schemathesis.openapi.from_url(f"{server.api_url}/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_openapi_document(case: Any, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


def test_document_and_reference_page(server: LiveServer) -> None:
    spec = httpx.get(f"{server.api_url}/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/v1/account",
        "/v1/api-keys/{key_id}/regenerate",
        "/v1/storage/buckets/{name}/objects",
        "/v1/storage/access-keys",
        "/v1/storage/usage",
        "/v1/compute/ssh-keys",
        "/v1/compute/ssh-keys/{key_id}",
    ):
        assert path in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    page = httpx.get(f"{server.api_url}/v1/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert "/v1/storage/buckets/{name}/presign" in page.text
    assert "<script" not in page.text and "http" not in page.text.split("<body>")[0]
