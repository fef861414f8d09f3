"""rclone, s3cmd and restic against a live Nexq server."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.tools import (
    MiB,
    assert_same_tree,
    base_env,
    make_tree,
    md5,
    random_bytes,
    rclone_env,
    read_tree,
    require,
    restic_env,
    run,
    s3cmd_config,
    write_file,
)
from tests.live import Key, LiveServer


def all_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


# --- rclone -----------------------------------------------------------------------------


class Rclone:
    def __init__(
        self, server: LiveServer, key: Key, tmp_path: Path, *, v2_auth: bool = False
    ) -> None:
        self.exe = require("rclone")
        self.env = rclone_env(tmp_path, server, key)
        if v2_auth:
            self.env["RCLONE_CONFIG_NQ_V2_AUTH"] = "true"
        self.config = tmp_path / "rclone.conf"
        self.config.touch()

    def __call__(self, *args: str, check: bool = True, timeout: float = 180) -> Any:
        return run(
            [self.exe, "--config", str(self.config), *args],
            self.env,
            check=check,
            timeout=timeout,
        )


@pytest.fixture
def rclone(server: LiveServer, owner: Key, tmp_path: Path) -> Rclone:
    return Rclone(server, owner, tmp_path)


@pytest.mark.parametrize("v2_auth", [False, True], ids=["sigv4", "sigv2"])
def test_rclone_tree_copy_ls_check_back_delete(
    server: LiveServer, owner: Key, s3: Any, bucket: str, tmp_path: Path, v2_auth: bool
) -> None:
    """Copy a tree up, list it, check hashes, copy it back, delete; SigV4 and SigV2.

    rclone's SigV2 signer signs the path exactly as sent, so a path-style bucket listing
    (``GET /bucket?delimiter=...``) is signed over ``/bucket``, as the SigV2 docs describe;
    botocore signs ``/bucket/`` for the same request. A server must accept both.
    """
    rclone = Rclone(server, owner, tmp_path, v2_auth=v2_auth)
    src = tmp_path / "src"
    files = make_tree(src, seed=10)
    remote = f"nq:{bucket}/tree"

    rclone("copy", str(src), remote)
    assert all_keys(s3, bucket) == sorted(f"tree/{rel}" for rel in files)
    for rel, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"tree/{rel}")["Body"].read() == data

    lsf = rclone("lsf", "-R", "--files-only", remote).stdout.splitlines()
    assert sorted(lsf) == sorted(files)
    # Small pages through both listing APIs: V1 markers and V2 continuation tokens.
    for version in ["1", "2"]:
        paged = rclone(
            "lsf", "-R", "--files-only", "--s3-list-chunk", "3", "--s3-list-version", version,
            remote,
        ).stdout.splitlines()  # fmt: skip
        assert sorted(paged) == sorted(files), version

    ls = rclone("ls", remote).stdout.splitlines()
    sizes = {line.split(None, 1)[1]: int(line.split(None, 1)[0]) for line in ls}
    assert sizes == {rel: len(data) for rel, data in files.items()}

    dirs = rclone("lsf", "--dirs-only", remote).stdout.splitlines()
    assert sorted(dirs) == ["dir1/", "dir2/"]

    # Sizes and MD5 hashes (the ETags) all match.
    checked = rclone("check", str(src), remote)
    assert "0 differences found" in checked.stderr, checked.stderr

    rclone("copy", remote, str(tmp_path / "back"))
    assert_same_tree(files, tmp_path / "back")

    # Same size, different bytes: only the hash can tell, and rclone check must notice.
    tampered = bytearray(files["dir1/c.txt"])
    tampered[0] ^= 0xFF
    s3.put_object(Bucket=bucket, Key="tree/dir1/c.txt", Body=bytes(tampered))
    bad = rclone("check", str(src), remote, check=False)
    assert bad.returncode != 0
    assert "1 differences found" in bad.stderr, bad.stderr
    assert "dir1/c.txt" in bad.stderr

    rclone("delete", f"{remote}/dir2")
    assert all_keys(s3, bucket) == sorted(
        f"tree/{rel}" for rel in files if not rel.startswith("dir2/")
    )
    rclone("deletefile", f"{remote}/a.txt")
    assert "tree/a.txt" not in all_keys(s3, bucket)

    rclone("purge", remote)
    assert all_keys(s3, bucket) == []


def test_rclone_copy_of_many_small_files_into_a_free_account(
    server: LiveServer, tmp_path: Path
) -> None:
    """rclone at its default concurrency (4 transfers, 8 checkers) into a new Free account on
    the shipped request rates: no SlowDown (rclone_env allows no retry), every file arrives.
    Throttling itself is tested with lowered limits in tests/compat/test_quotas.py."""
    email = server.account(f"rclone-free-{tmp_path.name}@example.com".lower())
    key = server.key(email)
    s3 = server.client(key)
    bucket = f"free-{tmp_path.name}".lower().replace("_", "-")[:63]
    s3.create_bucket(Bucket=bucket)
    src = tmp_path / "many"
    files = {f"f{n:03d}.txt": f"small file {n}\n".encode() for n in range(200)}
    for name, data in files.items():
        write_file(src / name, data)
    copied = Rclone(server, key, tmp_path)("copy", str(src), f"nq:{bucket}/many")
    assert "SlowDown" not in copied.stderr, copied.stderr
    assert all_keys(s3, bucket) == sorted(f"many/{name}" for name in files)


def test_rclone_30mib_multipart_md5sum(
    rclone: Rclone, s3: Any, bucket: str, tmp_path: Path
) -> None:
    data = random_bytes(30 * MiB, seed=30)
    src = write_file(tmp_path / "big.bin", data)

    rclone("copyto", str(src), f"nq:{bucket}/media/big.bin", timeout=300)
    head = s3.head_object(Bucket=bucket, Key="media/big.bin")
    assert head["ContentLength"] == len(data)
    # 5 MiB chunks (set in rclone_env): a 6-part multipart upload.
    assert head["ETag"].strip('"').endswith("-6"), head["ETag"]

    # A multipart ETag is not an MD5; rclone keeps the MD5 in its own metadata header.
    line = rclone("md5sum", f"nq:{bucket}/media/big.bin").stdout.strip()
    assert line.split() == [md5(data), "big.bin"]

    checked = rclone("check", str(tmp_path), f"nq:{bucket}/media", "--include", "big.bin")
    assert "0 differences found" in checked.stderr, checked.stderr

    back = tmp_path / "back" / "big.bin"
    rclone("copyto", f"nq:{bucket}/media/big.bin", str(back), timeout=300)
    assert back.read_bytes() == data

    # Server-side copy above copy_cutoff (5 MiB): multipart UploadPartCopy.
    rclone("copyto", f"nq:{bucket}/media/big.bin", f"nq:{bucket}/copy/big.bin", timeout=300)
    assert s3.get_object(Bucket=bucket, Key="copy/big.bin")["Body"].read() == data
    line = rclone("md5sum", f"nq:{bucket}/copy/big.bin").stdout.strip()
    assert line.split() == [md5(data), "big.bin"]


def test_rclone_mkdir_rmdir_bucket(rclone: Rclone, s3: Any) -> None:
    name = "rclone-made-bucket"
    rclone("mkdir", f"nq:{name}")
    s3.head_bucket(Bucket=name)
    assert f"{name}/" in rclone("lsf", "nq:").stdout.splitlines()

    rclone("rmdir", f"nq:{name}")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


def version_suffix(when: datetime) -> str:
    """The name rclone gives an old version of ``report.txt`` with ``--s3-versions``: its
    Last-Modified (UTC, to the millisecond) before the extension."""
    stamp = when.astimezone(UTC)
    return f"-v{stamp:%Y-%m-%d-%H%M%S}-{stamp.microsecond // 1000:03d}"


def test_rclone_s3_versions_lists_old_versions_and_version_at_reads_one(
    rclone: Rclone, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """rclone 1.60 (Debian's) has both flags: ``--s3-versions`` lists every old version under
    a name with its date, ``--s3-version-at`` shows the bucket as it was at a time."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old, new = b"first draft\n", b"second draft, longer\n"
    rclone("copyto", str(write_file(tmp_path / "old.txt", old)), f"nq:{bucket}/notes/report.txt")
    # S3 keeps a version's time to the second: --s3-version-at tells two versions apart only
    # if they were written in different seconds, so the second waits for the next one.
    first = s3.head_object(Bucket=bucket, Key="notes/report.txt")["LastModified"].timestamp()
    while time.time() < first + 1:
        time.sleep(first + 1 - time.time())
    rclone("copyto", str(write_file(tmp_path / "new.txt", new)), f"nq:{bucket}/notes/report.txt")
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    current, previous = sorted(listed, key=lambda v: v["LastModified"], reverse=True)
    assert (current["IsLatest"], previous["IsLatest"]) == (True, False)
    assert current["LastModified"] > previous["LastModified"]  # --s3-version-at can tell them
    old_name = f"report{version_suffix(previous['LastModified'])}.txt"

    plain = rclone("ls", f"nq:{bucket}/notes").stdout.split()
    assert plain == [str(len(new)), "report.txt"]
    with_versions = rclone("ls", "--s3-versions", f"nq:{bucket}/notes").stdout.splitlines()
    sizes = {line.split(None, 1)[1]: int(line.split(None, 1)[0]) for line in with_versions}
    assert sizes == {"report.txt": len(new), old_name: len(old)}

    # The old version by its listed name, and the key as it was when that version was current.
    # rclone 1.60 finds no single file by a version name (copyto copies nothing), so the old
    # version is copied out of its folder by name.
    named = tmp_path / "named"
    rclone("copy", "--s3-versions", "--include", old_name, f"nq:{bucket}/notes", str(named))
    assert read_tree(named) == {old_name: old}
    at = previous["LastModified"].astimezone(UTC).isoformat().replace("+00:00", "Z")
    then = tmp_path / "then"
    rclone("copy", "--s3-version-at", at, f"nq:{bucket}/notes", str(then))
    assert read_tree(then) == {"report.txt": old}

    # Copied back, the old bytes are the current version again; every version stays.
    rclone("copyto", str(then / "report.txt"), f"nq:{bucket}/notes/report.txt")
    assert s3.get_object(Bucket=bucket, Key="notes/report.txt")["Body"].read() == old
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 3
    old_body = s3.get_object(Bucket=bucket, Key="notes/report.txt", VersionId=previous["VersionId"])
    assert old_body["Body"].read() == old


# --- s3cmd ------------------------------------------------------------------------------


@pytest.mark.parametrize("signature_v2", [False, True], ids=["sigv4", "sigv2"])
def test_s3cmd_lifecycle(
    server: LiveServer, owner: Key, s3: Any, tmp_path: Path, signature_v2: bool
) -> None:
    exe = require("s3cmd")
    config = s3cmd_config(tmp_path, server, owner, signature_v2=signature_v2)
    env = base_env(tmp_path)

    def s3cmd(*args: str, check: bool = True, timeout: float = 180) -> Any:
        return run([exe, "-c", str(config), *args], env, check=check, timeout=timeout)

    name = f"s3cmd-{'v2' if signature_v2 else 'v4'}"
    s3cmd("mb", f"s3://{name}")
    s3.head_bucket(Bucket=name)
    assert f"s3://{name}" in s3cmd("ls").stdout
    assert f"s3://{name}/ (bucket)" in s3cmd("info", f"s3://{name}").stdout

    small = random_bytes(50_000, seed=40)
    write_file(tmp_path / "small.bin", small)
    write_file(tmp_path / "note.txt", b"a note\n")
    big = random_bytes(12 * MiB, seed=41)
    write_file(tmp_path / "big.bin", big)

    s3cmd("put", str(tmp_path / "small.bin"), f"s3://{name}/dir/small.bin")
    s3cmd("put", str(tmp_path / "note.txt"), f"s3://{name}/note.txt")
    # multipart_chunk_size_mb = 5 in the config: 5 + 5 + 2 MiB.
    s3cmd("put", str(tmp_path / "big.bin"), f"s3://{name}/dir/big.bin", timeout=300)

    assert s3.get_object(Bucket=name, Key="dir/small.bin")["Body"].read() == small
    assert s3.get_object(Bucket=name, Key="note.txt")["ContentType"].startswith("text/plain")
    big_head = s3.head_object(Bucket=name, Key="dir/big.bin")
    assert big_head["ETag"].strip('"').endswith("-3"), big_head["ETag"]
    assert big_head["ContentLength"] == len(big)

    top = s3cmd("ls", f"s3://{name}").stdout
    assert re.search(rf"DIR\s+s3://{name}/dir/", top), top
    assert re.search(rf"\s7\s+s3://{name}/note\.txt", top), top

    listed = s3cmd("ls", "--recursive", f"s3://{name}").stdout
    found = {line.split()[-1]: int(line.split()[2]) for line in listed.splitlines()}
    assert found == {
        f"s3://{name}/dir/big.bin": len(big),
        f"s3://{name}/dir/small.bin": len(small),
        f"s3://{name}/note.txt": 7,
    }

    info = s3cmd("info", f"s3://{name}/dir/small.bin").stdout
    assert re.search(r"File size:\s+50000", info), info
    assert re.search(rf"MD5 sum:\s+{md5(small)}", info), info

    # s3cmd verifies the MD5 of what it downloads.
    s3cmd("get", f"s3://{name}/dir/small.bin", str(tmp_path / "small.out"))
    assert (tmp_path / "small.out").read_bytes() == small
    s3cmd("get", f"s3://{name}/dir/big.bin", str(tmp_path / "big.out"), timeout=300)
    assert (tmp_path / "big.out").read_bytes() == big

    missing = s3cmd("get", f"s3://{name}/nope", str(tmp_path / "nope"), check=False)
    assert missing.returncode != 0
    # s3cmd HEADs the object first and reports the 404 in its own words.
    assert "does not exist" in missing.stderr or "404" in missing.stderr, missing.stderr

    # A bucket that still holds objects cannot be removed.
    not_empty = s3cmd("rb", f"s3://{name}", check=False)
    assert not_empty.returncode != 0
    assert "BucketNotEmpty" in not_empty.stderr, not_empty.stderr

    s3cmd("del", f"s3://{name}/note.txt")
    assert all_keys(s3, name) == ["dir/big.bin", "dir/small.bin"]
    s3cmd("del", "--recursive", "--force", f"s3://{name}/dir/")
    assert all_keys(s3, name) == []

    s3cmd("rb", f"s3://{name}")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


@pytest.fixture(params=[False, True], ids=["sigv4", "sigv2"])
def s3cmd(request: pytest.FixtureRequest, server: LiveServer, owner: Key, tmp_path: Path) -> Any:
    exe = require("s3cmd")
    config = s3cmd_config(tmp_path, server, owner, signature_v2=request.param)
    env = base_env(tmp_path)

    def s3cmd(*args: str, check: bool = True, timeout: float = 180) -> Any:
        return run([exe, "-c", str(config), *args], env, check=check, timeout=timeout)

    return s3cmd


def test_s3cmd_sync_tree_up_and_back(s3cmd: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src", seed=42)
    s3cmd("sync", f"{tmp_path / 'src'}/", f"s3://{bucket}/tree/")
    assert all_keys(s3, bucket) == sorted(f"tree/{rel}" for rel in files)
    for rel, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"tree/{rel}")["Body"].read() == data

    s3cmd("sync", f"s3://{bucket}/tree/", f"{tmp_path / 'back'}/")
    assert_same_tree(files, tmp_path / "back")


def test_s3cmd_cp_and_mv(s3cmd: Any, s3: Any, bucket: str) -> None:
    """Server-side copy and move.

    s3cmd reads the source's ACL (GET ?acl) and, after the copy, writes it to the new object
    with PutObjectAcl (PUT ?acl). It tolerates only 501 NotImplemented from that step; any
    other error fails the command.
    """
    data = random_bytes(30_000, seed=43)
    s3.put_object(Bucket=bucket, Key="orig.bin", Body=data)

    s3cmd("cp", f"s3://{bucket}/orig.bin", f"s3://{bucket}/copy.bin")
    assert s3.get_object(Bucket=bucket, Key="copy.bin")["Body"].read() == data

    s3cmd("mv", f"s3://{bucket}/copy.bin", f"s3://{bucket}/moved.bin")
    assert all_keys(s3, bucket) == ["moved.bin", "orig.bin"]
    assert s3.get_object(Bucket=bucket, Key="moved.bin")["Body"].read() == data


# --- restic -----------------------------------------------------------------------------


def test_restic_backup_restore_check(
    server: LiveServer, owner: Key, s3: Any, bucket: str, tmp_path: Path
) -> None:
    exe = require("restic")
    env = restic_env(tmp_path, server, owner, bucket)

    def restic(*args: str, check: bool = True, timeout: float = 300) -> Any:
        return run([exe, *args], env, check=check, timeout=timeout)

    restic("init")
    assert "config" in all_keys(s3, bucket)
    assert all_keys(s3, bucket, "keys/")

    src = tmp_path / "data"
    files = make_tree(src, seed=50, big=5 * MiB)
    restic("backup", str(src))

    snapshots = json.loads(restic("snapshots", "--json").stdout)
    assert len(snapshots) == 1
    assert snapshots[0]["paths"] == [str(src)]

    target = tmp_path / "restored"
    restic("restore", "latest", "--target", str(target))
    # restic recreates the absolute source path below the target.
    assert_same_tree(files, target / src.relative_to(src.anchor))

    # Structure and every pack's contents.
    restic("check", "--read-data")

    # A second backup of changed data, then restore that one.
    write_file(src / "dir1" / "new.txt", b"added later\n")
    files["dir1/new.txt"] = b"added later\n"
    restic("backup", str(src))
    assert len(json.loads(restic("snapshots", "--json").stdout)) == 2
    target2 = tmp_path / "restored2"
    restic("restore", "latest", "--target", str(target2))
    assert_same_tree(files, target2 / src.relative_to(src.anchor))


def test_restic_in_a_locked_bucket_cannot_destroy_its_backups(
    server: LiveServer, owner: Key, s3: Any, tmp_path: Path
) -> None:
    """An immutable restic repository: a bucket with Object Lock and a default GOVERNANCE
    retention. restic needs nothing special (its deletes are plain DeleteObjects, which only
    stack delete markers), a key holder cannot delete a retained version, and what `forget
    --prune` removes stays as versions, from which the forgotten snapshot comes back."""
    bucket = "restic-locked"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    s3.put_object_lock_configuration(
        Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule}
    )
    exe = require("restic")
    env = restic_env(tmp_path, server, owner, bucket)

    def restic(*args: str, timeout: float = 300) -> Any:
        return run([exe, *args], env, timeout=timeout)

    restic("init")
    src = tmp_path / "data"
    first = make_tree(src, seed=60, big=3 * MiB)
    restic("backup", str(src))
    (src / "big.bin").unlink()
    write_file(src / "dir1" / "later.txt", b"written after the first backup\n")
    restic("backup", str(src))
    older, newer = sorted(
        json.loads(restic("snapshots", "--json").stdout), key=lambda snap: snap["time"]
    )

    def versions() -> tuple[dict[tuple[str, str], str], dict[str, str]]:
        """(key, version id) -> ETag of every version; key -> id of a latest delete marker."""
        kept: dict[tuple[str, str], str] = {}
        hidden: dict[str, str] = {}
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                kept[(version["Key"], version["VersionId"])] = version["ETag"]
            for marker in page.get("DeleteMarkers", []):
                if marker["IsLatest"]:
                    hidden[marker["Key"]] = marker["VersionId"]
        return kept, hidden

    before, _ = versions()
    snapshot_key = f"snapshots/{older['id']}"
    for key, version_id in before:
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version_id)
        assert head["ObjectLockMode"] == "GOVERNANCE", key  # restic's writes got the default
    snapshot_version = next(v for k, v in before if k == snapshot_key)
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=snapshot_key, VersionId=snapshot_version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    restic("forget", older["id"], "--prune")
    assert [snap["id"] for snap in json.loads(restic("snapshots", "--json").stdout)] == [
        newer["id"]
    ]
    restic("check")
    after, hidden = versions()
    # Nothing restic removed is gone: every version is there with its bytes' ETag.
    assert {key: etag for key, etag in after.items() if key in before} == before
    assert snapshot_key in hidden
    assert any(key.startswith("data/") for key in hidden), hidden  # the pack with big.bin

    # Removing the delete markers (they hold no data, so no retention) brings the forgotten
    # snapshot back; restic's lock files stay deleted.
    for key, marker in hidden.items():
        if not key.startswith("locks/"):
            s3.delete_object(Bucket=bucket, Key=key, VersionId=marker)
    listed = {snap["id"] for snap in json.loads(restic("snapshots", "--json").stdout)}
    assert listed == {older["id"], newer["id"]}
    target = tmp_path / "restored"
    restic("restore", older["id"], "--target", str(target))
    assert_same_tree(first, target / src.relative_to(src.anchor))
