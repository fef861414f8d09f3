"""OCI Distribution v1.1, pushing manifests (end-7): the four media types, by tag and by
digest, and every refusal: blobs or children missing, malformed, a Content-Type that is not
the mediaType, larger than 4 MiB."""

from __future__ import annotations

import os

import pytest

from tests.live import LiveServer
from tests.registry.distribution import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Oci,
    Tenant,
    assert_error,
    canonical,
    image_manifest,
    index_manifest,
    new_tenant,
    sha256,
    sha512,
)

CONFIG = canonical({"architecture": "amd64", "os": "linux"})
LAYER = os.urandom(20_000)


@pytest.fixture(scope="module")
def tenant(server: LiveServer) -> Tenant:
    return new_tenant(server, "manifests")


@pytest.fixture(scope="module")
def oci(server: LiveServer, tenant: Tenant) -> Oci:
    return Oci.of(server, tenant)


@pytest.fixture(scope="module")
def name(oci: Oci, tenant: Tenant) -> str:
    """A repository holding CONFIG and LAYER."""
    name = tenant.name("images/app")
    oci.push_blob(name, CONFIG)
    oci.push_blob(name, LAYER)
    return name


def assert_pulls(oci: Oci, name: str, reference: str, body: bytes, media_type: str) -> None:
    pulled = oci.get(f"/v2/{name}/manifests/{reference}")
    assert pulled.status_code == 200, pulled.text
    assert pulled.content == body
    assert pulled.headers["Content-Type"] == media_type


def test_four_media_types_push_and_pull_as_they_were(oci: Oci, name: str) -> None:
    images = {}
    for kind in (OCI_MANIFEST, DOCKER_MANIFEST):
        body = image_manifest(CONFIG, [LAYER], kind)
        pushed = oci.push_manifest(name, f"image-{kind.split('.')[1]}", body, kind)
        assert pushed.status_code == 201, pushed.text
        assert pushed.headers["Location"] == f"/v2/{name}/manifests/{sha256(body)}"
        assert pushed.headers["Docker-Content-Digest"] == sha256(body)
        assert "OCI-Subject" not in pushed.headers
        images[kind] = body
    for kind in (OCI_INDEX, DOCKER_LIST):
        body = index_manifest([(k, b) for k, b in images.items()], kind)
        pushed = oci.push_manifest(name, f"index-{kind.split('.')[1]}", body, kind)
        assert pushed.status_code == 201, pushed.text
        images[kind] = body
    for kind, body in images.items():
        assert_pulls(oci, name, sha256(body), body, kind)
    assert_pulls(oci, name, "index-docker", images[DOCKER_LIST], DOCKER_LIST)
    assert_pulls(oci, name, "index-oci", images[OCI_INDEX], OCI_INDEX)


def test_a_manifest_pushes_by_its_digest_sha256_or_sha512(oci: Oci, name: str) -> None:
    body = image_manifest(CONFIG, [LAYER], annotations={"pushed": "by digest"})
    for digest in (sha256(body), sha512(body)):
        pushed = oci.push_manifest(name, digest, body)
        assert pushed.status_code == 201, pushed.text
        assert pushed.headers["Docker-Content-Digest"] == digest
        assert pushed.headers["Location"] == f"/v2/{name}/manifests/{digest}"
        assert_pulls(oci, name, digest, body, OCI_MANIFEST)


def test_a_digest_reference_that_is_not_the_bodys_is_digest_invalid(oci: Oci, name: str) -> None:
    body = image_manifest(CONFIG, [LAYER], annotations={"pushed": "wrongly"})
    answer = oci.push_manifest(name, sha256(b"another body"), body)
    assert_error(answer, 400, "DIGEST_INVALID")
    assert_error(oci.get(f"/v2/{name}/manifests/{sha256(body)}"), 404, "MANIFEST_UNKNOWN")


def test_a_tag_moves_to_the_manifest_pushed_last(oci: Oci, name: str) -> None:
    first = image_manifest(CONFIG, [LAYER], annotations={"n": "1"})
    second = image_manifest(CONFIG, [LAYER], annotations={"n": "2"})
    for body in (first, second):
        assert oci.push_manifest(name, "moving", body).status_code == 201
    assert_pulls(oci, name, "moving", second, OCI_MANIFEST)
    assert_pulls(oci, name, sha256(first), first, OCI_MANIFEST)


def test_a_manifest_naming_a_missing_blob_is_manifest_blob_unknown(oci: Oci, name: str) -> None:
    missing = os.urandom(100)
    body = image_manifest(CONFIG, [LAYER, missing])
    error = assert_error(oci.push_manifest(name, "broken", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert error["detail"] == {"digest": sha256(missing)}
    assert_error(oci.get(f"/v2/{name}/manifests/broken"), 404, "MANIFEST_UNKNOWN")


def test_a_blob_of_another_repository_does_not_count(oci: Oci, tenant: Tenant) -> None:
    elsewhere = tenant.name("images/empty")
    body = image_manifest(CONFIG, [LAYER])
    answer = oci.push_manifest(elsewhere, "v1", body)
    error = assert_error(answer, 400, "MANIFEST_BLOB_UNKNOWN")
    assert error["detail"]["digest"] in (sha256(CONFIG), sha256(LAYER))


def test_an_index_whose_child_is_missing_is_refused(oci: Oci, name: str) -> None:
    child = image_manifest(CONFIG, [LAYER], annotations={"never": "pushed"})
    for kind in (OCI_INDEX, DOCKER_LIST):
        body = index_manifest([(OCI_MANIFEST, child)], kind)
        error = assert_error(
            oci.push_manifest(name, "orphan", body, kind), 400, "MANIFEST_BLOB_UNKNOWN"
        )
        assert error["detail"] == {"digest": sha256(child)}


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[1, 2, 3]",
        canonical({"schemaVersion": 1, "mediaType": OCI_MANIFEST, "layers": []}),
        canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}),  # no config
        canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "x", "digest": "sha256:short", "size": 1},
                "layers": [],
            }
        ),
        canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": "none"}),
    ],
    ids=["text", "array", "schema-1", "no-config", "bad-digest", "bad-manifests"],
)
def test_a_malformed_manifest_is_manifest_invalid(oci: Oci, name: str, body: bytes) -> None:
    answer = oci.push_manifest(
        name, "malformed", body, OCI_MANIFEST if b"layers" in body else OCI_INDEX
    )
    assert_error(answer, 400, "MANIFEST_INVALID")


def test_an_unknown_media_type_is_manifest_invalid(oci: Oci, name: str) -> None:
    body = canonical({"schemaVersion": 2, "mediaType": "application/vnd.example+json"})
    answer = oci.push_manifest(name, "unknown", body, "application/vnd.example+json")
    assert_error(answer, 400, "MANIFEST_INVALID")


def test_a_content_type_other_than_the_media_type_is_refused(oci: Oci, name: str) -> None:
    body = image_manifest(CONFIG, [LAYER], DOCKER_MANIFEST)
    answer = oci.push_manifest(name, "mismatch", body, OCI_MANIFEST)
    assert_error(answer, 400, "MANIFEST_INVALID")
    assert_error(oci.get(f"/v2/{name}/manifests/mismatch"), 404, "MANIFEST_UNKNOWN")


def test_a_manifest_without_media_type_takes_the_content_type(oci: Oci, name: str) -> None:
    body = canonical(
        {
            "schemaVersion": 2,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(CONFIG),
                "size": len(CONFIG),
            },
            "layers": [],
        }
    )
    assert oci.push_manifest(name, "untyped", body, OCI_MANIFEST).status_code == 201
    assert_pulls(oci, name, "untyped", body, OCI_MANIFEST)


def test_a_manifest_larger_than_4_mib_is_413(oci: Oci, name: str) -> None:
    padding = "x" * (4 * 1024 * 1024)
    body = image_manifest(CONFIG, [LAYER], annotations={"padding": padding})
    answer = oci.push_manifest(name, "huge", body)
    assert_error(answer, 413, "SIZE_INVALID")
    assert_error(oci.get(f"/v2/{name}/manifests/huge"), 404, "MANIFEST_UNKNOWN")


def test_a_manifest_of_exactly_4_mib_is_accepted(oci: Oci, name: str) -> None:
    bare = image_manifest(CONFIG, [LAYER], annotations={"padding": ""})
    padding = "x" * (4 * 1024 * 1024 - len(bare))
    body = image_manifest(CONFIG, [LAYER], annotations={"padding": padding})
    assert len(body) == 4 * 1024 * 1024
    assert oci.push_manifest(name, "largest", body).status_code == 201
    assert_pulls(oci, name, "largest", body, OCI_MANIFEST)


def test_an_invalid_tag_is_refused_as_an_invalid_manifest_reference(oci: Oci, name: str) -> None:
    body = image_manifest(CONFIG, [LAYER])
    answer = oci.push_manifest(name, "-dash-first", body)
    assert_error(answer, 400, "MANIFEST_INVALID")
