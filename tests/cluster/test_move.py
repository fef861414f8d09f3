"""``nexq admin move``: an embedded installation (SQLite, blob files), filled through the real
surfaces, copied into PostgreSQL and Ceph, then served by a node on those engines
(docs/scale-out.md, "Moving an embedded installation").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from botocore.exceptions import ClientError

from nexq.cli.move import InUse
from nexq.core import postgres as pg
from nexq.core.keyring import KEYRING_NAME
from nexq.storage.blobs import rados
from tests.ceph import CephCluster
from tests.live import BURST, ENGINES, Key, LiveServer, nexq, nexq_json
from tests.postgres import PostgresServer

MiB = 1024 * 1024
PASSWORD = "correct horse battery"
SECRET = "s3cret-in-the-url"  # the database URL's password: never printed
TICKET = {
    "subject": "A log of the failing uploads",
    "service": "Object Storage",
    "severity": "High",
    "description": "Attached.",
}


@dataclass
class Embedded:
    """A stopped embedded installation, and what was put in it."""

    server: LiveServer
    owner: Key  # every bucket
    limited: Key  # the bucket "docs" only
    token: str  # an API key of the owner
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    deleted: tuple[str, str] = ("", "")
    unfinished: tuple[str, str, str] = ("", "", "")  # bucket, key, upload id
    first_part: bytes = b""
    ticket: str = ""
    attachment: tuple[str, bytes] = ("", b"")  # id, bytes
    usage: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    """Filled, then stopped (flushing its usage counts)."""
    # Two workers: the server's main process forks, and holds the data dir's lease all along.
    server = LiveServer(tmp_path_factory.mktemp("embedded") / "data", extra=("--workers", "2"))
    server.data_dir.mkdir()
    server.start()
    try:
        filled = _fill(server)
    finally:
        server.stop()
    yield filled
    server.stop()


def _fill(server: LiveServer) -> Embedded:
    email = server.account("mover@example.com", PASSWORD)
    server.raise_limits(email, s3_read_rps=BURST, s3_write_rps=BURST, api_rps=BURST)
    owner = server.key(email, label="all buckets")
    s3 = server.client(owner)
    for bucket in ("photos", "docs"):
        s3.create_bucket(Bucket=bucket)
    limited = server.key(email, label="docs only", buckets=["docs"])
    filled = Embedded(server, owner, limited, server.api_key(email))
    rng = random.Random(18)
    bodies = {
        ("photos", "a.txt"): b"hello",
        ("photos", "dir/b.bin"): rng.randbytes(100 * 1024),
        ("photos", "big.bin"): rng.randbytes(6 * MiB + 123),  # two RADOS stripes
        ("docs", "readme.md"): b"# Read me\n",
        ("docs", "empty"): b"",
    }
    for (bucket, key), body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"origin": "embedded"})
    s3.put_object(Bucket="docs", Key="readme.md", Body=b"# Read me, again\n")  # overwritten
    bodies["docs", "readme.md"] = b"# Read me, again\n"
    s3.put_object(Bucket="docs", Key="gone.txt", Body=b"deleted before the move")
    s3.delete_object(Bucket="docs", Key="gone.txt")
    filled.deleted = ("docs", "gone.txt")
    # A completed multipart upload: its object is made of its parts' blobs.
    parts = [rng.randbytes(5 * MiB), rng.randbytes(5 * MiB), rng.randbytes(1000)]
    upload = s3.create_multipart_upload(Bucket="photos", Key="multi.bin")["UploadId"]
    etags = [
        s3.upload_part(Bucket="photos", Key="multi.bin", UploadId=upload, PartNumber=n, Body=p)[
            "ETag"
        ]
        for n, p in enumerate(parts, 1)
    ]
    s3.complete_multipart_upload(
        Bucket="photos",
        Key="multi.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    bodies["photos", "multi.bin"] = b"".join(parts)
    filled.objects = bodies
    # One left unfinished, with a part uploaded.
    filled.first_part = rng.randbytes(5 * MiB)
    unfinished = s3.create_multipart_upload(Bucket="docs", Key="later.bin")["UploadId"]
    s3.upload_part(
        Bucket="docs", Key="later.bin", UploadId=unfinished, PartNumber=1, Body=filled.first_part
    )
    filled.unfinished = ("docs", "later.bin", unfinished)
    # A support ticket with an attachment.
    with _api(server, filled.token) as api:
        ticket = api.post("/v1/support/tickets", json=TICKET)
        assert ticket.status_code == 201, ticket.text
        filled.ticket = ticket.json()["id"]
        log = b"PUT /photos/x 503\n" * 2000
        sent = api.post(
            f"/v1/support/tickets/{filled.ticket}/attachments",
            data={"body": "The log"},
            files=[("files", ("uploads.log", log, "text/plain"))],
        )
        assert sent.status_code == 201, sent.text
        filled.attachment = (sent.json()["attachments"][0]["id"], log)
    return filled


def _api(server: LiveServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.api_url, headers=headers, timeout=30)


def _with_password(url: str) -> str:
    return url.replace("postgresql://nexq@", f"postgresql://nexq:{SECRET}@", 1)


def _move(data_dir: Path, url: str, blobs: str | None) -> Any:
    args = ["admin", "move", "--to", url, *(["--blobs", blobs] if blobs else [])]
    return nexq(*args, data_dir=data_dir, check=False)


def _source_rows(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    with contextlib.closing(sqlite3.connect(data_dir / "meta.db")) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'schema_versions'"
            )
        ]
        return {t: _sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables}  # noqa: S608


def _database_rows(url: str, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {t: _sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables}  # noqa: S608


def _sorted(rows: list[Any]) -> list[tuple[Any, ...]]:
    return sorted((tuple(row) for row in rows), key=repr)


def _blob_paths(url: str, subspace: str = "") -> tuple[set[str], int]:
    store = rados.from_url(url, subspace)
    try:
        found, temporaries = store.inventory()
    finally:
        store.close()
    return set(found), temporaries


def test_a_running_server_refuses_the_move_and_a_move_refuses_the_server(
    embedded: Embedded, postgres: PostgresServer
) -> None:
    server = embedded.server
    server.start()
    try:
        url = postgres.new_database()
        refused = _move(server.data_dir, url, None)
        assert refused.returncode == 1
        assert "stop the server first" in refused.stderr, refused.stderr
        assert pg.versions(url) == {}  # not even migrated
    finally:
        server.stop()
    # And the other way: while the lease is held (as a move holds it), no server starts.
    held = InUse(server.data_dir)
    try:
        assert held.take()
        with pytest.raises(RuntimeError, match="exited with 1"):
            server.start()
    finally:
        held.close()
        server.stop()
    log = (server.data_dir.parent / f"server-{server.s3_port}.log").read_text()
    assert "is in use by another nexq serve, or by nexq admin move" in log


def test_a_database_that_holds_data_is_refused_and_left_unchanged(
    embedded: Embedded, postgres: PostgresServer, ceph: CephCluster, tmp_path: Path
) -> None:
    url = _with_password(postgres.new_database())
    other = tmp_path / "other"
    other.mkdir()
    ENGINES[other] = {"NEXQ_DATABASE_URL": url}
    nexq("admin", "migrate", data_dir=other)
    nexq_json(
        "admin", "account", "create", "--email", "x@example.com", "--password", PASSWORD,
        data_dir=other,
    )  # fmt: skip
    tables = list(_source_rows(embedded.server.data_dir))
    before = _database_rows(url, tables)
    blobs = ceph.url(ceph.new_namespace())
    refused = _move(embedded.server.data_dir, url, blobs)
    assert refused.returncode == 1
    assert "the database already holds 1 accounts" in refused.stderr, refused.stderr
    assert SECRET not in refused.stdout + refused.stderr
    assert _database_rows(url, tables) == before
    assert _blob_paths(blobs) == (set(), 0)
    assert _blob_paths(blobs, "support") == (set(), 0)
    # A database that cannot be reached: said without the URL's password.
    missing = _move(embedded.server.data_dir, _with_password(postgres.url("nowhere")), blobs)
    assert missing.returncode == 1 and "nowhere" in missing.stderr
    assert SECRET not in missing.stdout + missing.stderr


def test_an_embedded_installation_moves_to_postgresql_and_ceph(
    embedded: Embedded,
    postgres: PostgresServer,
    ceph: CephCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = embedded.server.data_dir
    rows = _source_rows(source)
    url = _with_password(postgres.new_database())
    blobs = ceph.url(ceph.new_namespace())
    started = time.monotonic()
    done = _move(source, url, blobs)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    report = json.loads(done.stdout)
    print(f"\nmove: {report['seconds']} s inside, {took:.2f} s with the command's start; {report}")

    # Every row, every blob, verified.
    assert report["verified"] is True
    assert report["tables"] == {table: len(found) for table, found in rows.items()}
    assert _database_rows(url, list(rows)) == rows
    files = {
        service: {
            f"{fan.name}/{b.name}" for fan in (root / "blobs").iterdir() for b in fan.iterdir()
        }
        for service, root in (("storage", source), ("support", source / "support"))
    }
    assert report["blobs"] == {service: len(paths) for service, paths in files.items()}
    assert report["blobs"]["support"] == 1
    assert 0 < report["referenced"]["storage"] <= report["blobs"]["storage"]
    assert report["bytes"] >= sum(len(body) for body in embedded.objects.values())
    assert report["master_key"] == str((source / KEYRING_NAME).resolve())
    assert _blob_paths(blobs) == (files["storage"], 0)
    assert _blob_paths(blobs, "support") == (files["support"], 0)

    # The old copy is not served again by mistake (its data is stale from now on).
    stale = subprocess.run(
        [sys.executable, "-m", "nexq.cli.nexq", "serve", "--data-dir", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stale.returncode == 1
    assert "copied to PostgreSQL by nexq admin move" in stale.stderr
    assert SECRET not in stale.stderr

    # A node on the cluster engines, with the embedded installation's master key.
    monkeypatch.setenv("NEXQ_MASTER_KEY_FILE", str(source / KEYRING_NAME))
    node = LiveServer(tmp_path / "node", database_url=url, env={"NEXQ_BLOBS_URL": blobs})
    node.data_dir.mkdir()
    node.start()
    try:
        _check_node(node, embedded)
        fsck = nexq_json("admin", "fsck", data_dir=node.data_dir)
        assert fsck["clean"], fsck
        assert fsck["blobs_referenced"] > 0
    finally:
        node.stop()


def _check_node(node: LiveServer, embedded: Embedded) -> None:
    with _api(node, embedded.token) as api:  # the API key moved (its hash)
        usage = api.get("/v1/storage/usage")
        assert usage.status_code == 200, usage.text
        assert usage.json()["totals"]["class_a"] > 0
        ticket = api.get(f"/v1/support/tickets/{embedded.ticket}")
        assert ticket.status_code == 200, ticket.text
        assert ticket.json()["subject"] == TICKET["subject"]
        attachment, log = embedded.attachment
        got = api.get(f"/v1/support/tickets/{embedded.ticket}/attachments/{attachment}")
        assert got.status_code == 200 and got.content == log
    with _api(node) as api:  # the password moved (its hash)
        login = api.post("/v1/login", json={"email": "mover@example.com", "password": PASSWORD})
        assert login.status_code == 201, login.text

    # Every object byte-identical through S3, with the secrets sealed by the embedded key.
    s3 = node.client(embedded.owner)
    assert s3.head_object(Bucket="photos", Key="a.txt")["Metadata"] == {"origin": "embedded"}
    for (bucket, key), body in embedded.objects.items():
        got = s3.get_object(Bucket=bucket, Key=key)
        data = got["Body"].read()
        assert hashlib.sha256(data).digest() == hashlib.sha256(body).digest(), (bucket, key)
    for bucket in ("photos", "docs"):
        listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", ())}
        assert listed == {k for b, k in embedded.objects if b == bucket}
    with pytest.raises(ClientError) as gone:
        s3.head_object(Bucket=embedded.deleted[0], Key=embedded.deleted[1])
    assert gone.value.response["Error"]["Code"] == "404"

    # The bucket-limited key: its bucket, and no other.
    limited = node.client(embedded.limited)
    assert limited.get_object(Bucket="docs", Key="readme.md")["Body"].read()
    with pytest.raises(ClientError) as denied:
        limited.get_object(Bucket="photos", Key="a.txt")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

    # The unfinished upload: listed, and completed on the node.
    bucket, key, upload = embedded.unfinished
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, upload)]
    (part,) = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload)["Parts"]
    assert part["Size"] == len(embedded.first_part)
    second = os.urandom(1000)
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=2, Body=second)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": part["ETag"]},
                {"PartNumber": 2, "ETag": etag["ETag"]},
            ]
        },
    )
    whole = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert whole == embedded.first_part + second


def test_without_blobs_the_bytes_stay_in_the_data_dir(
    embedded: Embedded, postgres: PostgresServer, tmp_path: Path
) -> None:
    # A copy of the installation: the node below serves from its data dir.
    data_dir = tmp_path / "data"
    shutil.copytree(embedded.server.data_dir, data_dir)
    url = postgres.new_database()
    done = _move(data_dir, url, None)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["blobs_in"] == "data dir" and report["verified"] is True
    assert report["tables"]["objects"] == len(embedded.objects)
    node = LiveServer(data_dir, database_url=url)
    node.start()
    try:
        s3 = node.client(embedded.owner)
        for (bucket, key), body in embedded.objects.items():
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, (bucket, key)
    finally:
        node.stop()


def test_rados_keeps_a_file_store_path_as_the_blob_name(ceph: CephCluster) -> None:
    store = ceph.blob_store(stripe=1024)  # small stripes: a few objects per blob
    try:
        name = uuid.uuid4().hex
        path = f"{name[:2]}/{name}"  # as FileBlobStore names it
        body = os.urandom(2 * 1024 + 10)
        for _ in range(2):  # the second adoption replaces the first (a move run again)
            writer = store.adopt(path)
            writer.write(body[:100])
            writer.write(body[100:])
            assert writer.commit() == path
        assert set(store._connection().pool.names()) == {path, f"{path}.1", f"{path}.2"}
        found, temporaries = store.inventory()
        assert found[path][0] == len(body) and list(found) == [path] and temporaries == 0
        assert b"".join(store.read(path, 0, len(body), 500)) == body
        other = "00" if name[:2] != "00" else "11"
        with pytest.raises(ValueError):
            store.adopt(f"{other}/{name}")  # not a file store's path: the fan is the id's start
        assert store.recover({path}) == 0  # referenced: kept
        assert store.recover(set()) == 1  # not referenced: removed with its stripes
        assert set(store._connection().pool.names()) == set()
    finally:
        store.close()
