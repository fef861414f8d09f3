"""OCI Distribution v1.1, content management: deleting manifests and tags (end-9) and blobs
(end-10)."""

from __future__ import annotations

import os

import pytest

from tests.live import LiveServer
from tests.registry.distribution import Oci, Tenant, assert_error, new_tenant, sha256


@pytest.fixture(scope="module")
def tenant(server: LiveServer) -> Tenant:
    return new_tenant(server, "manage")


@pytest.fixture(scope="module")
def oci(server: LiveServer, tenant: Tenant) -> Oci:
    return Oci.of(server, tenant)


def tags(oci: Oci, name: str) -> list[str]:
    answer = oci.get(f"/v2/{name}/tags/list")
    assert answer.status_code == 200, answer.text
    found: list[str] = answer.json()["tags"]
    return found


def test_deleting_a_manifest_by_digest_takes_its_tags(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("delete/manifest")
    digest, body = oci.push_image(name, "v1", [os.urandom(800)])
    assert oci.push_manifest(name, "latest", body).status_code == 201
    kept, _ = oci.push_image(name, "other", [os.urandom(800)])
    deleted = oci.delete(f"/v2/{name}/manifests/{digest}")
    assert deleted.status_code == 202
    assert deleted.content == b""
    assert tags(oci, name) == ["other"]
    for reference in (digest, "v1", "latest"):
        assert_error(oci.get(f"/v2/{name}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
        assert_error(oci.head(f"/v2/{name}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
    assert_error(oci.delete(f"/v2/{name}/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    assert oci.get(f"/v2/{name}/manifests/{kept}").status_code == 200


def test_deleting_a_tag_leaves_the_manifest_by_digest(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("delete/tag")
    digest, body = oci.push_image(name, "v1", [os.urandom(800)])
    assert oci.push_manifest(name, "stable", body).status_code == 201
    assert oci.delete(f"/v2/{name}/manifests/v1").status_code == 202
    assert_error(oci.get(f"/v2/{name}/manifests/v1"), 404, "MANIFEST_UNKNOWN")
    assert tags(oci, name) == ["stable"]
    pulled = oci.get(f"/v2/{name}/manifests/{digest}")
    assert pulled.status_code == 200
    assert pulled.content == body
    assert oci.get(f"/v2/{name}/manifests/stable").content == body
    assert_error(oci.delete(f"/v2/{name}/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_deleting_a_blob_is_202_then_404(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("delete/blob")
    data = os.urandom(900)
    digest = oci.push_blob(name, data)
    deleted = oci.delete(f"/v2/{name}/blobs/{digest}")
    assert deleted.status_code == 202
    assert_error(oci.head(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_error(oci.get(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_error(oci.delete(f"/v2/{name}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_deleting_what_was_never_there(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("delete/nothing")
    oci.push_blob(name, b"makes the repository")
    nowhere = sha256(b"nowhere")
    assert_error(oci.delete(f"/v2/{name}/manifests/{nowhere}"), 404, "MANIFEST_UNKNOWN")
    assert_error(oci.delete(f"/v2/{name}/manifests/no-tag"), 404, "MANIFEST_UNKNOWN")
    assert_error(oci.delete(f"/v2/{name}/blobs/{nowhere}"), 404, "BLOB_UNKNOWN")
    assert_error(oci.delete(f"/v2/no-such-registry/x/blobs/{nowhere}"), 404, "NAME_UNKNOWN")
