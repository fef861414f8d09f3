"""dcp login, config, account and API keys against a live server."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Dcp, admin_api_key, api_url
from tests.live import LiveServer

PASSWORD = "correct horse battery"  # tests.live.LiveServer.account's default


def test_login_with_password_on_stdin_stores_a_working_key(
    server: LiveServer, email: str, dcp: Dcp, bucket_name: Callable[[], str]
) -> None:
    url = api_url(server)
    proc = dcp(
        "login", "--api-url", url, "--email", email, "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert len(proc.stdout.splitlines()) == 1
    assert email in proc.stdout
    stored = json.loads(dcp.config.read_text())
    assert stored["api_url"] == url
    assert stored["api_key"].startswith("nxq_")
    assert stored["api_key"] not in proc.stdout + proc.stderr
    assert stat.S_IMODE(dcp.config.stat().st_mode) == 0o600

    # No --api-url or --api-key from here on: both come from the config file.
    assert dcp.json("account", "show")["email"] == email
    keys = dcp.json("api-keys", "list")
    assert [k["name"] for k in keys] == [f"dcp on {socket.gethostname()}"]
    # Every scope of the account: the same as an operator-made key without --scope.
    every = admin_api_key(server, email)["scopes"]
    assert sorted(keys[0]["scopes"]) == sorted(every)
    bucket = bucket_name()
    assert dcp.json("storage", "buckets", "create", bucket)["name"] == bucket


def test_login_prompts_for_what_is_missing(server: LiveServer, email: str, dcp: Dcp) -> None:
    proc = dcp("login", "--api-url", api_url(server), stdin=f"{email}\n{PASSWORD}\n")
    assert email in proc.stdout
    assert PASSWORD not in proc.stdout + proc.stderr
    assert "Warning" not in proc.stderr  # no GetPassWarning: a pipe is read as a pipe
    assert dcp.json("account", "show")["email"] == email


def test_logging_in_again_renews_the_same_key_and_logout_deletes_it(
    server: LiveServer, email: str, dcp: Dcp
) -> None:
    url = api_url(server)
    login = ("login", "--api-url", url, "--email", email, "--password-stdin")
    first = dcp("--output", "json", *login, stdin=PASSWORD + "\n")
    first_token = json.loads(dcp.config.read_text())["api_key"]
    # More logins than the Free tier's 10 keys: each renews the key this config holds.
    for _ in range(11):
        again = dcp("--output", "json", *login, stdin=PASSWORD + "\n")
    assert json.loads(again.stdout)["id"] == json.loads(first.stdout)["id"]
    keys = dcp.json("api-keys", "list")
    assert [k["id"] for k in keys] == [json.loads(first.stdout)["id"]]
    # The old token stopped working when the key was renewed.
    dcp.fails(3, "--api-key", first_token, "account", "show")

    proc = dcp("logout")
    assert "Logged out" in proc.stdout
    stored = json.loads(dcp.config.read_text())
    assert "api_key" not in stored and stored["api_url"] == url
    # The key is gone on the server, not only from the file.
    operator_view = admin_api_key(server, email)["token"]
    remaining = dcp.json("--api-key", operator_view, "api-keys", "list")
    assert [k["name"] for k in remaining] == ["first key"]
    assert dcp.fails(2, "logout") == "dcp: error: not logged in: no API key in the config"


def test_login_with_a_wrong_password_stores_nothing(
    server: LiveServer, email: str, dcp: Dcp
) -> None:
    url = api_url(server)
    error = dcp(
        "login", "--api-url", url, "--email", email, "--password-stdin", stdin="nope\n", code=3
    )
    assert error.stderr.startswith("dcp: error: ")
    assert len(error.stderr.splitlines()) == 1
    assert not dcp.config.exists()


def test_config_show_masks_the_key_and_env_overrides_the_file(
    server: LiveServer, email: str, dcp: Dcp
) -> None:
    token = admin_api_key(server, email)["token"]
    dcp("config", "set", "api-key", token)
    dcp("config", "set", "api-url", api_url(server))
    assert stat.S_IMODE(dcp.config.stat().st_mode) == 0o600
    for args in [("config", "show"), ("--output", "json", "config", "show")]:
        shown = dcp(*args).stdout
        assert token not in shown
        assert token[:8] in shown
        assert api_url(server) in shown
    assert dcp.json("config", "show")["api_key"] == token[:8] + "*" * (len(token) - 8)

    # A bad key in the file is overridden by DCP_API_KEY, which --api-key overrides in turn.
    dcp("config", "set", "api-key", "nxq_" + "x" * 40)
    dcp.fails(3, "account", "show")
    env = {"DCP_API_KEY": token}
    assert dcp.json("account", "show", env=env)["email"] == email
    dcp.fails(3, "--api-key", "nxq_" + "y" * 40, "account", "show", env=env)
    assert dcp.json("--api-key", token, "account", "show")["email"] == email
    # DCP_API_URL overrides the file's URL.
    dcp.fails(7, "account", "show", env={**env, "DCP_API_URL": "http://127.0.0.1:9"})


def test_the_config_file_location(dcp: Dcp, tmp_path: Path) -> None:
    home = Path(dcp.env["HOME"])
    dcp("config", "set", "api-url", "http://default.example", unset=("DCP_CONFIG",))
    default = home / ".config" / "dcp" / "config.json"
    assert json.loads(default.read_text()) == {"api_url": "http://default.example"}
    assert stat.S_IMODE(default.stat().st_mode) == 0o600

    xdg = tmp_path / "xdg"
    env = {"XDG_CONFIG_HOME": str(xdg)}
    dcp("config", "set", "api-url", "http://xdg.example", env=env, unset=("DCP_CONFIG",))
    assert json.loads((xdg / "dcp" / "config.json").read_text())["api_url"] == "http://xdg.example"
    # DCP_CONFIG wins over both.
    dcp("config", "set", "api-url", "http://explicit.example", env=env)
    assert json.loads(dcp.config.read_text())["api_url"] == "http://explicit.example"
    assert json.loads(default.read_text())["api_url"] == "http://default.example"


def test_api_keys_create_list_revoke_regenerate_delete(
    server: LiveServer, email: str, user: Dcp
) -> None:
    proc = user(
        "api-keys",
        "create",
        "--name",
        "ci",
        "--description",
        "the CI job",
        "--scope",
        "storage:read",
    )
    assert "cannot be shown again" in proc.stderr
    token_line = [line for line in proc.stdout.splitlines() if line.startswith("token:")]
    assert len(token_line) == 1
    token = token_line[0].split()[1]
    assert token.startswith("nxq_")

    keys = {k["name"]: k for k in user.json("api-keys", "list")}
    ci = keys["ci"]
    assert set(ci) == {
        "id",
        "name",
        "description",
        "scopes",
        "status",
        "created_at",
        "last_used_at",
    }
    assert ci["description"] == "the CI job"
    assert ci["scopes"] == ["storage:read"]
    assert ci["status"] == "Active"
    assert "token" not in ci

    # The new key can read storage, not write it, nor read the account.
    as_ci = {"DCP_API_KEY": token}
    assert user.json("storage", "buckets", "list", env=as_ci) == []
    assert "storage:write" in user.fails(
        3, "storage", "buckets", "create", "nope-bucket", env=as_ci
    )
    user.fails(3, "account", "show", env=as_ci)

    regenerated = user.json("api-keys", "regenerate", ci["id"])
    assert regenerated["id"] == ci["id"]
    new_token = regenerated["token"]
    assert new_token != token
    user.fails(3, "storage", "buckets", "list", env=as_ci)
    assert user.json("storage", "buckets", "list", env={"DCP_API_KEY": new_token}) == []

    revoked = user.json("api-keys", "revoke", ci["id"])
    assert revoked["status"] == "Revoked"
    user.fails(3, "storage", "buckets", "list", env={"DCP_API_KEY": new_token})

    user("api-keys", "delete", ci["id"])
    assert "ci" not in {k["name"] for k in user.json("api-keys", "list")}
    user.fails(4, "api-keys", "revoke", ci["id"])


def test_api_keys_create_json_shows_the_token_once(user: Dcp) -> None:
    proc = user("--output", "json", "api-keys", "create", "--name", "script")
    created = json.loads(proc.stdout)
    assert created["token"].startswith("nxq_")
    assert created["name"] == "script"
    assert "cannot be shown again" in proc.stderr
    # Listing never shows it again.
    assert created["token"] not in user("--output", "json", "api-keys", "list").stdout
    assert created["token"] not in user("api-keys", "list").stdout


def test_account_show(user: Dcp, email: str) -> None:
    account = user.json("account", "show")
    assert set(account) == {"id", "email", "role", "status", "created_at"}
    assert (account["email"], account["role"], account["status"]) == (email, "customer", "active")
    table = user("account", "show").stdout
    assert email in table
    assert account["id"] in table
