"""OCI Distribution v1.1, content discovery: tags (end-8a, end-8b) with n, last and the Link
header, the catalog (all the caller sees, and one registry's), and the referrers API (end-12a,
end-12b) with what a subject push answers."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import requests

from tests.live import LiveServer
from tests.registry.distribution import (
    EMPTY_JSON,
    OCI_INDEX,
    OCI_MANIFEST,
    Oci,
    Tenant,
    add_registry,
    assert_error,
    canonical,
    descriptor,
    new_tenant,
    sha256,
)

TAGS = ["v2", "Beta", "alpha", "v10", "v1", "ALPHA"]
# spec: tags in lexical order, "i.e. case-insensitive alphanumeric order" (ties by bytes)
ORDERED = ["ALPHA", "alpha", "Beta", "v1", "v10", "v2"]
SBOM = "application/vnd.example.sbom.v1"
SIGNATURE_CONFIG = "application/vnd.example.signature.config.v1+json"
_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


@pytest.fixture(scope="module")
def tenant(server: LiveServer) -> Tenant:
    return new_tenant(server, "disc")


@pytest.fixture(scope="module")
def oci(server: LiveServer, tenant: Tenant) -> Oci:
    return Oci.of(server, tenant)


@pytest.fixture(scope="module")
def tagged(oci: Oci, tenant: Tenant) -> str:
    """A repository with one image under every name of TAGS."""
    name = tenant.name("tagged/app")
    _, body = oci.push_image(name, TAGS[0], [os.urandom(1000)])
    for tag in TAGS[1:]:
        assert oci.push_manifest(name, tag, body).status_code == 201
    return name


def tags_of(answer: requests.Response, name: str) -> list[str]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["name"] == name
    found: list[str] = body["tags"]
    return found


def next_page(answer: requests.Response) -> str | None:
    link = answer.headers.get("Link")
    if link is None:
        return None
    match = _LINK.match(link)
    assert match, link
    return match["url"]


def test_tags_list_in_case_insensitive_lexical_order(oci: Oci, tagged: str) -> None:
    answer = oci.get(f"/v2/{tagged}/tags/list")
    assert tags_of(answer, tagged) == ORDERED
    assert "Link" not in answer.headers


def test_tags_page_by_n_and_link_to_the_end(oci: Oci, tagged: str) -> None:
    pages: list[list[str]] = []
    url: str | None = f"/v2/{tagged}/tags/list?n=2"
    while url is not None:
        answer = oci.get(url)
        pages.append(tags_of(answer, tagged))
        url = next_page(answer)
    assert pages == [ORDERED[0:2], ORDERED[2:4], ORDERED[4:6]]


def test_tags_after_last_with_or_without_n(oci: Oci, tagged: str) -> None:
    assert tags_of(oci.get(f"/v2/{tagged}/tags/list?last=Beta"), tagged) == ORDERED[3:]
    answer = oci.get(f"/v2/{tagged}/tags/list?n=1&last=alpha")
    assert tags_of(answer, tagged) == ["Beta"]
    assert next_page(answer) == f"/v2/{tagged}/tags/list?n=1&last=Beta"
    assert tags_of(oci.get(f"/v2/{tagged}/tags/list?last=v2"), tagged) == []


def test_n_of_zero_is_an_empty_list_without_link(oci: Oci, tagged: str) -> None:
    answer = oci.get(f"/v2/{tagged}/tags/list?n=0")
    assert tags_of(answer, tagged) == []
    assert "Link" not in answer.headers


def test_n_larger_than_the_list_gives_it_whole_without_link(oci: Oci, tagged: str) -> None:
    answer = oci.get(f"/v2/{tagged}/tags/list?n={len(TAGS)}")
    assert tags_of(answer, tagged) == ORDERED
    assert "Link" not in answer.headers


def test_tags_of_an_unknown_repository_is_name_unknown(oci: Oci, tenant: Tenant) -> None:
    assert_error(oci.get(f"/v2/{tenant.name('no/such')}/tags/list"), 404, "NAME_UNKNOWN")


# catalog -----------------------------------------------------------------------------------


def catalog(oci: Oci, url: str) -> tuple[list[str], str | None]:
    answer = oci.get(url)
    assert answer.status_code == 200, answer.text
    names: list[str] = answer.json()["repositories"]
    return names, next_page(answer)


def test_the_catalog_lists_what_the_caller_sees_in_order(server: LiveServer) -> None:
    owner = new_tenant(server, "cat")
    # "<r>-b/..." sorts before "<r>/...": the catalog is ordered by the whole name.
    sibling = add_registry(server, owner, f"{owner.registry}-b")
    keyed = Oci(server, basic=("whoever", owner.key))
    for name in (owner.name("x"), owner.name("a/b"), f"{sibling}/y"):
        keyed.push_blob(name, b"layer")
    everything = sorted([owner.name("x"), owner.name("a/b"), f"{sibling}/y"])
    assert catalog(keyed, "/v2/_catalog") == (everything, None)
    pages: list[str] = []
    url: str | None = "/v2/_catalog?n=1"
    while url is not None:
        page, url = catalog(keyed, url)
        pages += page
    assert pages == everything
    # A credential sees its own registry only, and /v2/<registry>/_catalog one registry.
    credential = Oci.of(server, owner)
    assert catalog(credential, "/v2/_catalog") == ([owner.name("a/b"), owner.name("x")], None)
    assert catalog(keyed, f"/v2/{sibling}/_catalog") == ([f"{sibling}/y"], None)
    names, url = catalog(keyed, f"/v2/{owner.registry}/_catalog?n=1")
    assert (names, url) == (
        [owner.name("a/b")],
        f"/v2/{owner.registry}/_catalog?n=1&last={owner.registry}%2Fa%2Fb",
    )
    assert url is not None
    assert catalog(keyed, url) == ([owner.name("x")], None)
    assert_error(credential.get(f"/v2/{sibling}/_catalog"), 404, "NAME_UNKNOWN")


def test_the_catalog_never_shows_another_accounts_registry(
    server: LiveServer, oci: Oci, tenant: Tenant, tagged: str
) -> None:
    stranger = Oci.of(server, new_tenant(server, "nosy"))
    names, _ = catalog(stranger, "/v2/_catalog")
    assert names == []
    assert_error(stranger.get(f"/v2/{tenant.registry}/_catalog"), 404, "NAME_UNKNOWN")


# referrers ---------------------------------------------------------------------------------


def artifact(oci: Oci, name: str, subject: dict[str, Any], config_type: str, **extra: Any) -> bytes:
    """An artifact manifest about ``subject`` (its config and one layer pushed)."""
    config = b"{}" if config_type == EMPTY_JSON else canonical({"signed": True})
    payload = os.urandom(200)
    oci.push_blob(name, config)
    oci.push_blob(name, payload)
    return canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(config_type, config),
            "layers": [descriptor("application/octet-stream", payload)],
            "subject": subject,
            **extra,
        }
    )


def test_referrers_list_what_names_a_subject(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("signed/app")
    subject_digest, subject_body = oci.push_image(name, "v1", [os.urandom(500)])
    subject = descriptor(OCI_MANIFEST, subject_body)
    sbom = artifact(oci, name, subject, EMPTY_JSON, artifactType=SBOM, annotations={"kind": "sbom"})
    signature = artifact(oci, name, subject, SIGNATURE_CONFIG, annotations={"kind": "sig"})
    bundle = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": "application/vnd.example.bundle",
            "manifests": [],
            "subject": subject,
        }
    )
    for body, kind in ((sbom, OCI_MANIFEST), (signature, OCI_MANIFEST), (bundle, OCI_INDEX)):
        pushed = oci.push_manifest(name, sha256(body), body, kind)
        assert pushed.status_code == 201, pushed.text
        assert pushed.headers["OCI-Subject"] == subject_digest

    answer = oci.get(f"/v2/{name}/referrers/{subject_digest}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in answer.headers
    index = answer.json()
    assert (index["schemaVersion"], index["mediaType"]) == (2, OCI_INDEX)
    listed = {d["digest"]: d for d in index["manifests"]}
    assert listed == {
        sha256(sbom): descriptor(
            OCI_MANIFEST, sbom, artifactType=SBOM, annotations={"kind": "sbom"}
        ),
        # Without artifactType, a manifest's is its config's media type (spec).
        sha256(signature): descriptor(
            OCI_MANIFEST, signature, artifactType=SIGNATURE_CONFIG, annotations={"kind": "sig"}
        ),
        sha256(bundle): descriptor(
            OCI_INDEX, bundle, artifactType="application/vnd.example.bundle"
        ),
    }

    filtered = oci.get(f"/v2/{name}/referrers/{subject_digest}", params={"artifactType": SBOM})
    assert filtered.status_code == 200
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [sha256(sbom)]
    none = oci.get(
        f"/v2/{name}/referrers/{subject_digest}", params={"artifactType": "application/none"}
    )
    assert none.json()["manifests"] == []
    assert none.headers["OCI-Filters-Applied"] == "artifactType"
    # A referrer deleted leaves the list.
    assert oci.delete(f"/v2/{name}/manifests/{sha256(sbom)}").status_code == 202
    after = oci.get(f"/v2/{name}/referrers/{subject_digest}").json()["manifests"]
    assert {d["digest"] for d in after} == {sha256(signature), sha256(bundle)}


def test_an_image_without_referrers_has_an_empty_list(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("plain/app")
    digest, _ = oci.push_image(name, "v1", [os.urandom(100)])
    for subject in (digest, sha256(b"never pushed")):
        answer = oci.get(f"/v2/{name}/referrers/{subject}")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == OCI_INDEX
        assert answer.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


def test_a_referrer_may_come_before_its_subject(oci: Oci, tenant: Tenant) -> None:
    name = tenant.name("early/app")
    subject = descriptor(OCI_MANIFEST, b'{"not":"pushed yet"}')
    body = artifact(oci, name, subject, EMPTY_JSON, artifactType=SBOM)
    pushed = oci.push_manifest(name, "sbom", body)
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["OCI-Subject"] == subject["digest"]
    listed = oci.get(f"/v2/{name}/referrers/{subject['digest']}").json()["manifests"]
    assert [d["digest"] for d in listed] == [sha256(body)]


def test_referrers_of_a_malformed_digest_is_400(oci: Oci, tenant: Tenant) -> None:
    answer = oci.get(f"/v2/{tenant.name('plain/app')}/referrers/sha256:zz")
    assert_error(answer, 400, "DIGEST_INVALID")
