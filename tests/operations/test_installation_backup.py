"""``nexq admin backup`` and ``nexq admin restore`` of an embedded installation (issue 19): a
backup taken while S3 writers overwrite and delete objects, restored into a new data dir,
served by a second server and read back whole; and the refusals of both commands."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import api
from tests.live import BURST, Key, LiveServer, nexq
from tests.oci_push import bearer, digest_of, push_image, registry_url
from tests.operations.backup_writes import (
    CHURN,
    Write,
    body_of,
    churning,
    counter_in,
    possible,
)

STATIC = 40  # objects nobody touches during the backup
RATE_MIB = "1"  # --max-rate: the copy takes ~3 s, long enough for the garbage collector


@dataclass
class Taken:
    """The source installation, and the backup taken of it under writes."""

    source: LiveServer
    key: Key
    backup: Path
    report: dict[str, Any]
    started: float
    ended: float
    writes: list[Write] = field(default_factory=list)
    upload_id: str = ""
    part: bytes = b""
    registry: dict[str, Any] = field(default_factory=dict)
    attachment: dict[str, Any] = field(default_factory=dict)
    api_token: str = ""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("source") / "data")
    live.start()
    yield live
    live.stop()
    live.remove_databases()


@pytest.fixture(scope="module")
def taken(source: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Taken:
    email = source.account("backup-owner@example.com")
    source.raise_limits(email, s3_read_rps=BURST, s3_write_rps=BURST, api_rps=BURST)
    key = source.key(email)
    s3 = source.client(key)
    s3.create_bucket(Bucket="kept")
    for n in range(STATIC):
        s3.put_object(Bucket="kept", Key=f"static/{n}", Body=body_of(f"static/{n}", 0))
    for n in range(CHURN):
        s3.put_object(Bucket="kept", Key=f"churn/{n}", Body=body_of(f"churn/{n}", 0))
    # An upload in progress: its part is a blob that only the parts table names.
    part = os.urandom(100_000)
    upload_id = s3.create_multipart_upload(Bucket="kept", Key="pending")["UploadId"]
    s3.upload_part(Bucket="kept", Key="pending", UploadId=upload_id, PartNumber=1, Body=part)
    token = source.api_key(email)
    registry, attachment = _registry_image(source, token), _attachment(source, token)

    backup = tmp_path_factory.mktemp("backup") / "nexq-backup"
    with churning(source, key, "kept") as writes:
        started = time.monotonic()
        out = nexq(
            "admin",
            "backup",
            "--to",
            str(backup),
            "--max-rate",
            RATE_MIB,
            "--json",
            data_dir=source.data_dir,
            check=False,
        )
        ended = time.monotonic()
    assert out.returncode == 0, out.stderr
    return Taken(
        source,
        key,
        backup,
        json.loads(out.stdout),
        started,
        ended,
        writes,
        upload_id,
        part,
        registry,
        attachment,
        token,
    )


def _registry_image(server: LiveServer, token: str) -> dict[str, Any]:
    with api(server, token) as client:
        made = client.post("/v1/registries", json={"name": "backed-up"})
        assert made.status_code == 201, made.text
    credential = made.json()["credential"]
    layer = os.urandom(30_000)
    push_image(server, credential["username"], credential["token"], "backed-up/app", "v1", [layer])
    return {**credential, "layer": layer}


def _attachment(server: LiveServer, token: str) -> dict[str, Any]:
    log = os.urandom(20_000)
    with api(server, token) as client:
        ticket = client.post(
            "/v1/support/tickets",
            json={
                "subject": "Keep this",
                "service": "Object Storage",
                "severity": "Low",
                "description": "With a log.",
            },
        ).json()
        path = f"/v1/support/tickets/{ticket['id']}/attachments"
        sent = client.post(path, data={"body": "log"}, files=[("files", ("a.log", log, "x/y"))])
        assert sent.status_code == 201, sent.text
    (attached,) = sent.json()["attachments"]
    return {"url": f"{path}/{attached['id']}", "log": log}


def restore(backup: Path, target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return nexq("admin", "restore", "--from", str(backup), *args, data_dir=target, check=False)


# --- the round trip -------------------------------------------------------------------------


def test_a_backup_under_writes_restores_and_serves_everything(taken: Taken, tmp_path: Path) -> None:
    report = taken.report
    assert report["path"] == str(taken.backup)
    assert report["objects"] >= STATIC
    # Every object and part blob, the registry's config + layer + manifest, the attachment.
    assert report["blobs"] >= STATIC + 1 + 3 + 1
    assert not report["master_key"]["included"]
    assert report["master_key"]["kept_at"] == str((taken.source.data_dir / "master.key").resolve())
    # The writer overwrote and deleted objects that the snapshot names while they were being
    # copied: their files were moved aside, and copied from there.
    assert report["copied_from_held"] >= 1, report
    assert report["held"] >= report["copied_from_held"]
    # The hold is over, and what it kept aside is gone.
    assert not (taken.source.data_dir / "backup.hold").exists()
    assert list((taken.source.data_dir / "backup-held").iterdir()) == []

    target = tmp_path / "restored"
    key_file = taken.source.data_dir / "master.key"
    done = restore(taken.backup, target, "--master-key", str(key_file), "--json")
    assert done.returncode == 0, done.stderr
    restored = json.loads(done.stdout)
    assert restored["verified"] is True
    assert restored["blobs"] == report["blobs"]
    assert restored["fsck"]["clean"] is True, restored["fsck"]
    assert restored["master_key"]["opens"] is True
    assert (target / "master.key").read_bytes() == key_file.read_bytes()
    assert nexq("admin", "fsck", data_dir=target, check=False).returncode == 0

    server = LiveServer(target)
    server.start()
    try:
        _reads_back(taken, server)
    finally:
        server.stop()
        server.remove_databases()


def _reads_back(taken: Taken, server: LiveServer) -> None:
    s3 = server.client(taken.key)  # the same S3 key: its secret opened with the same key
    listed = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="kept")
        for o in page.get("Contents", [])
    ]
    assert sorted(k for k in listed if k.startswith("static/")) == sorted(
        f"static/{n}" for n in range(STATIC)
    )
    for name in listed:
        body = s3.get_object(Bucket="kept", Key=name)["Body"].read()
        counter = counter_in(name, body)
        if name.startswith("churn/"):
            assert counter in _possible(taken, name), (name, counter)
    for n in range(CHURN):  # a churned key that is not listed was deleted at the snapshot
        name = f"churn/{n}"
        if name not in listed:
            assert None in _possible(taken, name), name
    # The upload in progress goes on where it was.
    completed = s3.complete_multipart_upload(
        Bucket="kept",
        Key="pending",
        UploadId=taken.upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": f'"{_md5(taken.part)}"'}]},
    )
    assert completed["Key"] == "pending"
    assert s3.get_object(Bucket="kept", Key="pending")["Body"].read() == taken.part
    image = taken.registry
    headers = bearer(server, image["username"], image["token"])
    layer = httpx.get(
        f"{registry_url(server)}/v2/backed-up/app/blobs/{digest_of(image['layer'])}",
        headers=headers,
        timeout=30,
        follow_redirects=True,
    )
    assert layer.status_code == 200 and layer.content == image["layer"]
    with api(server, taken.api_token) as client:
        assert client.get(taken.attachment["url"]).content == taken.attachment["log"]


def _possible(taken: Taken, name: str) -> set[int | None]:
    return possible(taken.writes, name, taken.started, taken.ended)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_the_backup_is_checkable_and_keeps_the_master_key_out(taken: Taken) -> None:
    manifest = json.loads((taken.backup / "nexq-backup.json").read_text())
    assert manifest["format"] == "nexq-backup/1"
    assert manifest["master_key_included"] is False
    sums = (taken.backup / "SHA256SUMS").read_text().splitlines()
    listed = {line.split("  ", 1)[1] for line in sums}
    assert "meta.db" in listed and "tiers.toml" in listed
    assert "master.key" not in listed and not (taken.backup / "master.key").exists()
    assert sum(1 for p in listed if p.startswith("blobs/")) >= STATIC
    assert any(p.startswith("registry/blobs/") for p in listed)
    assert any(p.startswith("support/blobs/") for p in listed)
    check = subprocess.run(
        ["sha256sum", "--check", "--quiet", "SHA256SUMS"],
        cwd=taken.backup,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_with_the_master_key_included_the_backup_restores_on_its_own(
    taken: Taken, tmp_path: Path
) -> None:
    backup = tmp_path / "with-key"
    out = nexq(
        "admin",
        "backup",
        "--to",
        str(backup),
        "--include-master-key",
        data_dir=taken.source.data_dir,
    )
    assert "protect the backup like the key" in out.stdout
    key = taken.source.data_dir / "master.key"
    assert (backup / "master.key").read_bytes() == key.read_bytes()
    done = restore(backup, tmp_path / "restored", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["master_key"]["opens"] is True


# --- refusals -------------------------------------------------------------------------------


def test_restore_refuses_a_data_dir_that_is_not_empty(taken: Taken, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "something").write_text("x")
    done = restore(taken.backup, target)
    assert done.returncode == 1
    assert f"{target} is not empty" in done.stderr
    assert sorted(p.name for p in target.iterdir()) == ["something"]


def test_restore_refuses_a_tampered_blob_and_names_it(taken: Taken, tmp_path: Path) -> None:
    backup = tmp_path / "tampered"
    shutil.copytree(taken.backup, backup)
    blob = sorted((backup / "blobs").rglob("*"))[-1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    target = tmp_path / "restored"
    done = restore(backup, target, "--master-key", str(taken.source.data_dir / "master.key"))
    assert done.returncode == 1
    assert f"{blob.relative_to(backup)} in the backup does not match its SHA-256" in done.stderr
    assert not target.exists()  # nothing half-restored is left behind


def test_restore_refuses_a_backup_without_its_manifest(taken: Taken, tmp_path: Path) -> None:
    backup = tmp_path / "unfinished"
    shutil.copytree(taken.backup, backup)
    (backup / "nexq-backup.json").unlink()
    done = restore(backup, tmp_path / "restored")
    assert done.returncode == 1
    assert "holds no nexq-backup.json" in done.stderr
    assert "did not finish" in done.stderr


def test_restore_refuses_a_wrong_master_key(taken: Taken, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_text(f"current {base64.b64encode(os.urandom(32)).decode()}\n")
    target = tmp_path / "restored"
    done = restore(taken.backup, target, "--master-key", str(other))
    assert done.returncode == 1
    assert "does not open secrets sealed with key" in done.stderr


def test_backup_refuses_a_folder_that_is_not_empty(taken: Taken, tmp_path: Path) -> None:
    (tmp_path / "old").write_text("x")
    done = nexq(
        "admin", "backup", "--to", str(tmp_path), data_dir=taken.source.data_dir, check=False
    )
    assert done.returncode == 1
    assert f"{tmp_path} is not an empty folder" in done.stderr


def test_backup_refuses_an_installation_on_postgresql_and_ceph(
    taken: Taken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Refused before anything is reached: neither engine needs to exist.
    monkeypatch.setenv("NEXQ_DATABASE_URL", "postgresql://nexq@127.0.0.1:1/nexq")
    monkeypatch.setenv("NEXQ_BLOBS_URL", "rados://nexq?conf=/etc/ceph/ceph.conf&id=nexq")
    done = nexq(
        "admin", "backup", "--to", str(tmp_path / "b"), data_dir=tmp_path / "d", check=False
    )
    assert done.returncode == 1
    assert (
        "this installation keeps its metadata in PostgreSQL and its bytes in Ceph: back those "
        "up with their own tools (pgBackRest, Ceph snapshots); see docs/operations.md"
    ) in done.stderr
    assert not (tmp_path / "b").exists()
