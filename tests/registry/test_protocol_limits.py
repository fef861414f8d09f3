"""The tier's limits at the registry's own listener: refused with the spec's DENIED (403) or
TOOMANYREQUESTS (429) naming the limit, keeping nothing; an expired credential refused."""

from __future__ import annotations

import time

import pytest
import requests

from tests.live import LiveServer
from tests.registry.distribution import (
    OCI_MANIFEST,
    Oci,
    Tenant,
    assert_error,
    control,
    image_manifest,
    new_tenant,
    sha256,
)


@pytest.fixture
def tenant(server: LiveServer) -> Tenant:
    return new_tenant(server, "limits")


def test_stored_bytes_past_the_limit_are_refused_and_not_kept(
    server: LiveServer, tenant: Tenant
) -> None:
    server.raise_limits(tenant.email, registry_storage_bytes=1000)
    oci = Oci.of(server, tenant)
    name = tenant.name("app")
    kept = oci.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha256(b"a" * 900)},
                    data=b"a" * 900)  # fmt: skip
    assert kept.status_code == 201, kept.text
    big = b"b" * 200
    refused = oci.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha256(big)}, data=big)
    error = assert_error(refused, 403, "DENIED")
    assert error["detail"] == {"limit": "registry_storage_bytes"}
    assert "registry_storage_bytes" in error["message"]
    assert_error(oci.head(f"/v2/{name}/blobs/{sha256(big)}"), 404, "BLOB_UNKNOWN")
    shown = control(server, tenant, "GET", "")
    assert shown["stored_bytes"] == 900


def test_a_new_repository_past_the_limit_is_refused(server: LiveServer, tenant: Tenant) -> None:
    server.raise_limits(tenant.email, registry_repositories=1)
    oci = Oci.of(server, tenant)
    config = b"{}"
    for repository, status in (("first", 201), ("second", 403)):
        name = tenant.name(repository)
        pushed = oci.post(
            f"/v2/{name}/blobs/uploads/", params={"digest": sha256(config)}, data=config
        )
        assert pushed.status_code == status, pushed.text
    error = assert_error(pushed, 403, "DENIED")
    assert error["detail"] == {"limit": "registry_repositories"}
    manifest = image_manifest(config, [])
    stored = oci.put(
        f"/v2/{tenant.name('first')}/manifests/v1",
        data=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert stored.status_code == 201, stored.text  # the repository it has stays usable


def test_requests_past_the_rate_are_429_with_retry_after(
    server: LiveServer, tenant: Tenant
) -> None:
    server.raise_limits(tenant.email, registry_rps=1)
    oci = Oci.of(server, tenant)
    answers = [oci.get(f"/v2/{tenant.name('app')}/tags/list") for _ in range(3)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    error = assert_error(refused[0], 429, "TOOMANYREQUESTS")
    assert "registry_rps" in error["message"]
    assert int(refused[0].headers["Retry-After"]) >= 1


def test_an_expired_credential_is_refused(server: LiveServer, tenant: Tenant) -> None:
    issued = control(server, tenant, "POST", "/credentials", label="short", access="read")
    reader = Oci(server, basic=(issued["username"], issued["token"]))
    assert reader.get("/v2/").status_code == 200
    server.sql(
        "UPDATE registry_credentials SET expires_at = ? WHERE id = ?",
        time.time() - 1,
        issued["id"],
    )
    assert_error(reader.get("/v2/"), 401, "UNAUTHORIZED")
    listed = requests.get(
        f"{server.api_url}/v1/registries/{tenant.registry}/credentials",
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=30,
    ).json()
    assert {c["id"]: c["status"] for c in listed}[issued["id"]] == "expired"
