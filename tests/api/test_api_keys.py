"""API keys over the REST API: scopes, revoke, regenerate, delete, and what 401/403 say."""

from __future__ import annotations

import sqlite3

import httpx

from tests.api.conftest import api, assert_problem
from tests.live import LiveServer


def test_missing_or_malformed_token_is_401_with_a_problem(server: LiveServer) -> None:
    with api(server) as anonymous:
        body = assert_problem(anonymous.get("/v1/account"), 401, "unauthenticated")
        assert "Authorization: Bearer" in str(body["detail"])
        assert anonymous.get("/v1/account").headers["www-authenticate"].startswith("Bearer")
    for token in ("nxq_" + "x" * 40, "something-else", "nxs_expired"):
        with api(server, token) as caller:
            assert_problem(caller.get("/v1/storage/buckets"), 401, "unauthenticated")


def test_create_shows_the_token_once_and_lists_without_it(client: httpx.Client) -> None:
    created = client.post(
        "/v1/api-keys",
        json={"name": "ci", "description": "deploys", "scopes": ["storage:read"]},
    )
    assert created.status_code == 201
    key = created.json()
    assert key["token"].startswith("nxq_") and len(key["token"]) == 44
    assert key["scopes"] == ["storage:read"] and key["status"] == "Active"
    assert key["last_used_at"] is None
    listed = client.get("/v1/api-keys").json()["items"]
    mine = [k for k in listed if k["id"] == key["id"]]
    assert mine and "token" not in mine[0]
    assert key["token"] not in client.get("/v1/api-keys").text
    shown = client.get(f"/v1/api-keys/{key['id']}").json()
    assert shown["name"] == "ci" and shown["description"] == "deploys"


def test_tokens_are_stored_only_as_hashes(server: LiveServer, client: httpx.Client) -> None:
    token = client.post("/v1/api-keys", json={"name": "stored"}).json()["token"]
    with sqlite3.connect(server.data_dir / "meta.db") as db:
        dump = "\n".join(db.iterdump())
    assert token not in dump and token[4:] not in dump


def test_a_scope_limits_what_the_key_can_do(server: LiveServer, client: httpx.Client) -> None:
    token = client.post("/v1/api-keys", json={"name": "ro", "scopes": ["storage:read"]}).json()[
        "token"
    ]
    with api(server, token) as reader:
        assert reader.get("/v1/storage/buckets").status_code == 200
        body = assert_problem(
            reader.post("/v1/storage/buckets", json={"name": "ro-bucket-x"}), 403, "missing-scope"
        )
        assert body["scope"] == "storage:write" and "storage:write" in str(body["detail"])
        assert_problem(reader.get("/v1/account"), 403, "missing-scope")
        # A key cannot mint a key with more than it has, nor without account:write.
        assert_problem(reader.post("/v1/api-keys", json={"name": "x"}), 403, "missing-scope")


def test_a_key_cannot_create_a_key_beyond_its_scopes(
    server: LiveServer, client: httpx.Client
) -> None:
    token = client.post(
        "/v1/api-keys", json={"name": "acct", "scopes": ["account:write", "storage:read"]}
    ).json()["token"]
    with api(server, token) as limited:
        wider = limited.post("/v1/api-keys", json={"name": "wider", "scopes": ["storage:write"]})
        assert "storage:write" in str(assert_problem(wider, 403, "forbidden")["detail"])
        default = limited.post("/v1/api-keys", json={"name": "same"})
        assert default.status_code == 201
        assert default.json()["scopes"] == ["account:write", "storage:read"]
        unknown = limited.post("/v1/api-keys", json={"name": "u", "scopes": ["storage:delete"]})
        assert "storage:delete" in str(assert_problem(unknown, 400, "invalid")["detail"])


def test_revoke_stops_the_key_at_once_and_keeps_it_listed(
    server: LiveServer, client: httpx.Client
) -> None:
    key = client.post("/v1/api-keys", json={"name": "revoke-me"}).json()
    with api(server, key["token"]) as holder:
        assert holder.get("/v1/account").status_code == 200
        revoked = client.post(f"/v1/api-keys/{key['id']}/revoke")
        assert revoked.json()["status"] == "Revoked"
        body = assert_problem(holder.get("/v1/account"), 401, "unauthenticated")
        assert "revoked" in str(body["detail"])
    listed = {k["id"]: k for k in client.get("/v1/api-keys").json()["items"]}
    assert listed[key["id"]]["status"] == "Revoked"
    assert_problem(client.post(f"/v1/api-keys/{key['id']}/regenerate"), 400, "invalid")


def test_regenerate_replaces_the_token(server: LiveServer, client: httpx.Client) -> None:
    key = client.post("/v1/api-keys", json={"name": "rotate"}).json()
    fresh = client.post(f"/v1/api-keys/{key['id']}/regenerate").json()
    assert fresh["id"] == key["id"] and fresh["token"] != key["token"]
    with api(server, key["token"]) as old:
        assert_problem(old.get("/v1/account"), 401, "unauthenticated")
    with api(server, fresh["token"]) as new:
        assert new.get("/v1/account").status_code == 200


def test_delete_removes_the_key(server: LiveServer, client: httpx.Client) -> None:
    key = client.post("/v1/api-keys", json={"name": "delete-me"}).json()
    assert client.delete(f"/v1/api-keys/{key['id']}").status_code == 204
    assert_problem(client.get(f"/v1/api-keys/{key['id']}"), 404, "not-found")
    assert_problem(client.delete(f"/v1/api-keys/{key['id']}"), 404, "not-found")
    with api(server, key["token"]) as gone:
        assert_problem(gone.get("/v1/account"), 401, "unauthenticated")


def test_other_accounts_keys_are_invisible(server: LiveServer, client: httpx.Client) -> None:
    from tests.api.conftest import fresh_email

    other = server.account(fresh_email("other"))
    with api(server, server.api_key(other)) as stranger:
        theirs = stranger.get("/v1/api-keys").json()["items"][0]["id"]
    for response in (
        client.get(f"/v1/api-keys/{theirs}"),
        client.post(f"/v1/api-keys/{theirs}/revoke"),
        client.post(f"/v1/api-keys/{theirs}/regenerate"),
        client.delete(f"/v1/api-keys/{theirs}"),
    ):
        assert_problem(response, 404, "not-found")
    assert theirs not in client.get("/v1/api-keys").text


def test_last_used_is_recorded(server: LiveServer, client: httpx.Client) -> None:
    key = client.post("/v1/api-keys", json={"name": "used"}).json()
    with api(server, key["token"]) as holder:
        holder.get("/v1/account")
    shown = client.get(f"/v1/api-keys/{key['id']}").json()
    assert shown["last_used_at"] is not None and shown["last_used_at"] >= key["created_at"]


def test_key_lists_are_paginated(client: httpx.Client) -> None:
    for n in range(3):
        client.post("/v1/api-keys", json={"name": f"page-{n}"})
    first = client.get("/v1/api-keys", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = client.get("/v1/api-keys", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert {k["id"] for k in first["items"]}.isdisjoint(k["id"] for k in second["items"])
    assert_problem(client.get("/v1/api-keys", params={"limit": 0}), 422, "validation")
