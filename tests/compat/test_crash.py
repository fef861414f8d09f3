"""fsck finds damage and repairs orphans; a restart finds everything.

kill -9 in storms of writes: tests/reliability/test_crash_storm.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.live import LiveServer, nexq


def blob_files(data_dir: Path) -> set[str]:
    root = data_dir / "blobs"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_fsck_finds_damage_and_repairs_orphans(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data")
    live.data_dir.mkdir()
    live.start()
    try:
        s3 = live.client(live.key(live.account("fsck@example.com")))
        s3.create_bucket(Bucket="checked")
        for key in ("a", "b"):
            # Past the size kept in the row (storage.blobs.inline): these are files.
            s3.put_object(Bucket="checked", Key=key, Body=key.encode() * 10_000)
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
