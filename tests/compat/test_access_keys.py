"""Access keys as SPEC.md defines them: scopes, revocation, deletion, accounts kept apart."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.live import LiveServer, nexq, nexq_json


def test_key_shape(server: LiveServer) -> None:
    account = server.account("shape@example.com")
    key = server.key(account, "Production API")
    assert re.fullmatch(r"NQAK[a-z0-9]{16}", key.access_key_id)
    assert len(key.secret_access_key) == 40
    listed = nexq_json(
        "admin", "access-key", "list", "--account", account, data_dir=server.data_dir
    )
    assert listed[0]["label"] == "Production API"
    assert listed[0]["buckets"] == "all"
    assert listed[0]["status"] == "Active"
    assert datetime.fromisoformat(listed[0]["created"]).tzinfo is not None
    assert "secret_access_key" not in listed[0]


def test_secret_is_not_stored_in_clear(server: LiveServer) -> None:
    key = server.key(server.account("clear@example.com"))
    raw = server.stored_bytes()
    assert key.secret_access_key.encode() not in raw
    assert key.access_key_id.encode() in raw


def test_scoped_key_sees_and_touches_only_its_buckets(server: LiveServer) -> None:
    account = server.account("scoped@example.com")
    admin = server.client(server.key(account))
    admin.create_bucket(Bucket="scoped-granted")
    admin.create_bucket(Bucket="scoped-other")
    admin.put_object(Bucket="scoped-other", Key="secret", Body=b"s")
    scoped = server.client(server.key(account, "ci", ["scoped-granted"]))
    assert [b["Name"] for b in scoped.list_buckets()["Buckets"]] == ["scoped-granted"]
    scoped.put_object(Bucket="scoped-granted", Key="k", Body=b"v")
    assert scoped.get_object(Bucket="scoped-granted", Key="k")["Body"].read() == b"v"
    for call in (
        lambda: scoped.get_object(Bucket="scoped-other", Key="secret"),
        lambda: scoped.put_object(Bucket="scoped-other", Key="x", Body=b"x"),
        lambda: scoped.list_objects_v2(Bucket="scoped-other"),
        lambda: scoped.delete_object(Bucket="scoped-other", Key="secret"),
        lambda: scoped.create_bucket(Bucket="scoped-new"),
        lambda: scoped.copy_object(
            Bucket="scoped-granted",
            Key="stolen",
            CopySource={"Bucket": "scoped-other", "Key": "secret"},
        ),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert status(exc) == 403
        assert code(exc) == "AccessDenied"
    listed = nexq_json(
        "admin", "access-key", "list", "--account", account, data_dir=server.data_dir
    )
    assert listed[1]["buckets"] == ["scoped-granted"]


def test_grant_follows_the_bucket_not_its_name(server: LiveServer) -> None:
    account = server.account("identity@example.com")
    admin = server.client(server.key(account))
    admin.create_bucket(Bucket="reborn-bucket")
    scoped = server.client(server.key(account, "s", ["reborn-bucket"]))
    scoped.put_object(Bucket="reborn-bucket", Key="k", Body=b"v")
    scoped.delete_object(Bucket="reborn-bucket", Key="k")
    admin.delete_bucket(Bucket="reborn-bucket")
    admin.create_bucket(Bucket="reborn-bucket")
    with pytest.raises(ClientError) as exc:
        scoped.put_object(Bucket="reborn-bucket", Key="k", Body=b"v")
    assert status(exc) == 403


def test_accounts_are_isolated(server: LiveServer) -> None:
    alice = server.client(server.key(server.account("alice@example.com")))
    bob = server.client(server.key(server.account("bob@example.com")))
    alice.create_bucket(Bucket="alice-private")
    alice.put_object(Bucket="alice-private", Key="diary", Body=b"dear")
    assert "alice-private" not in [b["Name"] for b in bob.list_buckets()["Buckets"]]
    for call in (
        lambda: bob.get_object(Bucket="alice-private", Key="diary"),
        lambda: bob.head_object(Bucket="alice-private", Key="diary"),
        lambda: bob.list_objects(Bucket="alice-private"),
        lambda: bob.put_object(Bucket="alice-private", Key="x", Body=b"x"),
        lambda: bob.delete_bucket(Bucket="alice-private"),
        lambda: bob.create_multipart_upload(Bucket="alice-private", Key="x"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert status(exc) == 403
    assert alice.get_object(Bucket="alice-private", Key="diary")["Body"].read() == b"dear"


def test_revoke_is_immediate_on_the_running_server(server: LiveServer) -> None:
    account = server.account("revoke@example.com")
    key = server.key(account)
    client = server.client(key)
    client.create_bucket(Bucket="revoke-bucket")
    nexq(
        "admin",
        "access-key",
        "revoke",
        "--account",
        account,
        key.access_key_id,
        data_dir=server.data_dir,
    )
    with pytest.raises(ClientError) as exc:
        client.list_buckets()
    assert status(exc) == 403
    listed = nexq_json(
        "admin", "access-key", "list", "--account", account, data_dir=server.data_dir
    )
    assert listed[0]["status"] == "Revoked"


def test_delete_removes_key(server: LiveServer) -> None:
    account = server.account("delete@example.com")
    key = server.key(account)
    client = server.client(key)
    client.list_buckets()
    nexq(
        "admin",
        "access-key",
        "delete",
        "--account",
        account,
        key.access_key_id,
        data_dir=server.data_dir,
    )
    with pytest.raises(ClientError) as exc:
        client.list_buckets()
    assert status(exc) == 403
    assert code(exc) == "InvalidAccessKeyId"
    assert (
        nexq_json("admin", "access-key", "list", "--account", account, data_dir=server.data_dir)
        == []
    )


def test_suspended_account_is_refused(server: LiveServer) -> None:
    account = server.account("suspend@example.com")
    client = server.client(server.key(account))
    client.list_buckets()
    nexq("admin", "account", "suspend", account, data_dir=server.data_dir)
    with pytest.raises(ClientError) as exc:
        client.list_buckets()
    assert status(exc) == 403
    nexq("admin", "account", "resume", account, data_dir=server.data_dir)
    client.list_buckets()


def test_cli_errors_are_clear(server: LiveServer) -> None:
    out = nexq(
        "admin",
        "access-key",
        "create",
        "--account",
        "nobody@example.com",
        "--label",
        "x",
        data_dir=server.data_dir,
        check=False,
    )
    assert out.returncode == 1
    assert "nobody@example.com" in out.stderr
    account = server.account("clierr@example.com")
    out = nexq(
        "admin",
        "access-key",
        "create",
        "--account",
        account,
        "--label",
        "x",
        "--bucket",
        "not-mine",
        data_dir=server.data_dir,
        check=False,
    )
    assert out.returncode == 1
    assert "not-mine" in out.stderr
    out = nexq(
        "admin",
        "access-key",
        "revoke",
        "--account",
        account,
        "NQAKaaaaaaaaaaaaaaaa",
        data_dir=server.data_dir,
        check=False,
    )
    assert out.returncode == 1


def test_database_has_no_clear_secrets_after_use(server: LiveServer, s3: Any) -> None:
    sealed = server.sql("SELECT secret_sealed FROM access_keys")
    assert sealed
    assert all(len(row[0]) > 40 for row in sealed)
