"""``nexq admin backup --to s3://…`` and ``nexq admin restore --from s3://…`` (issue 19): an
installation backed up while a writer overwrites and deletes objects, into a bucket of a
second Nexq with that server's own credentials (the AWS SDK's chain: environment variables),
restored from there into a new data dir, served and read back whole; and the refusals: a
prefix that holds a backup, a wrong endpoint or secret, a tampered object, a failed upload
whose objects are deleted again."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import forked_cli
from tests.live import BURST, ENGINES, REGION, Key, LiveServer, free_port
from tests.operations.backup_writes import (
    CHURN,
    Write,
    body_of,
    churning,
    counter_in,
    possible,
)

STATIC = 24  # objects nobody touches during the backup
BIG = 9 * 2**20  # over boto3's 8 MiB multipart threshold: uploaded in parts
BUCKET = "nexq-backups"
PREFIX = "site-1/2025-06-01"


@dataclass
class InBucket:
    """The source installation, the server that keeps its backup, and the backup."""

    source: LiveServer
    key: Key
    keeper: LiveServer
    keeper_key: Key
    report: dict[str, Any]
    started: float
    ended: float
    big: bytes
    writes: list[Write] = field(default_factory=list)

    def aws(self, key: Key | None = None, endpoint: str | None = None) -> dict[str, str]:
        """The AWS SDK's environment for the keeper's bucket (nothing read from ~/.aws)."""
        key = key or self.keeper_key
        return {
            "AWS_ACCESS_KEY_ID": key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint or self.keeper.endpoint,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }


def nexq_aws(
    *args: str, data_dir: Path, aws: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``nexq`` as tests.live.nexq runs it, with the AWS SDK's settings in its environment."""
    env = {**os.environ, **ENGINES.get(data_dir, {}), **aws}
    return forked_cli.run([*args, "--data-dir", str(data_dir)], env, timeout)


@pytest.fixture(scope="module")
def in_bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InBucket]:
    source = LiveServer(tmp_path_factory.mktemp("source") / "data")
    keeper = LiveServer(tmp_path_factory.mktemp("keeper") / "data")
    source.start()
    keeper.start()
    try:
        email = source.account("site-owner@example.com")
        source.raise_limits(email, s3_read_rps=BURST, s3_write_rps=BURST)
        key = source.key(email)
        s3 = source.client(key)
        s3.create_bucket(Bucket="kept")
        for n in range(STATIC):
            s3.put_object(Bucket="kept", Key=f"static/{n}", Body=body_of(f"static/{n}", 0))
        for n in range(CHURN):
            s3.put_object(Bucket="kept", Key=f"churn/{n}", Body=body_of(f"churn/{n}", 0))
        big = os.urandom(BIG)
        s3.put_object(Bucket="kept", Key="big", Body=big)

        # The keeper: an account of its own, its S3 key, its bucket.
        owner = keeper.account("backups@example.com")
        keeper.raise_limits(owner, s3_read_rps=BURST, s3_write_rps=BURST)
        keeper_key = keeper.key(owner)
        keeper.client(keeper_key).create_bucket(Bucket=BUCKET)

        taken = InBucket(source, key, keeper, keeper_key, {}, 0, 0, big)
        with churning(source, key, "kept") as writes:
            taken.started = time.monotonic()
            out = nexq_aws(
                "admin",
                "backup",
                "--to",
                f"s3://{BUCKET}/{PREFIX}",
                "--max-rate",
                "8",  # ~1.5 s: the writer overwrites and deletes meanwhile
                "--json",
                data_dir=source.data_dir,
                aws=taken.aws(),  # the endpoint from AWS_ENDPOINT_URL
            )
            taken.ended = time.monotonic()
        assert out.returncode == 0, out.stderr
        taken.report = json.loads(out.stdout)
        taken.writes = writes
        yield taken
    finally:
        source.stop()
        keeper.stop()
        source.remove_databases()
        keeper.remove_databases()


def _objects(taken: InBucket, prefix: str) -> dict[str, int]:
    """The keeper's objects under ``prefix`` (key → size)."""
    s3 = taken.keeper.client(taken.keeper_key)
    return {
        o["Key"]: o["Size"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for o in page.get("Contents", [])
    }


def _restore(taken: InBucket, url: str, target: Path) -> subprocess.CompletedProcess[str]:
    return nexq_aws(
        "admin",
        "restore",
        "--from",
        url,
        "--endpoint-url",
        taken.keeper.endpoint,
        "--master-key",
        str(taken.source.data_dir / "master.key"),
        "--json",
        data_dir=target,
        aws={**taken.aws(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},  # the option wins
    )


# --- the round trip -------------------------------------------------------------------------


def test_a_backup_in_s3_under_writes_restores_and_serves_everything(
    in_bucket: InBucket, tmp_path: Path
) -> None:
    taken = in_bucket
    report = taken.report
    assert report["path"] == f"s3://{BUCKET}/{PREFIX}"
    assert report["blobs"] >= STATIC + 1
    assert report["bytes"] > BIG
    # What went up: every file SHA256SUMS lists, and those two; the scratch folder is gone.
    s3 = taken.keeper.client(taken.keeper_key)
    sums = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/SHA256SUMS")["Body"].read().decode()
    digests = {
        path: digest for digest, path in (line.split("  ", 1) for line in sums.split("\n") if line)
    }
    assert set(_objects(taken, PREFIX + "/")) == {
        f"{PREFIX}/{name}" for name in [*digests, "SHA256SUMS", "nexq-backup.json"]
    }
    assert "meta.db" in digests and "master.key" not in digests
    assert not list(taken.source.data_dir.parent.glob(".nexq-backup-*"))
    # Each object carries its SHA-256: in its metadata, and as S3's checksum (of the whole
    # object if it went up in one request, of its parts' checksums if in parts).
    sizes = _objects(taken, PREFIX + "/")
    big_path = next(k for k, size in sizes.items() if size >= BIG).removeprefix(PREFIX + "/")
    for path in ("meta.db", big_path):
        head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{path}", ChecksumMode="ENABLED")
        assert head["Metadata"]["sha256"] == digests[path]
        assert "ChecksumSHA256" in head, head
    whole = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/meta.db", ChecksumMode="ENABLED")
    assert whole["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(digests["meta.db"])).decode()
    parts = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{big_path}", ChecksumMode="ENABLED")
    assert parts["ContentLength"] >= BIG and parts["ChecksumSHA256"].endswith("-2"), parts

    target = tmp_path / "restored"
    done = _restore(taken, f"s3://{BUCKET}/{PREFIX}", target)
    assert done.returncode == 0, done.stderr
    restored = json.loads(done.stdout)
    assert restored["from"] == f"s3://{BUCKET}/{PREFIX}"
    assert restored["verified"] is True
    assert restored["blobs"] == report["blobs"]
    assert restored["fsck"]["clean"] is True, restored["fsck"]
    assert restored["master_key"]["opens"] is True

    server = LiveServer(target)
    server.start()
    try:
        _reads_back(taken, server)
    finally:
        server.stop()
        server.remove_databases()


def _reads_back(taken: InBucket, server: LiveServer) -> None:
    s3 = server.client(taken.key)  # the same S3 key: its secret opened with the same key
    listed = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="kept")
        for o in page.get("Contents", [])
    ]
    assert sorted(k for k in listed if k.startswith("static/")) == sorted(
        f"static/{n}" for n in range(STATIC)
    )
    assert s3.get_object(Bucket="kept", Key="big")["Body"].read() == taken.big
    for name in listed:
        if name == "big":
            continue
        counter = counter_in(name, s3.get_object(Bucket="kept", Key=name)["Body"].read())
        if name.startswith("churn/"):
            assert counter in possible(taken.writes, name, taken.started, taken.ended), name
    for n in range(CHURN):  # a churned key that is not listed was deleted at the snapshot
        name = f"churn/{n}"
        if name not in listed:
            assert None in possible(taken.writes, name, taken.started, taken.ended), name


# --- refusals -------------------------------------------------------------------------------


def test_backup_refuses_a_prefix_that_holds_a_backup(in_bucket: InBucket) -> None:
    before = _objects(in_bucket, PREFIX + "/")
    done = nexq_aws(
        "admin",
        "backup",
        "--to",
        f"s3://{BUCKET}/{PREFIX}/",
        data_dir=in_bucket.source.data_dir,
        aws=in_bucket.aws(),
    )
    assert done.returncode == 1
    assert (
        f"s3://{BUCKET}/{PREFIX} holds a backup already (nexq-backup.json): back up under a "
        "new prefix"
    ) in done.stderr
    assert _objects(in_bucket, PREFIX + "/") == before


def test_backup_names_a_wrong_endpoint_and_a_wrong_secret(in_bucket: InBucket) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    done = nexq_aws(
        "admin",
        "backup",
        "--to",
        f"s3://{BUCKET}/elsewhere",
        "--endpoint-url",
        unreachable,
        data_dir=in_bucket.source.data_dir,
        aws=in_bucket.aws(),
    )
    assert done.returncode == 1
    assert f"cannot list s3://{BUCKET}/elsewhere: Could not connect to the endpoint URL" in (
        done.stderr
    )
    assert unreachable in done.stderr
    assert time.monotonic() - started < 15  # a few retries, not a minute of back-off

    wrong = Key(in_bucket.keeper_key.access_key_id, "not-the-secret", "")
    done = nexq_aws(
        "admin",
        "backup",
        "--to",
        f"s3://{BUCKET}/elsewhere",
        data_dir=in_bucket.source.data_dir,
        aws=in_bucket.aws(wrong),
    )
    assert done.returncode == 1
    assert (
        f"cannot list s3://{BUCKET}/elsewhere: SignatureDoesNotMatch: the secret access key "
        "is wrong"
    ) in done.stderr
    assert _objects(in_bucket, "elsewhere/") == {}


def test_a_backup_that_fails_midway_deletes_what_it_uploaded(in_bucket: InBucket) -> None:
    # A second account of the keeper, whose quota the big object does not fit in: its
    # upload is refused once smaller files went up.
    owner = in_bucket.keeper.account("small-quota@example.com")
    in_bucket.keeper.raise_limits(
        owner, s3_read_rps=BURST, s3_write_rps=BURST, storage_bytes=2 * 2**20
    )
    small = in_bucket.keeper.key(owner)
    in_bucket.keeper.client(small).create_bucket(Bucket="too-small")
    done = nexq_aws(
        "admin",
        "backup",
        "--to",
        "s3://too-small/nightly",
        data_dir=in_bucket.source.data_dir,
        aws=in_bucket.aws(small),
    )
    assert done.returncode == 1
    assert "the backup failed, and the " in done.stderr
    assert " objects it uploaded to s3://too-small/nightly were deleted: cannot upload " in (
        done.stderr
    )
    assert in_bucket.keeper.client(small).list_objects_v2(Bucket="too-small")["KeyCount"] == 0
    assert not (in_bucket.source.data_dir / "backup.hold").exists()


def test_restore_refuses_an_object_changed_in_the_bucket(
    in_bucket: InBucket, tmp_path: Path
) -> None:
    # A copy of the backup under another prefix, one blob file's bytes changed through S3.
    s3 = in_bucket.keeper.client(in_bucket.keeper_key)
    copy = "tampered"
    for key in _objects(in_bucket, PREFIX + "/"):
        s3.copy_object(
            Bucket=BUCKET,
            Key=f"{copy}/{key.removeprefix(PREFIX + '/')}",
            CopySource={"Bucket": BUCKET, "Key": key},
        )
    blob = sorted(k for k in _objects(in_bucket, f"{copy}/blobs/"))[-1]
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=blob)["Body"].read())
    data[len(data) // 2] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=blob, Body=bytes(data))

    target = tmp_path / "restored"
    done = _restore(in_bucket, f"s3://{BUCKET}/{copy}", target)
    assert done.returncode == 1
    name = blob.removeprefix(f"{copy}/")
    assert f"{name} in the backup does not match its SHA-256 in SHA256SUMS" in done.stderr
    assert not target.exists()  # nothing half-restored is left behind
