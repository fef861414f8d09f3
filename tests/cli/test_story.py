"""The whole customer story with dcp and aws-cli, no hand-written configuration in between."""

from __future__ import annotations

import configparser
import json
import re
import stat
from collections.abc import Callable
from pathlib import Path

from nexq.client import NexqClient
from tests.cli.conftest import Dcp, admin_api_key, api_url, isolated_env
from tests.live import LiveServer


def test_from_api_key_to_aws_cli_and_back(
    server: LiveServer, email: str, dcp: Dcp, tmp_path: Path, bucket_name: Callable[[], str]
) -> None:
    token = admin_api_key(server, email)["token"]
    dcp("config", "set", "api-key", token)
    dcp("config", "set", "api-url", api_url(server))
    assert stat.S_IMODE(dcp.config.stat().st_mode) == 0o600

    bucket = bucket_name()
    other = bucket_name()
    dcp("storage", "buckets", "create", bucket)
    dcp("storage", "buckets", "create", other)

    create = ["storage", "keys", "create", "--label", "laptop", "--bucket", bucket]
    proc = dcp("--output", "json", *create, "--aws-profile", "nexq-test")
    created = json.loads(proc.stdout)
    assert created["label"] == "laptop"
    assert created["buckets"] == [bucket]
    assert created["status"] == "Active"
    assert created["secret_access_key"]
    assert "cannot be shown again" in proc.stderr
    assert stat.S_IMODE(dcp.aws_credentials.stat().st_mode) == 0o600

    # aws-cli gets everything (keys, endpoint, region, path style) from the profile alone.
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello from aws-cli\n")
    dcp.aws("--profile", "nexq-test", "s3", "cp", str(source), f"s3://{bucket}/dir/hello.txt")
    listed = dcp.aws("--profile", "nexq-test", "s3", "ls", f"s3://{bucket}/dir/").stdout
    assert "hello.txt" in listed
    back = tmp_path / "back.txt"
    dcp.aws("--profile", "nexq-test", "s3", "cp", f"s3://{bucket}/dir/hello.txt", str(back))
    assert back.read_bytes() == source.read_bytes()
    # Limited to its bucket: the other one is refused.
    denied = dcp.aws("--profile", "nexq-test", "s3", "ls", f"s3://{other}", check=False)
    assert denied.returncode != 0
    assert "AccessDenied" in denied.stderr

    objects = dcp.json("storage", "objects", "list", bucket)["items"]
    assert [o["key"] for o in objects] == ["dir/hello.txt"]
    assert objects[0]["size"] == len(source.read_bytes())

    keys = dcp.json("storage", "keys", "list")
    assert [(k["access_key_id"], k["status"]) for k in keys] == [
        (created["access_key_id"], "Active")
    ]
    table = dcp("storage", "keys", "list").stdout
    assert created["access_key_id"] in table
    assert created["secret_access_key"] not in table

    revoked = dcp.json("storage", "keys", "revoke", created["access_key_id"])
    assert revoked["status"] == "Revoked"
    assert "secret_access_key" not in revoked
    refused = dcp.aws("--profile", "nexq-test", "s3", "ls", f"s3://{bucket}", check=False)
    assert refused.returncode != 0
    # Nexq answers a revoked key 403 AccessDenied ("The access key has been revoked.").
    assert "AccessDenied" in refused.stderr
    assert "revoked" in refused.stderr
    # The status behind it, which aws-cli's message leaves out.
    list_objects = ["s3api", "list-objects-v2", "--bucket", bucket]
    debug = dcp.aws("--debug", "--profile", "nexq-test", *list_objects, check=False)
    assert re.search(r'"GET /[^"]*" 403 ', debug.stderr), debug.stderr[-2000:]

    dcp("storage", "keys", "delete", created["access_key_id"])
    assert dcp.json("storage", "keys", "list") == []


def test_aws_profile_keeps_other_profiles_and_replaces_its_own(
    server: LiveServer, email: str, tmp_path: Path, bucket_name: Callable[[], str]
) -> None:
    # No AWS_* file variables: the files are the ones under $HOME/.aws, as for a person.
    env = isolated_env(tmp_path)
    del env["AWS_CONFIG_FILE"], env["AWS_SHARED_CREDENTIALS_FILE"]
    dcp = Dcp(env, tmp_path)
    aws_dir = Path(env["HOME"]) / ".aws"
    aws_dir.mkdir()
    (aws_dir / "credentials").write_text(
        "[work]\naws_access_key_id = AKIAWORK\naws_secret_access_key = s%cret\n\n"
        "[mine]\naws_access_key_id = OLD\naws_secret_access_key = OLDSECRET\n"
    )
    (aws_dir / "config").write_text(
        "[profile work]\nregion = eu-west-1\n\n[profile mine]\nregion = old-region\noutput = text\n"
    )
    dcp("config", "set", "api-url", api_url(server))
    token = admin_api_key(server, email)["token"]
    dcp("config", "set", "api-key", token)
    bucket = bucket_name()
    dcp("storage", "buckets", "create", bucket)

    created = dcp.json("storage", "keys", "create", "--label", "all", "--aws-profile", "mine")
    assert created["buckets"] == "all"

    credentials = configparser.ConfigParser(interpolation=None)
    credentials.read(aws_dir / "credentials")
    assert dict(credentials["work"]) == {
        "aws_access_key_id": "AKIAWORK",
        "aws_secret_access_key": "s%cret",
    }
    assert dict(credentials["mine"]) == {
        "aws_access_key_id": created["access_key_id"],
        "aws_secret_access_key": created["secret_access_key"],
    }
    config = configparser.ConfigParser(interpolation=None)
    config.read(aws_dir / "config")
    assert dict(config["profile work"]) == {"region": "eu-west-1"}
    mine = config["profile mine"]
    assert "output" not in mine  # replaced, not merged
    with NexqClient(api_url(server), token) as api:
        info = api.storage()
    assert mine["endpoint_url"] == info["s3_endpoint"]
    assert mine["region"] == info["region"]
    assert mine["s3"].split() == ["addressing_style", "=", "path"]
    for name in ("credentials", "config"):
        assert stat.S_IMODE((aws_dir / name).stat().st_mode) == 0o600

    listing = dcp.aws("--profile", "mine", "s3", "ls").stdout
    assert bucket in listing
