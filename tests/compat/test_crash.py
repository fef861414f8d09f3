"""kill -9 in the middle of uploads: nothing acknowledged is lost, nothing partial is visible."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from tests.live import LiveServer, nexq

MiB = 1024 * 1024


def content(key: str, version: int) -> bytes:
    """Deterministic bytes for a key and version, so a reader can tell exactly what it got."""
    rng = random.Random(f"{key}/{version}")
    size = rng.choice([0, 1, 100, 4096, 70_000, 1 * MiB + 3, 3 * MiB])
    seed = hashlib.sha256(f"{key}/{version}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def blob_files(data_dir: Path) -> set[str]:
    root = data_dir / "blobs"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("round_", range(2))
def test_kill_during_uploads_then_restart(tmp_path: Path, round_: int) -> None:
    live = LiveServer(tmp_path / "data")
    live.data_dir.mkdir()
    live.start()
    key = live.key(live.account("crash@example.com"))
    s3 = live.client(key)
    s3.create_bucket(Bucket="crash")
    acknowledged: dict[str, int] = {}
    attempted: dict[str, int] = {}
    lock = threading.Lock()
    enough = threading.Event()
    target = 60 + 40 * round_

    def writer(worker: int) -> None:
        client = live.client(key)
        for version in range(1, 10_000):
            name = f"overwrite-{worker}" if version % 2 else f"unique-{worker}-{version}"
            with lock:
                attempted[name] = version
            try:
                if version % 7 == 0:
                    client.upload_fileobj(
                        io.BytesIO(content(name, version) * 4 + b"x" * (6 * MiB)),
                        "crash",
                        name,
                        Config=TransferConfig(
                            multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB
                        ),
                    )
                else:
                    client.put_object(Bucket="crash", Key=name, Body=content(name, version))
            except (ClientError, BotoCoreError, OSError):
                return
            with lock:
                acknowledged[name] = version
                if len(acknowledged) >= target:
                    enough.set()

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(writer, w) for w in range(8)]
        assert enough.wait(120), "writers made no progress"
        live.kill()
        for future in futures:
            future.result(timeout=120)

    live.start()
    try:
        s3 = live.client(key)
        listed = {
            o["Key"]: o
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="crash")
            for o in page.get("Contents", [])
        }
        for name, version in acknowledged.items():
            assert name in listed, f"acknowledged {name} v{version} was lost"
        for name in listed:
            body = s3.get_object(Bucket="crash", Key=name)["Body"].read()
            last = attempted[name]
            candidates = {
                v: content(name, v) if v % 7 else content(name, v) * 4 + b"x" * (6 * MiB)
                for v in range(max(1, acknowledged.get(name, 1)), last + 1)
            }
            matches = [v for v, expected in candidates.items() if expected == body]
            assert matches, f"{name} holds bytes of no version that was written"
            assert matches[0] >= acknowledged.get(name, 0), f"{name} went back in time"
        assert list((live.data_dir / "tmp").iterdir()) == []
    finally:
        live.stop()
    # Everything on disk is referenced, and everything referenced is on disk.
    conn = sqlite3.connect(live.data_dir / "meta.db")
    try:
        referenced: set[str] = set()
        for (segments,) in conn.execute("SELECT segments FROM objects"):
            referenced.update(p for p, _ in json.loads(segments))
        referenced.update(r[0] for r in conn.execute("SELECT path FROM parts"))
    finally:
        conn.close()
    assert blob_files(live.data_dir) == referenced
    report = json.loads(nexq("admin", "fsck", data_dir=live.data_dir).stdout)
    assert report["clean"] is True
    assert report["blobs_referenced"] == len(referenced)


def test_fsck_finds_damage_and_repairs_orphans(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data")
    live.data_dir.mkdir()
    live.start()
    try:
        s3 = live.client(live.key(live.account("fsck@example.com")))
        s3.create_bucket(Bucket="checked")
        for key in ("a", "b"):
            s3.put_object(Bucket="checked", Key=key, Body=key.encode() * 100)
    finally:
        live.stop()
    assert json.loads(nexq("admin", "fsck", data_dir=live.data_dir).stdout)["clean"] is True
    files = sorted(blob_files(live.data_dir))
    (live.data_dir / "blobs" / files[0]).unlink()
    (live.data_dir / "blobs" / files[1]).write_bytes(b"short")
    orphan = live.data_dir / "blobs" / "ab" / "orphan"
    orphan.write_bytes(b"left behind")
    os.utime(orphan, (1, 1))
    out = nexq("admin", "fsck", "--repair", data_dir=live.data_dir, check=False)
    report = json.loads(out.stdout)
    assert out.returncode == 1
    assert report["missing"] == [files[0]]
    assert report["wrong_size"] == [files[1]]
    assert report["orphans"] == ["ab/orphan"]
    assert report["removed"] == 1
    assert not orphan.exists()


def test_restart_finds_everything(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data")
    live.data_dir.mkdir()
    live.start()
    key = live.key(live.account("restart@example.com"))
    s3 = live.client(key)
    s3.create_bucket(Bucket="kept")
    s3.put_object(Bucket="kept", Key="a", Body=b"alpha", Metadata={"m": "1"})
    live.stop()
    live.start()
    try:
        s3 = live.client(key)
        got = s3.get_object(Bucket="kept", Key="a")
        assert got["Body"].read() == b"alpha"
        assert got["Metadata"] == {"m": "1"}
    finally:
        live.stop()
