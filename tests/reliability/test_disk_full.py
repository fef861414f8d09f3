"""Disk full: writes fail with an S3 error, nothing existing is damaged, reads go on, and the
server recovers when space comes back.

The data dir is a 64 MiB tmpfs (or, where tmpfs cannot be mounted, a loop-mounted 64 MiB
ext4 image), so "full" is reached in seconds. Needs root (mount); skipped, saying why, when
neither kind of file system can be mounted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import Key, LiveServer, nexq
from tests.reliability.conftest import account_key
from tests.reliability.harness import RawResponse, signed_request, wait_for

MiB = 1024 * 1024
SIZE_MIB = 64


def _mount(target: Path, image: Path) -> str | None:
    """Mount a small file system at ``target``; None if it worked, else why not."""
    tmpfs = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MIB}m,mode=0755", "tmpfs", str(target)],
        capture_output=True,
        text=True,
    )
    if tmpfs.returncode == 0:
        return None
    with open(image, "wb") as f:
        f.truncate(SIZE_MIB * MiB)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        return f"tmpfs: {tmpfs.stderr.strip()}; mkfs.ext4: {made.stderr.strip()}"
    loop = subprocess.run(
        ["mount", "-o", "loop", str(image), str(target)], capture_output=True, text=True
    )
    if loop.returncode != 0:
        return f"tmpfs: {tmpfs.stderr.strip()}; loop ext4: {loop.stderr.strip()}"
    return None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[LiveServer]:
    """A live server whose data dir is a 64 MiB file system of its own."""
    data = tmp_path / "data"
    data.mkdir()
    why = _mount(data, tmp_path / "disk.img")
    if why is not None:
        pytest.skip(f"cannot mount a small file system for the data dir: {why}")
    live = LiveServer(data, extra=("--workers", "1"))
    try:
        live.start()
        yield live
    finally:
        live.stop()
        # fsck needs the file system still mounted; the tests run it before this.
        if subprocess.run(["umount", str(data)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(data)], capture_output=True)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave: int) -> Path:
    """Fill the file system up to ``leave`` free bytes with a file of no use to Nexq (none
    when the server's own writes got there first: not even a new file's entry fits)."""
    filler = path / f"filler-{leave}"
    try:
        opened = open(filler, "wb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return filler
    with opened as f:
        block = b"\0" * MiB
        while (room := free_bytes(path) - leave) > 0:
            try:
                f.write(block[: min(room, MiB)])
                f.flush()
            except OSError:
                break
    return filler


def is_error_document(answer: RawResponse) -> bool:
    return answer.body.startswith(b"<?xml") and b"<RequestId>" in answer.body


def _setup(live: LiveServer) -> tuple[Key, dict[str, bytes]]:
    key = account_key(live, "full@example.com")
    live.client(key).create_bucket(Bucket="full")
    kept = {f"kept-{i}": os.urandom(size) for i, size in enumerate([0, 10, 70_000, 2 * MiB])}
    for name, body in kept.items():
        assert signed_request(live, key, "PUT", f"/full/{name}", body=body).status == 200
    return key, kept


def _read_back(live: LiveServer, key: Key, kept: dict[str, bytes]) -> None:
    for name, body in kept.items():
        got = signed_request(live, key, "GET", f"/full/{name}")
        assert got.status == 200 and got.body == body, f"{name} changed"
        etag = got.headers["etag"].strip('"')
        assert "-" in etag or etag == hashlib.md5(body).hexdigest(), name


def test_full_disk_damages_nothing_and_recovers(small_disk: LiveServer) -> None:
    live = small_disk
    key, kept = _setup(live)
    upload = live.client(key).create_multipart_upload(Bucket="full", Key="mp")["UploadId"]
    filler = fill(live.data_dir, leave=1 * MiB)
    # Writes bigger than what is left fail, with an S3 error document, and leave nothing.
    refused = {
        "put": signed_request(live, key, "PUT", "/full/big", body=os.urandom(3 * MiB)),
        "part": signed_request(
            live,
            key,
            "PUT",
            "/full/mp",
            f"partNumber=1&uploadId={upload}",
            body=os.urandom(5 * MiB),
        ),
    }
    for what, answer in refused.items():
        assert answer.status == 507 and is_error_document(answer), (what, answer.body[:300])
        assert answer.code == "XNexqStorageFull", what
    # Then fill it to the last byte: even tiny writes fail.
    last = fill(live.data_dir, leave=0)
    for size in (0, 10):
        answer = signed_request(live, key, "PUT", f"/full/tiny-{size}", body=b"t" * size)
        assert answer.status == 507 and is_error_document(answer), answer.body[:300]
        assert answer.code == "XNexqStorageFull"
    # Reads and listings go on while the disk is full.
    _read_back(live, key, kept)
    listed = signed_request(live, key, "GET", "/full", "list-type=2")
    assert listed.status == 200
    assert all(f"<Key>{name}</Key>".encode() in listed.body for name in kept)
    for name in ("big", "tiny-0", "tiny-10"):
        assert f"<Key>{name}</Key>".encode() not in listed.body, f"failed {name} is visible"
    assert list((live.data_dir / "tmp").iterdir()) == [], "a failed write left a temporary file"
    # Space comes back: writes work again, the same multipart upload completes.
    filler.unlink()
    last.unlink(missing_ok=True)
    body = os.urandom(3 * MiB)
    assert signed_request(live, key, "PUT", "/full/after", body=body).status == 200
    part = os.urandom(5 * MiB)
    answer = signed_request(
        live, key, "PUT", "/full/mp", f"partNumber=1&uploadId={upload}", body=part
    )
    assert answer.status == 200, answer.body[:300]
    complete = (
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        f"<ETag>{answer.headers['etag']}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    done = signed_request(live, key, "POST", "/full/mp", f"uploadId={upload}", body=complete)
    assert done.status == 200, done.body[:300]
    _read_back(live, key, {**kept, "after": body, "mp": part})
    live.stop()
    report = json.loads(nexq("admin", "fsck", data_dir=live.data_dir).stdout)
    assert report["clean"] is True, report


def test_full_disk_is_a_clear_storage_full_error(small_disk: LiveServer) -> None:
    live = small_disk
    key, _ = _setup(live)
    fill(live.data_dir, leave=1 * MiB)
    answer = signed_request(live, key, "PUT", "/full/big", body=os.urandom(3 * MiB))
    assert (answer.status, answer.code) == (507, "XNexqStorageFull"), answer.body[:300]


def test_deletes_still_work_when_uploads_filled_the_disk(small_disk: LiveServer) -> None:
    live = small_disk
    key, _ = _setup(live)
    written = 0
    for size in (1 * MiB, 64 * 1024, 4096, 100, 0):
        while signed_request(live, key, "PUT", f"/full/o{written}", body=b"f" * size).status == 200:
            written += 1
            assert written < 200, "the disk never filled"
    # Uploads must stop short of the last bytes, which metadata writes (deletes) need. Today
    # they take everything, and whether a DELETE then works depends on whether SQLite's WAL
    # happens to have room to reuse.
    assert free_bytes(live.data_dir) >= 1 * MiB, "uploads took the last byte of the disk"
    deleted = signed_request(live, key, "DELETE", "/full/o0")
    assert deleted.status == 204, deleted.body[:300]
    # The deleted blob is removed by the janitor shortly after: then there is room again.
    wait_for(
        lambda: signed_request(live, key, "PUT", "/full/again", body=b"small").status == 200,
        10,
        "no write succeeded after a delete freed space",
        interval=0.2,
    )
