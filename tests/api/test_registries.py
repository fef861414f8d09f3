"""The Container Registry's REST API: registries, their credentials (proven at the registry's
own token endpoint and push), content, isolation between accounts, scopes and limits."""

from __future__ import annotations

import itertools
import os

import httpx
import pytest

from tests.api.conftest import PASSWORD, api, assert_problem, fresh_email
from tests.live import BURST, LiveServer
from tests.oci_push import push_image, start_upload, token_response

_names = itertools.count()
REGISTRY_FIELDS = {"name", "endpoint", "created_at", "stored_bytes"}
CREDENTIAL_FIELDS = {
    "id",
    "label",
    "username",
    "access",
    "status",
    "created_at",
    "expires_at",
    "last_used_at",
}


@pytest.fixture(scope="module")
def user(server: LiveServer) -> str:
    """The module's customer (conftest's ``client`` acts for it), with room for the
    registry each test makes (Free has 2)."""
    email = server.account(fresh_email(), PASSWORD)
    server.raise_limits(email, api_rps=BURST, registries=100)
    return email


def fresh_name() -> str:
    return f"reg-{os.getpid()}-{next(_names)}"


def customer(server: LiveServer, *scopes: str) -> httpx.Client:
    """A new Free account (its registries limit untouched) with an API key."""
    email = server.account(fresh_email("registry"), PASSWORD)
    server.raise_limits(email, api_rps=BURST)
    return api(server, server.api_key(email, scopes=scopes))


def create(client: httpx.Client, name: str) -> dict[str, object]:
    made = client.post("/v1/registries", json={"name": name})
    assert made.status_code == 201, made.text
    body: dict[str, object] = made.json()
    return body


def test_create_shows_the_token_once_then_list_and_show(
    server: LiveServer, client: httpx.Client
) -> None:
    name = fresh_name()
    made = create(client, name)
    assert set(made) == REGISTRY_FIELDS | {"credential"}
    assert made["name"] == name
    assert made["endpoint"] == f"127.0.0.1:{server.registry_port}/{name}"
    credential = made["credential"]
    assert isinstance(credential, dict)
    assert set(credential) == CREDENTIAL_FIELDS | {"token", "docker_login"}
    assert (credential["label"], credential["access"], credential["status"]) == (
        "default",
        "write",
        "active",
    )
    assert credential["username"].startswith(f"{name}+")
    assert credential["token"].startswith("nxr_")
    assert credential["docker_login"] == (
        f"docker login 127.0.0.1:{server.registry_port} "
        f"--username '{credential['username']}' --password-stdin"
    )
    assert token_response(server, credential["username"], credential["token"]).status_code == 200

    listed = client.get("/v1/registries").json()
    assert name in [r["name"] for r in listed]
    assert all(set(r) == REGISTRY_FIELDS for r in listed)
    shown = client.get(f"/v1/registries/{name}")
    assert shown.status_code == 200
    assert shown.json() == {k: v for k, v in made.items() if k != "credential"}
    # The token is never shown again: not by the registry, not by its credentials.
    kept = client.get(f"/v1/registries/{name}/credentials").json()
    assert [set(c) for c in kept] == [CREDENTIAL_FIELDS]
    assert credential["token"] not in shown.text + str(kept)


def test_names_are_checked_and_unique_across_accounts(
    server: LiveServer, client: httpx.Client
) -> None:
    name = fresh_name()
    create(client, name)
    taken = assert_problem(client.post("/v1/registries", json={"name": name}), 409, "conflict")
    assert name in str(taken["detail"])
    with customer(server) as other:
        across = other.post("/v1/registries", json={"name": name})
        assert_problem(across, 409, "conflict")
    bad = client.post("/v1/registries", json={"name": "Team_Images"})
    detail = str(assert_problem(bad, 400, "invalid")["detail"])
    assert "lowercase letters, digits and hyphens" in detail
    too_long = client.post("/v1/registries", json={"name": "a" * 64})
    assert "name" in str(assert_problem(too_long, 422, "validation")["detail"])


def test_another_accounts_registry_is_not_found(server: LiveServer, client: httpx.Client) -> None:
    name = fresh_name()
    default = create(client, name)["credential"]
    assert isinstance(default, dict)
    with customer(server) as other:
        for method, path in (
            ("GET", f"/v1/registries/{name}"),
            ("GET", f"/v1/registries/{name}/repositories"),
            ("GET", f"/v1/registries/{name}/credentials"),
            ("POST", f"/v1/registries/{name}/credentials/{default['id']}/rotate"),
            ("DELETE", f"/v1/registries/{name}"),
        ):
            assert_problem(other.request(method, path), 404, "not-found")
        assert name not in [r["name"] for r in other.get("/v1/registries").json()]
    assert client.get(f"/v1/registries/{name}").status_code == 200  # still there


def test_credentials_rotate_revoke_delete_at_the_registry(
    server: LiveServer, client: httpx.Client
) -> None:
    name = fresh_name()
    create(client, name)
    path = f"/v1/registries/{name}/credentials"
    added = client.post(path, json={"label": "CI", "expires_at": "2099-01-31T00:00:00Z"})
    assert added.status_code == 201, added.text
    ci = added.json()
    assert (ci["label"], ci["access"], ci["expires_at"]) == ("CI", "write", "2099-01-31T00:00:00Z")
    assert token_response(server, ci["username"], ci["token"]).status_code == 200

    rotated = client.post(f"{path}/{ci['id']}/rotate")
    assert rotated.status_code == 200, rotated.text
    new_token = rotated.json()["token"]
    assert new_token != ci["token"] and rotated.json()["username"] == ci["username"]
    assert token_response(server, ci["username"], ci["token"]).status_code == 401
    assert token_response(server, ci["username"], new_token).status_code == 200

    revoked = client.post(f"{path}/{ci['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert token_response(server, ci["username"], new_token).status_code == 401
    listed = {c["id"]: c["status"] for c in client.get(path).json()}
    assert listed[ci["id"]] == "revoked"

    assert client.delete(f"{path}/{ci['id']}").status_code == 204
    assert ci["id"] not in [c["id"] for c in client.get(path).json()]
    assert_problem(client.delete(f"{path}/{ci['id']}"), 404, "not-found")
    past = client.post(path, json={"label": "old", "expires_at": "2001-01-01T00:00:00Z"})
    assert "future" in str(assert_problem(past, 400, "invalid")["detail"])


def test_a_read_only_credential_pulls_but_cannot_push(
    server: LiveServer, client: httpx.Client
) -> None:
    name = fresh_name()
    default = create(client, name)["credential"]
    assert isinstance(default, dict)
    digest = push_image(
        server, default["username"], default["token"], f"{name}/team/web", "v1", [b"layer"]
    )
    reader = client.post(
        f"/v1/registries/{name}/credentials", json={"label": "cluster", "access": "read"}
    ).json()
    assert reader["access"] == "read"
    refused = start_upload(server, reader["username"], reader["token"], f"{name}/team/web")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "DENIED"
    allowed = start_upload(server, default["username"], default["token"], f"{name}/team/web")
    assert allowed.status_code == 202

    repositories = client.get(f"/v1/registries/{name}/repositories").json()
    assert [(r["name"], r["tags"]) for r in repositories] == [("team/web", 1)]
    assert repositories[0]["size"] > 0
    tags = client.get(f"/v1/registries/{name}/repositories/team/web/tags").json()
    assert [(t["name"], t["digest"]) for t in tags] == [("v1", digest)]


def test_deleting_a_registry_ends_its_credentials(server: LiveServer, client: httpx.Client) -> None:
    name = fresh_name()
    default = create(client, name)["credential"]
    assert isinstance(default, dict)
    assert client.delete(f"/v1/registries/{name}").status_code == 204
    assert_problem(client.get(f"/v1/registries/{name}"), 404, "not-found")
    assert token_response(server, default["username"], default["token"]).status_code == 401
    create(client, name)  # the name is free again


def test_the_free_tier_has_two_registries(server: LiveServer) -> None:
    with customer(server) as free:
        create(free, fresh_name())
        create(free, fresh_name())
        third = free.post("/v1/registries", json={"name": fresh_name()})
        refused = assert_problem(third, 403, "quota-exceeded")
        assert refused["limit"] == "registries"
        assert "registries limit" in str(refused["detail"])


def test_a_read_key_cannot_create(server: LiveServer) -> None:
    with customer(server, "registry:read") as reader:
        assert reader.get("/v1/registries").status_code == 200
        refused = assert_problem(
            reader.post("/v1/registries", json={"name": fresh_name()}), 403, "missing-scope"
        )
        assert refused["scope"] == "registry:write"


def test_deleting_a_repository_frees_its_place_and_its_images(
    server: LiveServer, client: httpx.Client
) -> None:
    name = fresh_name()
    default = create(client, name)["credential"]
    assert isinstance(default, dict)
    user, token = str(default["username"]), str(default["token"])
    push_image(server, user, token, f"{name}/team/web", "v1", [b"web layer"])
    push_image(server, user, token, f"{name}/team/api", "v1", [b"api layer"])
    # The tag routes below the repository's still mean the tag, not a repository "web/tags/v1".
    assert client.delete(f"/v1/registries/{name}/repositories/team/web/tags/v1").status_code == 204
    assert client.delete(f"/v1/registries/{name}/repositories/team/web").status_code == 204
    left = client.get(f"/v1/registries/{name}/repositories").json()
    assert [r["name"] for r in left] == ["team/api"]
    gone = client.get(f"/v1/registries/{name}/repositories/team/web/tags")
    assert_problem(gone, 404, "not-found")
    assert_problem(client.delete(f"/v1/registries/{name}/repositories/team/web"), 404, "not-found")
    pulled = httpx.get(
        f"http://127.0.0.1:{server.registry_port}/v2/{name}/team/web/manifests/v1",
        auth=(user, token),
        timeout=30,
    )
    assert pulled.status_code == 404
    assert pulled.json()["errors"][0]["code"] == "NAME_UNKNOWN"
