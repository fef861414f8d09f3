"""``nexq admin backup --to s3://…`` and ``nexq admin restore --from s3://…`` (issue 19): an
installation backed up while a writer overwrites and deletes objects, into a bucket of a
second Nexq with that server's own credentials (the AWS SDK's chain: environment variables),
restored from there into a new data dir, served and read back whole; a large object fetched
in ranged parts at once, in bounded memory, and refused if it changes meanwhile; and the
refusals: a prefix that holds a backup or the leftovers of one, a wrong endpoint or secret,
a tampered object, a failed upload whose objects are deleted again, a prefix without a
manifest to restore from."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nexq.cli import backup_s3
from nexq.cli.backup_s3 import S3Failure, S3Location, S3Source
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


def test_backup_refuses_a_prefix_that_holds_leftovers_but_no_backup(in_bucket: InBucket) -> None:
    # What a backup killed midway leaves (its failure handler never ran): files, no manifest.
    s3 = in_bucket.keeper.client(in_bucket.keeper_key)
    s3.copy_object(
        Bucket=BUCKET,
        Key="killed/meta.db",
        CopySource={"Bucket": BUCKET, "Key": f"{PREFIX}/meta.db"},
    )
    before = _objects(in_bucket, "killed/")
    done = nexq_aws(
        "admin",
        "backup",
        "--to",
        f"s3://{BUCKET}/killed",
        data_dir=in_bucket.source.data_dir,
        aws=in_bucket.aws(),
    )
    assert done.returncode == 1
    assert (
        f"s3://{BUCKET}/killed is not empty: it holds killed/meta.db but no nexq-backup.json "
        "(a backup that did not finish?): back up under a new prefix, or delete what is there"
    ) in done.stderr
    assert _objects(in_bucket, "killed/") == before
    # A prefix is a folder of its own: "kill" is not hindered by what "killed" holds.
    done = nexq_aws(
        "admin",
        "backup",
        "--to",
        f"s3://{BUCKET}/kill",
        data_dir=in_bucket.source.data_dir,
        aws=in_bucket.aws(),
    )
    assert done.returncode == 0, done.stderr
    assert "kill/nexq-backup.json" in _objects(in_bucket, "kill/")
    assert _objects(in_bucket, "killed/") == before


def test_restore_refuses_leftovers_without_a_manifest_and_leaves_the_target_alone(
    in_bucket: InBucket, tmp_path: Path
) -> None:
    s3 = in_bucket.keeper.client(in_bucket.keeper_key)
    for name in ("meta.db", "SHA256SUMS"):  # all of a backup but its manifest, say
        s3.copy_object(
            Bucket=BUCKET,
            Key=f"interrupted/{name}",
            CopySource={"Bucket": BUCKET, "Key": f"{PREFIX}/{name}"},
        )
    target = tmp_path / "restored"
    target.mkdir()  # made for the restore, empty: it must stay so
    done = _restore(in_bucket, f"s3://{BUCKET}/interrupted", target)
    assert done.returncode == 1
    assert (
        f"s3://{BUCKET}/interrupted holds no nexq-backup.json, the manifest a backup writes "
        "last, but other files (SHA256SUMS, meta.db): a backup that did not finish, or not "
        "one of nexq admin backup. Nothing was restored"
    ) in done.stderr
    assert list(target.iterdir()) == []

    # A prefix with nothing at all (mistyped) is said as such; no target is made.
    elsewhere = tmp_path / "elsewhere"
    done = _restore(in_bucket, f"s3://{BUCKET}/no-such-backup", elsewhere)
    assert done.returncode == 1
    assert (
        f"s3://{BUCKET}/no-such-backup holds no nexq-backup.json, nor anything else: is that "
        "where the backup is?"
    ) in done.stderr
    assert not elsewhere.exists()


# --- a large object, fetched in parts -------------------------------------------------------


@pytest.fixture
def fetching(in_bucket: InBucket, monkeypatch: pytest.MonkeyPatch) -> S3Source:
    """An S3Source on the keeper's bucket, in this process, its credentials from the SDK's
    chain (the environment) as the command's are."""
    for name, value in in_bucket.aws().items():
        monkeypatch.setenv(name, value)
    return S3Source(S3Location(BUCKET, "large"), in_bucket.keeper.endpoint)


def _gets(source: S3Source, hook: Any) -> None:
    """Call ``hook(params)`` with each GetObject's parameters, on the thread that sends it."""
    source._client.meta.events.register(  # the SDK's own hook, on our client
        "provide-client-params.s3.GetObject", lambda params, **_: hook(params)
    )


def test_restore_fetches_a_large_object_in_ranged_parts_at_once(
    in_bucket: InBucket, fetching: S3Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup_s3, "PART", 2**20)
    data = os.urandom(9 * 2**20 + 12345)  # 9 whole parts and a short one
    s3 = in_bucket.keeper.client(in_bucket.keeper_key)
    etag = s3.put_object(Bucket=BUCKET, Key="large/blob", Body=data)["ETag"]
    asked: list[dict[str, Any]] = []
    lock = threading.Lock()
    # The first two ranged GETs after the first wait for each other: fetched one after the
    # other, the first would wait alone, and the barrier break.
    together = threading.Barrier(2, timeout=20)

    def seen(params: dict[str, Any]) -> None:
        with lock:
            asked.append(dict(params))
            later = len(asked)
        if later in (2, 3):
            together.wait()

    _gets(fetching, seen)
    size, digest = fetching.fetch("blob", tmp_path / "blob")
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "blob").read_bytes() == data
    assert stat.S_IMODE((tmp_path / "blob").stat().st_mode) == 0o600
    assert asked[0]["Range"] == f"bytes=0-{2**20 - 1}" and "IfMatch" not in asked[0]
    # The rest, each byte once, each GET only of the object whose first part came.
    spans = sorted(
        tuple(int(n) for n in a["Range"].removeprefix("bytes=").split("-")) for a in asked[1:]
    )
    assert spans == [
        (start, min(start + 2**20, len(data)) - 1) for start in range(2**20, len(data), 2**20)
    ]
    assert {a["IfMatch"] for a in asked[1:]} == {etag}


def test_an_empty_and_a_small_object_are_fetched_whole(
    in_bucket: InBucket, fetching: S3Source, tmp_path: Path
) -> None:
    s3 = in_bucket.keeper.client(in_bucket.keeper_key)
    # An empty object has no byte for a Range to name (S3 answers 416): it is got whole.
    for name, data in (("empty", b""), ("small", os.urandom(1000))):
        s3.put_object(Bucket=BUCKET, Key=f"large/{name}", Body=data)
        got = fetching.fetch(name, tmp_path / name)
        assert got == (len(data), hashlib.sha256(data).hexdigest())
        assert (tmp_path / name).read_bytes() == data
    with pytest.raises(FileNotFoundError):
        fetching.fetch("absent", tmp_path / "absent")


def test_a_large_object_is_fetched_in_bounded_memory(
    in_bucket: InBucket, fetching: S3Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = 8 * 2**20
    monkeypatch.setattr(backup_s3, "PART", part)
    data = os.urandom(5 * part)
    in_bucket.keeper.client(in_bucket.keeper_key).put_object(
        Bucket=BUCKET, Key="large/wide", Body=data
    )
    tracemalloc.start()
    try:
        size, digest = fetching.fetch("wide", tmp_path / "wide")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    # A chunk or two per part in flight; parts held whole would be 4 x 8 MiB at once.
    assert peak < 2 * backup_s3.PARTS_IN_FLIGHT * 2**20 + 4 * 2**20, peak


def test_a_large_object_that_changes_while_fetched_is_refused(
    in_bucket: InBucket, fetching: S3Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup_s3, "PART", 2**20)
    s3 = in_bucket.keeper.client(in_bucket.keeper_key)
    s3.put_object(Bucket=BUCKET, Key="large/moving", Body=os.urandom(3 * 2**20))
    replaced = threading.Event()
    lock = threading.Lock()

    def replace_once(params: dict[str, Any]) -> None:
        with lock:  # before the first ranged GET after the first part is sent
            if "IfMatch" in params and not replaced.is_set():
                s3.put_object(Bucket=BUCKET, Key="large/moving", Body=os.urandom(3 * 2**20))
                replaced.set()

    _gets(fetching, replace_once)
    with pytest.raises(S3Failure) as refused:
        fetching.fetch("moving", tmp_path / "moving")
    assert replaced.is_set()
    assert str(refused.value) == (
        f"cannot download moving from s3://{BUCKET}/large: PreconditionFailed: the object "
        "changed while it was being downloaded"
    )
