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
        assert "storage:write" in str(assert_problem(wider, 403, "beyond-caller-scopes")["detail"])
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


def test_a_narrow_key_cannot_regenerate_revoke_or_delete_a_wider_one(
    server: LiveServer, client: httpx.Client
) -> None:
    """The escalation an outside review found: account:write regenerated the widest key of
    the account and got its token, with every scope."""
    wide = client.post("/v1/api-keys", json={"name": "wide"}).json()
    narrow = client.post(
        "/v1/api-keys", json={"name": "narrow", "scopes": ["account:write"]}
    ).json()
    with api(server, narrow["token"]) as caller:
        for verb in ("regenerate", "revoke"):
            body = assert_problem(
                caller.post(f"/v1/api-keys/{wide['id']}/{verb}"), 403, "beyond-caller-scopes"
            )
            assert "storage:write" in body["scopes"]  # type: ignore[operator]
            assert "token" not in body
        assert_problem(caller.delete(f"/v1/api-keys/{wide['id']}"), 403, "beyond-caller-scopes")
        # The wide key is untouched: same token, still active.
        shown = client.get(f"/v1/api-keys/{wide['id']}").json()
        assert shown["status"] == "Active"
        with api(server, wide["token"]) as still:
            assert still.get("/v1/storage/buckets").status_code == 200
        # Keys within its reach (its own scopes or fewer, itself included) it may manage.
        peer = client.post("/v1/api-keys", json={"name": "peer", "scopes": ["account:read"]})
        regenerated = caller.post(f"/v1/api-keys/{peer.json()['id']}/regenerate")
        assert regenerated.status_code == 200 and regenerated.json()["token"].startswith("nxq_")
        assert caller.delete(f"/v1/api-keys/{peer.json()['id']}").status_code == 204
        own = caller.post(f"/v1/api-keys/{narrow['id']}/regenerate")
        assert own.status_code == 200
    with api(server, own.json()["token"]) as renewed:
        assert renewed.post(f"/v1/api-keys/{narrow['id']}/revoke").status_code == 200


def test_the_tier_sets_prices_so_changing_it_needs_billing_write_too(
    server: LiveServer, client: httpx.Client
) -> None:
    token = client.post(
        "/v1/api-keys", json={"name": "acct-only", "scopes": ["account:write"]}
    ).json()["token"]
    with api(server, token) as caller:
        body = assert_problem(
            caller.put("/v1/account/tier", json={"tier": "developer"}), 403, "missing-scope"
        )
        assert body["scope"] == "billing:write"


def test_marking_notifications_read_needs_a_write_scope(
    server: LiveServer, client: httpx.Client
) -> None:
    for scope in ("account:read", "billing:read"):
        token = client.post("/v1/api-keys", json={"name": f"ro-{scope}", "scopes": [scope]}).json()[
            "token"
        ]
        with api(server, token) as reader:
            assert reader.get("/v1/notifications").status_code == 200
            assert_problem(reader.post("/v1/notifications/read"), 403, "missing-scope")
    for scope in ("account:write", "billing:write"):
        token = client.post("/v1/api-keys", json={"name": f"rw-{scope}", "scopes": [scope]}).json()[
            "token"
        ]
        with api(server, token) as writer:
            assert writer.post("/v1/notifications/read").status_code == 204


def test_the_openapi_document_states_each_operations_scopes(client: httpx.Client) -> None:
    spec = client.get("/v1/openapi.json").json()
    paths = spec["paths"]
    assert paths["/v1/api-keys/{key_id}/regenerate"]["post"]["security"] == [
        {"HTTPBearer": ["account:write"]}
    ]
    assert paths["/v1/account/tier"]["put"]["security"] == [
        {"HTTPBearer": ["account:write", "billing:write"]}
    ]
    assert paths["/v1/storage/usage"]["get"]["security"] == [
        {"HTTPBearer": ["storage:read"]},
        {"HTTPBearer": ["billing:read"]},
    ]
    assert "security" not in paths["/v1/signup"]["post"]
