"""Who may call the registry: the challenge (RFC 6750 as docker's token flow reads it), the
token endpoint, credentials read-only or revoked or rotated, API keys as passwords, and other
accounts' registries, which answer 404 as if they did not exist."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import requests

from tests.live import LiveServer
from tests.registry.distribution import (
    Oci,
    Tenant,
    add_registry,
    assert_error,
    control,
    image_manifest,
    new_tenant,
    sha256,
)

_CHALLENGE = re.compile(
    r'^Bearer realm="(?P<realm>[^"]+)",service="(?P<service>[^"]+)"(?P<rest>.*)$'
)


@pytest.fixture(scope="module")
def tenant(server: LiveServer) -> Tenant:
    return new_tenant(server, "auth")


@pytest.fixture(scope="module")
def oci(server: LiveServer, tenant: Tenant) -> Oci:
    return Oci.of(server, tenant)


@pytest.fixture(scope="module")
def image(oci: Oci, tenant: Tenant) -> tuple[str, str]:
    """(name, manifest digest) of an image in the tenant's registry."""
    name = tenant.name("secured/app")
    digest, _ = oci.push_image(name, "v1", [os.urandom(600)])
    return name, digest


def challenge(answer: requests.Response) -> dict[str, str]:
    assert_error(answer, 401, "UNAUTHORIZED")
    match = _CHALLENGE.match(answer.headers["WWW-Authenticate"])
    assert match, answer.headers["WWW-Authenticate"]
    return match.groupdict()


def credential(server: LiveServer, tenant: Tenant, access: str) -> dict[str, Any]:
    return control(server, tenant, "POST", "/credentials", label=f"{access} one", access=access)


def test_no_credentials_is_401_with_a_bearer_challenge(
    server: LiveServer, image: tuple[str, str]
) -> None:
    anonymous = Oci(server)
    found = challenge(anonymous.get("/v2/"))
    assert found["realm"] == f"http://127.0.0.1:{server.registry_port}/v2/token"
    assert found["rest"] == ""
    name, _ = image
    pull = challenge(anonymous.get(f"/v2/{name}/manifests/v1"))
    assert pull["rest"] == f',scope="repository:{name}:pull"'
    push = challenge(anonymous.post(f"/v2/{name}/blobs/uploads/"))
    assert push["rest"] == f',scope="repository:{name}:pull,push"'
    assert challenge(anonymous.head(f"/v2/{name}/manifests/v1"))["rest"] == pull["rest"]


def test_the_challenge_leads_to_a_token_that_works(
    server: LiveServer, tenant: Tenant, image: tuple[str, str]
) -> None:
    name, digest = image
    found = challenge(Oci(server).get(f"/v2/{name}/manifests/v1"))
    issued = requests.get(
        found["realm"],
        params={"service": found["service"], "scope": f"repository:{name}:pull"},
        auth=(tenant.username, tenant.token),
        timeout=30,
    )
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token"] == body["access_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] >= 60
    bearer = Oci(server, bearer=body["token"])
    assert bearer.get("/v2/").status_code == 200
    assert bearer.get(f"/v2/{name}/manifests/v1").headers["Docker-Content-Digest"] == digest
    assert bearer.push_blob(name, b"pushed with a token") == sha256(b"pushed with a token")


def test_the_token_endpoint_takes_an_oauth2_password_grant(
    server: LiveServer, tenant: Tenant
) -> None:
    token_url = f"http://127.0.0.1:{server.registry_port}/v2/token"
    form = {"grant_type": "password", "username": tenant.username, "password": tenant.token}
    issued = requests.post(token_url, data={**form, "service": "x"}, timeout=30)
    assert issued.status_code == 200, issued.text
    assert Oci(server, bearer=issued.json()["access_token"]).get("/v2/").status_code == 200
    refresh = requests.post(token_url, data={**form, "grant_type": "refresh_token"}, timeout=30)
    assert_error(refresh, 400, "UNSUPPORTED")


def test_wrong_credentials_are_401_unauthorized(server: LiveServer, tenant: Tenant) -> None:
    for basic in ((tenant.username, "nxr_wrong"), ("nobody+abc", tenant.token), ("", "")):
        caller = Oci(server, basic=basic)
        challenge(caller.get("/v2/"))
        challenge(caller.get("/v2/token"))


def test_a_caller_without_credentials_gets_a_token_that_reaches_nothing(
    server: LiveServer, image: tuple[str, str]
) -> None:
    """The token spec: no credentials is anonymous, granted nothing; the registry refuses
    with a message that says to log in (clients show it; its code's default text they drop)."""
    issued = Oci(server).get("/v2/token", params={"scope": f"repository:{image[0]}:pull"})
    assert issued.status_code == 200, issued.text
    anonymous = Oci(server, bearer=issued.json()["token"])
    for answer in (anonymous.get("/v2/"), anonymous.get(f"/v2/{image[0]}/manifests/v1")):
        challenge(answer)
        error = assert_error(answer, 401, "UNAUTHORIZED")
        assert error["message"].startswith("authentication required: log in with a credential")


def test_a_garbage_bearer_token_is_401(server: LiveServer) -> None:
    for token in ("garbage", "a" * 400, "eyJhbGciOiJub25lIn0.e30."):
        challenge(Oci(server, bearer=token).get("/v2/"))


def test_a_read_only_credential_pulls_but_may_not_push_or_delete(
    server: LiveServer, tenant: Tenant, image: tuple[str, str]
) -> None:
    name, digest = image
    issued = credential(server, tenant, "read")
    reader = Oci(server, basic=(issued["username"], issued["token"]))
    assert reader.get(f"/v2/{name}/manifests/{digest}").status_code == 200
    assert reader.get(f"/v2/{name}/tags/list").json()["tags"] == ["v1"]
    refused = [
        reader.post(f"/v2/{name}/blobs/uploads/"),
        reader.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha256(b"x")}, data=b"x"),
        reader.post(f"/v2/{name}/blobs/uploads/", params={"mount": digest, "from": name}),
        reader.put(f"/v2/{name}/manifests/v2", data=image_manifest(b"{}", [])),
        reader.delete(f"/v2/{name}/manifests/v1"),
        reader.delete(f"/v2/{name}/blobs/{digest}"),
    ]
    for answer in refused:
        assert_error(answer, 403, "DENIED")
    assert reader.get(f"/v2/{name}/manifests/v1").status_code == 200


def test_another_accounts_registry_is_name_unknown_never_403(
    server: LiveServer, tenant: Tenant, image: tuple[str, str]
) -> None:
    name, digest = image
    stranger = new_tenant(server, "intruder")
    read_only = credential(server, stranger, "read")
    intruders = [
        Oci.of(server, stranger),
        Oci(server, basic=("me", stranger.key)),
        Oci(server, basic=(read_only["username"], read_only["token"])),
    ]
    for intruder in intruders:
        for answer in (
            intruder.get(f"/v2/{name}/manifests/v1"),
            intruder.head(f"/v2/{name}/blobs/{digest}"),
            intruder.get(f"/v2/{name}/tags/list"),
            intruder.get(f"/v2/{name}/referrers/{digest}"),
            intruder.post(f"/v2/{name}/blobs/uploads/"),
            intruder.put(f"/v2/{name}/manifests/v1", data=image_manifest(b"{}", [])),
            intruder.delete(f"/v2/{name}/manifests/{digest}"),
            intruder.delete(f"/v2/{name}/blobs/{digest}"),
        ):
            if answer.request.method == "HEAD":
                assert answer.status_code == 404
            else:
                assert_error(answer, 404, "NAME_UNKNOWN")
    assert Oci.of(server, tenant).get(f"/v2/{name}/manifests/v1").status_code == 200


def test_a_credential_reaches_its_own_registry_only(
    server: LiveServer, oci: Oci, tenant: Tenant
) -> None:
    sibling = add_registry(server, tenant)
    assert_error(oci.get(f"/v2/{sibling}/app/tags/list"), 404, "NAME_UNKNOWN")
    assert_error(oci.post(f"/v2/{sibling}/app/blobs/uploads/"), 404, "NAME_UNKNOWN")


def test_an_api_key_with_a_registry_scope_is_a_password(
    server: LiveServer, tenant: Tenant, image: tuple[str, str]
) -> None:
    name, digest = image
    keyed = Oci(server, basic=("any-name-at-all", tenant.key))
    assert keyed.get("/v2/").status_code == 200
    assert keyed.get(f"/v2/{name}/manifests/{digest}").status_code == 200
    assert keyed.push_blob(name, b"by key") == sha256(b"by key")
    token = keyed.get("/v2/token").json()["token"]
    assert Oci(server, bearer=token).get(f"/v2/{name}/tags/list").status_code == 200


def test_an_api_key_without_a_registry_scope_is_refused(server: LiveServer, tenant: Tenant) -> None:
    storage_only = server.api_key(tenant.email, "storage", scopes=("storage:write",))
    challenge(Oci(server, basic=("someone", storage_only)).get("/v2/"))


def test_a_revoked_credentials_token_is_refused_at_once(server: LiveServer, tenant: Tenant) -> None:
    issued = credential(server, tenant, "write")
    basic = Oci(server, basic=(issued["username"], issued["token"]))
    bearer = Oci(server, bearer=basic.get("/v2/token").json()["token"])
    assert bearer.get("/v2/").status_code == 200
    control(server, tenant, "POST", f"/credentials/{issued['id']}/revoke")
    challenge(bearer.get("/v2/"))
    challenge(basic.get("/v2/"))


def test_a_rotated_credentials_old_token_is_refused_at_once(
    server: LiveServer, tenant: Tenant
) -> None:
    issued = credential(server, tenant, "write")
    basic = Oci(server, basic=(issued["username"], issued["token"]))
    bearer = Oci(server, bearer=basic.get("/v2/token").json()["token"])
    rotated = control(server, tenant, "POST", f"/credentials/{issued['id']}/rotate")
    assert rotated["username"] == issued["username"]
    challenge(bearer.get("/v2/"))
    challenge(basic.get("/v2/"))
    renewed = Oci(server, basic=(rotated["username"], rotated["token"]))
    assert renewed.get("/v2/").status_code == 200
    assert Oci(server, bearer=renewed.get("/v2/token").json()["token"]).get("/v2/").ok


def test_a_revoked_api_keys_token_is_refused_at_once(server: LiveServer, tenant: Tenant) -> None:
    admin = {"Authorization": f"Bearer {server.api_key(tenant.email, 'admin')}"}
    made = requests.post(
        f"{server.api_url}/v1/api-keys",
        json={"name": "puller", "description": "", "scopes": ["registry:read"]},
        headers=admin,
        timeout=30,
    )
    assert made.status_code == 201, made.text
    keyed = Oci(server, basic=("ci", made.json()["token"]))
    bearer = Oci(server, bearer=keyed.get("/v2/token").json()["token"])
    assert bearer.get("/v2/").status_code == 200
    revoked = requests.post(
        f"{server.api_url}/v1/api-keys/{made.json()['id']}/revoke", headers=admin, timeout=30
    )
    assert revoked.status_code == 200, revoked.text
    challenge(bearer.get("/v2/"))
    challenge(keyed.get("/v2/"))
