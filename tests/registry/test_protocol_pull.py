"""OCI Distribution v1.1, pull: manifests by tag and by digest (end-3), blobs whole and by
range (end-2), what HEAD answers, and the 404s of what is not there."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from tests.live import LiveServer
from tests.registry.distribution import (
    OCI_MANIFEST,
    Oci,
    Tenant,
    assert_error,
    new_tenant,
    sha256,
)

LAYER = os.urandom(300_000)


@dataclass(frozen=True)
class Image:
    name: str
    tag: str
    digest: str
    manifest: bytes


@pytest.fixture(scope="module")
def tenant(server: LiveServer) -> Tenant:
    return new_tenant(server, "pull")


@pytest.fixture(scope="module")
def oci(server: LiveServer, tenant: Tenant) -> Oci:
    return Oci.of(server, tenant)


@pytest.fixture(scope="module")
def image(oci: Oci, tenant: Tenant) -> Image:
    name = tenant.name("app/web")
    digest, manifest = oci.push_image(name, "v1", [LAYER])
    return Image(name, "v1", digest, manifest)


def test_the_version_check_answers_200_to_a_caller(oci: Oci) -> None:
    answer = oci.get("/v2/")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("by", ["tag", "digest"])
def test_a_manifest_pulls_by_tag_and_by_digest(oci: Oci, image: Image, by: str) -> None:
    reference = image.tag if by == "tag" else image.digest
    answer = oci.get(f"/v2/{image.name}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
    assert answer.status_code == 200
    assert answer.content == image.manifest
    assert answer.headers["Content-Type"] == OCI_MANIFEST
    assert answer.headers["Docker-Content-Digest"] == image.digest
    assert answer.headers["Content-Length"] == str(len(image.manifest))


def test_head_of_a_manifest_says_what_get_would_without_a_body(oci: Oci, image: Image) -> None:
    answer = oci.head(f"/v2/{image.name}/manifests/{image.tag}")
    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["Content-Length"] == str(len(image.manifest))
    assert answer.headers["Docker-Content-Digest"] == image.digest
    assert answer.headers["Content-Type"] == OCI_MANIFEST


def test_a_blob_pulls_whole_and_head_gives_its_length(oci: Oci, image: Image) -> None:
    url = f"/v2/{image.name}/blobs/{sha256(LAYER)}"
    answer = oci.get(url)
    assert answer.status_code == 200
    assert answer.content == LAYER
    assert answer.headers["Docker-Content-Digest"] == sha256(LAYER)
    assert answer.headers["Content-Length"] == str(len(LAYER))
    head = oci.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(LAYER))
    assert head.headers["Docker-Content-Digest"] == sha256(LAYER)


@pytest.mark.parametrize(
    ("asked", "first", "last"),
    [
        ("bytes=10-19", 10, 19),
        ("bytes=299990-", 299_990, 299_999),
        ("bytes=-7", 299_993, 299_999),
        ("bytes=299995-400000", 299_995, 299_999),  # an end past the blob is cut to it
    ],
)
def test_a_blob_range_answers_206_with_content_range(
    oci: Oci, image: Image, asked: str, first: int, last: int
) -> None:
    answer = oci.get(f"/v2/{image.name}/blobs/{sha256(LAYER)}", headers={"Range": asked})
    assert answer.status_code == 206
    assert answer.content == LAYER[first : last + 1]
    assert answer.headers["Content-Range"] == f"bytes {first}-{last}/{len(LAYER)}"
    assert answer.headers["Content-Length"] == str(last - first + 1)


def test_a_range_past_the_end_is_416_naming_the_size(oci: Oci, image: Image) -> None:
    answer = oci.get(
        f"/v2/{image.name}/blobs/{sha256(LAYER)}", headers={"Range": f"bytes={len(LAYER)}-"}
    )
    assert answer.status_code == 416
    assert answer.headers["Content-Range"] == f"bytes */{len(LAYER)}"


def test_a_range_in_another_unit_is_ignored(oci: Oci, image: Image) -> None:
    # RFC 9110: a Range in a unit the server does not know MUST be ignored.
    answer = oci.get(f"/v2/{image.name}/blobs/{sha256(LAYER)}", headers={"Range": "items=0-1"})
    assert answer.status_code == 200
    assert answer.content == LAYER
    assert "Content-Range" not in answer.headers


def test_an_unknown_tag_or_digest_is_manifest_unknown(oci: Oci, image: Image) -> None:
    for reference in ("v404", sha256(b"no such manifest")):
        for method in ("GET", "HEAD"):
            answer = oci.request(method, f"/v2/{image.name}/manifests/{reference}")
            assert_error(answer, 404, "MANIFEST_UNKNOWN")


def test_a_reference_that_is_no_tag_is_not_found(oci: Oci, image: Image) -> None:
    # spec: a reference is a digest or a tag; a manifest not found is 404.
    answer = oci.get(f"/v2/{image.name}/manifests/-not-a-tag")
    assert_error(answer, 404, "MANIFEST_UNKNOWN")


def test_an_unknown_blob_is_blob_unknown(oci: Oci, image: Image) -> None:
    url = f"/v2/{image.name}/blobs/{sha256(b'never pushed')}"
    assert_error(oci.get(url), 404, "BLOB_UNKNOWN")
    assert_error(oci.head(url), 404, "BLOB_UNKNOWN")


def test_an_unknown_repository_or_registry_is_name_unknown(
    oci: Oci, tenant: Tenant, image: Image
) -> None:
    assert_error(oci.get(f"/v2/{tenant.name('nothing/here')}/manifests/v1"), 404, "NAME_UNKNOWN")
    assert_error(oci.get("/v2/no-such-registry/app/manifests/v1"), 404, "NAME_UNKNOWN")
    blob = f"/v2/no-such-registry/app/blobs/{sha256(LAYER)}"
    assert_error(oci.get(blob), 404, "NAME_UNKNOWN")


def test_content_is_seen_only_in_the_repositories_it_was_pushed_to(
    oci: Oci, tenant: Tenant, image: Image
) -> None:
    # Stored once per account, but each repository holds what was pushed (or mounted) to it.
    elsewhere = tenant.name("app/other")
    oci.push_blob(elsewhere, b"makes the repository")
    assert_error(oci.get(f"/v2/{elsewhere}/manifests/{image.digest}"), 404, "MANIFEST_UNKNOWN")
    assert_error(oci.get(f"/v2/{elsewhere}/blobs/{sha256(LAYER)}"), 404, "BLOB_UNKNOWN")


def test_malformed_names_and_digests_are_refused_by_their_codes(oci: Oci, image: Image) -> None:
    assert_error(oci.get(f"/v2/{image.name}/blobs/sha256:nothex"), 400, "DIGEST_INVALID")
    upper = image.name.replace("app", "App")
    assert_error(oci.get(f"/v2/{upper}/manifests/v1"), 400, "NAME_INVALID")


def test_an_unsupported_method_is_405_unsupported(oci: Oci, image: Image) -> None:
    answer = oci.put(f"/v2/{image.name}/blobs/{sha256(LAYER)}", data=b"x")
    assert_error(answer, 405, "UNSUPPORTED")
