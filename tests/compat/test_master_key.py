"""Master key rotation on a running server (issue 17, item 9): S3 keeps authenticating during
and after `nexq admin master-key rotate` without a restart, every secret ends up sealed with
the new key, the old key opens nothing, and no key or secret is printed or logged."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nexq.core.crypto import LEGACY, SecretBox, UnknownMasterKey
from nexq.core.keyring import parse_keyring
from tests.live import BURST, Key, LiveServer, nexq, nexq_json


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    # The keyring outside the data directory, as docs/operations.md recommends; set in this
    # process's environment, so that the server and every admin command read it.
    keys = tmp_path / "keys"
    keys.mkdir()
    monkeypatch.setenv("NEXQ_MASTER_KEY_FILE", str(keys / "nexq.key"))
    server = LiveServer(tmp_path / "data", extra=("--workers", "2"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def as_before_key_ids(live: LiveServer, key: Key, master: bytes) -> None:
    """Seal ``key``'s secret as Nexq did before key ids (nonce + ciphertext) in place."""
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(master).encrypt(
        nonce, key.secret_access_key.encode(), key.access_key_id.encode()
    )
    with sqlite3.connect(live.data_dir / "meta.db") as db:
        db.execute(
            "UPDATE access_keys SET secret_sealed = ? WHERE id = ?", (sealed, key.access_key_id)
        )


def sealed_rows(live: LiveServer) -> list[tuple[str, bytes]]:
    with sqlite3.connect(live.data_dir / "meta.db") as db:
        return [
            (r[0], bytes(r[1])) for r in db.execute("SELECT id, secret_sealed FROM access_keys")
        ]


def test_rotation_while_serving(live: LiveServer, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "nexq.key"
    assert not (live.data_dir / "master.key").exists()
    old_text = key_file.read_text()
    old = parse_keyring(old_text).current
    emails = [live.account(f"rotate{i}@example.com") for i in range(3)]
    for email in emails:  # the traffic below reads as fast as it can
        live.raise_limits(email, s3_read_rps=BURST)
    keys = [live.key(email) for email in emails]
    as_before_key_ids(live, keys[0], old)
    clients = [live.client(k) for k in keys]
    for i, s3 in enumerate(clients):
        s3.create_bucket(Bucket=f"rotate-{i}")
        s3.put_object(Bucket=f"rotate-{i}", Key="k", Body=b"v")
    api = httpx.Client(
        base_url=live.api_url,
        headers={"Authorization": f"Bearer {live.api_key(keys[1].account)}"},
        timeout=30,
    )
    before = nexq_json("admin", "master-key", "status", data_dir=live.data_dir)
    old_id = before["current"]
    assert before["sealed"]["S3 access keys"] == {old_id: 2, LEGACY: 1}
    assert before["keyring"] == str(key_file)

    stop = threading.Event()
    served: list[int] = []
    failures: list[BaseException] = []

    def traffic() -> None:
        while not stop.is_set():
            for i, s3 in enumerate(clients):
                try:
                    s3.get_object(Bucket=f"rotate-{i}", Key="k")["Body"].read()
                    served.append(i)
                except Exception as exc:
                    failures.append(exc)

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        rotation = nexq(
            "admin", "master-key", "rotate", "--grace-seconds", "1", data_dir=live.data_dir
        )
    finally:
        stop.set()
        thread.join()
    assert failures == [] and len(served) > 3
    report = json.loads(rotation.stdout)
    new_id = report["current"]
    assert new_id != old_id and report["retired"] == [old_id]
    assert report["rewrapped"] >= 3 and report["unopenable"] == 0

    # Caches dropped (a new key bumps the auth generation): the workers now open secrets
    # sealed with a key they never loaded, and seal new ones with it.
    made = api.post("/v1/storage/access-keys", json={"label": "after rotation"})
    assert made.status_code == 201
    fresh = Key(made.json()["access_key_id"], made.json()["secret_access_key"], keys[1].account)
    for i, s3 in enumerate(clients):
        assert s3.get_object(Bucket=f"rotate-{i}", Key="k")["Body"].read() == b"v"
    assert live.client(fresh).list_buckets()["Buckets"][0]["Name"] == "rotate-1"
    url = api.post("/v1/storage/buckets/rotate-1/presign", json={"key": "k"}).json()["url"]
    assert httpx.get(url).content == b"v"

    after = nexq_json("admin", "master-key", "status", data_dir=live.data_dir)
    assert after["current"] == new_id and after["previous"] == []
    assert set(after["sealed"]["S3 access keys"]) == {new_id}
    new = parse_keyring(key_file.read_text())
    assert new.previous == () and new.current != old
    old_only = SecretBox(old)
    for key_id, sealed in sealed_rows(live):
        with pytest.raises(UnknownMasterKey):
            old_only.open(sealed, key_id)

    printed = rotation.stdout + rotation.stderr + json.dumps(before) + json.dumps(after)
    log = (live.data_dir.parent / f"server-{live.s3_port}.log").read_text()
    secrets = [base64.b64encode(k).decode() for k in (old, new.current)]
    secrets += [k.secret_access_key for k in (*keys, fresh)]
    for secret in secrets:
        assert secret not in printed and secret not in log


def test_rotation_resumes_after_an_interruption(live: LiveServer, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "nexq.key"
    key = live.key(live.account("interrupted@example.com"))
    old = parse_keyring(key_file.read_text()).current
    # As a rotation killed after publishing the new key and before any re-wrap leaves it.
    new = os.urandom(32)
    key_file.write_text(
        f"current {base64.b64encode(new).decode()}\nprevious {base64.b64encode(old).decode()}\n"
    )
    s3 = live.client(key)
    s3.create_bucket(Bucket="interrupted")  # opens with the old key, still accepted
    done = nexq_json(
        "admin", "master-key", "rotate", "--grace-seconds", "0", data_dir=live.data_dir
    )
    assert done["current"] == SecretBox(new).keyring.current_id
    assert parse_keyring(key_file.read_text()).previous == ()
    live.key(key.account, "bump")  # drops the workers' caches: the secret is read again
    assert s3.list_buckets()["Buckets"][0]["Name"] == "interrupted"


def test_rotation_keeps_sse_kms_objects_readable(live: LiveServer) -> None:
    s3 = live.client(live.key(live.account("kms-rotate@example.com")))
    s3.create_bucket(Bucket="kms-rotate")
    kms = {"ServerSideEncryption": "aws:kms"}
    s3.put_object(Bucket="kms-rotate", Key="before", Body=b"sealed by kms", **kms)
    before = nexq_json("admin", "master-key", "status", data_dir=live.data_dir)
    old_id = before["current"]
    assert before["sealed"]["KMS keys"] == {old_id: 1}
    nexq("admin", "master-key", "rotate", "--grace-seconds", "1", data_dir=live.data_dir)
    after = nexq_json("admin", "master-key", "status", data_dir=live.data_dir)
    assert after["current"] != old_id and after["sealed"]["KMS keys"] == {after["current"]: 1}
    # Every worker reads the re-wrapped key (the old master key is gone from the keyring).
    for _ in range(4):
        got = s3.get_object(Bucket="kms-rotate", Key="before")
        assert got["Body"].read() == b"sealed by kms"
    s3.put_object(Bucket="kms-rotate", Key="after", Body=b"after", **kms)
    assert s3.get_object(Bucket="kms-rotate", Key="after")["Body"].read() == b"after"
