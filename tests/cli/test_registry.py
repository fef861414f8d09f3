"""dcp registry: the real executable against a live server. Its JSON is the REST API's, a
credential it prints works at the registry, and the login helpers hand the token over on
standard input only."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.cli.conftest import Dcp
from tests.live import LiveServer
from tests.oci_push import push_image, token_response
from tests.registry.clients import DockerDaemon

_count = iter(range(1_000_000))


def fresh_name() -> str:
    return f"dcp-reg-{os.getpid()}-{next(_count)}"


def rest(server: LiveServer, dcp: Dcp, path: str) -> Any:
    """What the REST API answers to the key dcp is configured with."""
    key = json.loads(dcp.config.read_text())["api_key"]
    answer = httpx.get(
        f"{server.api_url}/v1{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_registries_content_and_deletion(server: LiveServer, user: Dcp) -> None:
    name = fresh_name()
    made = user("--output", "json", "registry", "create", name)
    created = json.loads(made.stdout)
    assert "shown only now" in made.stderr
    credential = created["credential"]
    assert set(created) == {"name", "endpoint", "created_at", "stored_bytes", "credential"}
    assert set(credential) >= {"id", "username", "token", "docker_login", "access"}
    assert token_response(server, credential["username"], credential["token"]).status_code == 200
    table = user("registry", "create", fresh_name()).stdout
    assert "token:" in table and "docker login" in table

    assert user.json("registry", "list") == rest(server, user, "/registries")
    assert user.json("registry", "show", name) == rest(server, user, f"/registries/{name}")
    assert created["endpoint"] in user("registry", "show", name).stdout

    username, token = credential["username"], credential["token"]
    first = push_image(server, username, token, f"{name}/frontend/web", "v1", [b"a" * 3000])
    push_image(server, username, token, f"{name}/frontend/web", "v2", [b"b" * 5000])
    repositories = user.json("registry", "repositories", name)
    assert repositories == rest(server, user, f"/registries/{name}/repositories")
    assert [(r["name"], r["tags"]) for r in repositories] == [("frontend/web", 2)]
    listing = user("registry", "repositories", name).stdout.splitlines()
    assert listing[0].split() == ["REPOSITORY", "TAGS", "SIZE", "LAST", "PUSH"]
    assert listing[1].split()[:2] == ["frontend/web", "2"]
    tags = user.json("registry", "tags", name, "frontend/web")
    assert tags == rest(server, user, f"/registries/{name}/repositories/frontend/web/tags")
    assert {t["name"]: t["digest"] for t in tags}["v1"] == first

    user("registry", "delete-tag", name, "frontend/web", "v2")
    assert [t["name"] for t in user.json("registry", "tags", name, "frontend/web")] == ["v1"]
    user("registry", "delete-manifest", name, "frontend/web", first)
    assert user.json("registry", "tags", name, "frontend/web") == []
    said = user.fails(4, "registry", "delete-manifest", name, "frontend/web", first)
    assert first in said

    # Deleting asks for the name; a wrong answer deletes nothing.
    refused = user("registry", "delete", name, stdin="dcp-reg-other\n", code=2)
    assert "not deleted" in refused.stderr
    assert user.json("registry", "show", name)["name"] == name
    user("registry", "delete", name, stdin=f"{name}\n")
    user.fails(4, "registry", "show", name)
    assert token_response(server, username, token).status_code == 401


def test_credentials(server: LiveServer, user: Dcp) -> None:
    name = fresh_name()
    user("registry", "create", name)
    reader = user.json(
        "registry", "credentials", "create", name, "--label", "cluster", "--read-only"
    )
    assert (reader["label"], reader["access"], reader["status"]) == ("cluster", "read", "active")
    assert token_response(server, reader["username"], reader["token"]).status_code == 200
    listed = user.json("registry", "credentials", "list", name)
    assert listed == rest(server, user, f"/registries/{name}/credentials")
    assert sorted(c["label"] for c in listed) == ["cluster", "default"]
    assert all("token" not in c for c in listed)
    table = user("registry", "credentials", "list", name).stdout
    assert reader["username"] in table and "read" in table

    rotated = user.json("registry", "credentials", "rotate", name, reader["id"])
    assert rotated["id"] == reader["id"] and rotated["token"] != reader["token"]
    assert token_response(server, reader["username"], reader["token"]).status_code == 401
    assert token_response(server, reader["username"], rotated["token"]).status_code == 200
    revoked = user.json("registry", "credentials", "revoke", name, reader["id"])
    assert revoked["status"] == "revoked"
    assert token_response(server, reader["username"], rotated["token"]).status_code == 401
    user("registry", "credentials", "delete", name, reader["id"])
    assert reader["id"] not in [c["id"] for c in user.json("registry", "credentials", "list", name)]
    user.fails(4, "registry", "credentials", "rotate", name, reader["id"])
    past = user.fails(
        6, "registry", "credentials", "create", name, "--label", "x", "--expires-at", "2001-01-01Z"
    )
    assert "expires_at" in past
    user("registry", "delete", name, "--yes")


def test_login_hands_docker_the_token_on_stdin(
    server: LiveServer, user: Dcp, tmp_path: Path
) -> None:
    name = fresh_name()
    made = user.json("registry", "create", name)
    username, token = made["credential"]["username"], made["credential"]["token"]
    host = f"127.0.0.1:{server.registry_port}"

    printed = user("registry", "login", name, "--print").stdout.strip()
    assert printed == f"docker login {host} --username '{username}' --password-stdin"
    assert token not in printed

    # The real docker, on a dockerd of the test's own: it logs in (token auth) and keeps the
    # credential in its own config; the token never was among its arguments.
    with DockerDaemon(tmp_path / "dockerd") as daemon:
        config = tmp_path / "docker-config"
        env = {"DOCKER_HOST": daemon.host, "DOCKER_CONFIG": str(config)}
        said = user("registry", "login", name, "--token-stdin", stdin=token + "\n", env=env)
        assert "Login Succeeded" in said.stdout + said.stderr
        auths = json.loads((config / "config.json").read_text())["auths"]
        assert base64.b64decode(auths[host]["auth"]).decode() == f"{username}:{token}"

        # docker says why in its own words; dcp's one line follows.
        wrong = user(
            "registry", "login", name, "--token-stdin", stdin="nxr_wrong\n", env=env, code=1
        )
        *docker_said, ours = wrong.stderr.strip().splitlines()
        assert "The username or token is not valid" in "\n".join(docker_said)
        assert ours == f"dcp: error: docker login {host} failed (exit 1)"
    missing = user.fails(1, "registry", "login", name, stdin=token, env={"PATH": str(tmp_path)})
    assert "--print" in missing
    user.fails(2, "registry", "login", name, "--token-stdin", stdin="", env=env)


def test_pull_secret_is_a_dockerconfigjson_secret(server: LiveServer, user: Dcp) -> None:
    name = fresh_name()
    made = user.json("registry", "create", name)
    username, token = made["credential"]["username"], made["credential"]["token"]
    host = f"127.0.0.1:{server.registry_port}"

    printed = user(
        "registry",
        "pull-secret",
        name,
        "--token-stdin",
        "--secret-name",
        "images",
        "--namespace",
        "shop",
        stdin=token + "\n",
    ).stdout
    secret = yaml.safe_load(printed)
    assert secret["kind"] == "Secret" and secret["apiVersion"] == "v1"
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"] == {"name": "images", "namespace": "shop"}
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    entry = config["auths"][host]
    assert (entry["username"], entry["password"]) == (username, token)
    assert base64.b64decode(entry["auth"]).decode() == f"{username}:{token}"
    # What kubelet sends from the Secret: the auth field as Basic credentials.
    answer = httpx.get(
        f"http://{host}/v2/token", headers={"Authorization": f"Basic {entry['auth']}"}, timeout=30
    )
    assert answer.status_code == 200

    as_json = user(
        "--output",
        "json",
        "registry",
        "pull-secret",
        name,
        "--username",
        username,
        "--secret-name",
        "images",
        "--namespace",
        "shop",
        stdin=token,
    ).stdout
    assert json.loads(as_json) == secret
    default_name = yaml.safe_load(user("registry", "pull-secret", name, stdin=token).stdout)
    assert default_name["metadata"] == {"name": f"{name}-pull"}
    said = user.fails(2, "registry", "pull-secret", name, "--secret-name", "Bad_Name", stdin=token)
    assert "--secret-name" in said
