"""Three Nexq nodes on one PostgreSQL and one Ceph cluster, behind nginx (docs/scale-out.md).

What must hold across nodes: nothing acknowledged is lost when a node is killed -9 or the
database restarts under writes; a revocation on one node is refused by the others within
1 s; usage counted by every node adds up exactly; fsck finds the cluster clean after all.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import psycopg
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.ceph import CephCluster
from tests.cluster.nodes import BalancedServer
from tests.live import BURST, REGION, Key, LiveServer, nexq, nexq_json
from tests.postgres import PostgresServer

MiB = 1024 * 1024
_names = itertools.count()


@dataclass
class Cluster:
    server: BalancedServer
    database: PostgresServer

    @property
    def nodes(self) -> list[LiveServer]:
        return self.server.nodes

    @property
    def database_url(self) -> str:
        assert self.server.database_url
        return self.server.database_url

    def client(self, key: Key, endpoint: str | None = None) -> Any:
        """An S3 client through the balancer (or straight to one node's ``endpoint``), with
        the SDK's standard retries: what an application in front of a cluster uses."""
        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.server.endpoint,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            region_name=REGION,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 12, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    def owner(self) -> Key:
        email = self.server.account(f"owner{next(_names)}@example.com")
        self.server.raise_limits(
            email, s3_read_rps=BURST, s3_write_rps=BURST, api_rps=BURST, buckets=100
        )
        return self.server.key(email)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, ceph: CephCluster) -> Iterator[Cluster]:
    # A PostgreSQL server of its own: this module restarts it.
    database = PostgresServer()
    server = BalancedServer(
        tmp_path_factory.mktemp("cluster") / "node0",
        database_url=database.new_database(),
        blobs_url=ceph.url(ceph.new_namespace()),
    )
    try:
        server.start()
        yield Cluster(server, database)
    finally:
        server.close()
        database.stop()


def test_usage_counted_on_every_node_adds_up_exactly(cluster: Cluster) -> None:
    key = cluster.owner()
    bucket = f"meter-{next(_names)}"
    s3 = cluster.client(key)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    heads = 40
    for node in cluster.nodes:  # each node straight, not through the balancer
        direct = cluster.client(key, node.endpoint)
        for _ in range(heads):
            direct.head_object(Bucket=bucket, Key="k")
    counted = _poll(lambda: _class_b(cluster.database_url, key.account), 3 * heads)
    assert counted == 3 * heads


def test_a_revocation_on_one_node_is_refused_by_the_others_within_a_second(
    cluster: Cluster,
) -> None:
    owner = cluster.owner()
    token = cluster.nodes[0].api_key(owner.account)
    a, b = cluster.nodes[0], cluster.nodes[1]
    seen: list[float] = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
        for _ in range(20):
            made = api.post(
                f"{a.api_url}/v1/storage/access-keys", json={"label": "r", "buckets": "all"}
            )
            assert made.status_code == 201, made.text
            body = made.json()
            key = Key(body["access_key_id"], body["secret_access_key"], owner.account)
            other = cluster.client(key, b.endpoint)
            other.list_buckets()  # node B knows the key (and has it cached)
            revoked = api.post(f"{a.api_url}/v1/storage/access-keys/{key.access_key_id}/revoke")
            assert revoked.status_code == 200, revoked.text
            start = time.monotonic()
            seen.append(_until_refused(other.list_buckets, start))
            gone = api.delete(f"{a.api_url}/v1/storage/access-keys/{key.access_key_id}")
            assert gone.status_code == 204  # revoked keys count toward the limit until deleted
    print(f"\nrevocation seen by another node (s): {_distribution(seen)}")
    assert max(seen) < 1.0

    # A suspended account too.
    victim = cluster.owner()
    client = cluster.client(victim, cluster.nodes[2].endpoint)
    client.list_buckets()
    nexq("admin", "account", "suspend", victim.account, data_dir=a.data_dir)
    assert _until_refused(client.list_buckets, time.monotonic()) < 1.0


def test_nothing_acknowledged_is_lost_when_a_node_is_killed(cluster: Cluster) -> None:
    key = cluster.owner()
    s3 = cluster.client(key)
    bucket = f"kill-{next(_names)}"
    s3.create_bucket(Bucket=bucket)
    load = Load(cluster, key, bucket)
    load.run(after=40, fault=cluster.nodes[1].kill)
    assert load.faulted, "the node was killed while writes were in flight"
    load.verify()
    cluster.nodes[1].start()  # back for the tests that follow


def test_nothing_acknowledged_is_lost_when_the_database_restarts(cluster: Cluster) -> None:
    key = cluster.owner()
    s3 = cluster.client(key)
    bucket = f"restart-{next(_names)}"
    s3.create_bucket(Bucket=bucket)
    load = Load(cluster, key, bucket)
    load.run(after=40, fault=cluster.database.restart)
    assert load.faulted
    load.verify()


def test_fsck_finds_the_cluster_clean(cluster: Cluster) -> None:
    report = nexq_json("admin", "fsck", data_dir=cluster.nodes[0].data_dir)
    assert report["clean"], report
    assert report["blobs_referenced"] > 0


@dataclass
class Load:
    """Six clients writing through the balancer (new objects, some striped over several
    RADOS objects, multipart uploads, deletes), and a fault injected once ``after``
    operations were acknowledged. Records what was acknowledged, to check it after."""

    cluster: Cluster
    key: Key
    bucket: str
    acknowledged: dict[str, str | None] = field(default_factory=dict)  # key -> sha256 | deleted
    faulted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: int = 0

    def run(self, after: int, fault: Callable[[], None]) -> None:
        armed = threading.Event()
        errors: list[BaseException] = []

        def client_loop(number: int) -> None:
            try:
                self._client(number, armed)
            except BaseException as exc:
                errors.append(exc)
                armed.set()

        threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        armed.wait(120)
        while self._count < after and not errors:
            armed.wait(0.05)
        if not errors:
            fault()
            self.faulted = True
        for thread in threads:
            thread.join(300)
        assert not errors, errors[0]

    def _client(self, number: int, armed: threading.Event) -> None:
        s3 = self.cluster.client(self.key)
        rng = random.Random(number)
        mine: list[str] = []
        for op in range(24):
            armed.set()
            name = f"c{number}/o{op}"
            if op % 8 == 7:  # a multipart upload of three parts
                parts = [rng.randbytes(5 * MiB), rng.randbytes(5 * MiB), rng.randbytes(1000)]
                upload = s3.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
                etags = [
                    s3.upload_part(
                        Bucket=self.bucket, Key=name, UploadId=upload, PartNumber=i, Body=part
                    )["ETag"]
                    for i, part in enumerate(parts, 1)
                ]
                s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload,
                    MultipartUpload={
                        "Parts": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, 1)]
                    },
                )
                self._acknowledge(name, hashlib.sha256(b"".join(parts)).hexdigest())
            elif op % 5 == 4 and mine:  # delete an earlier object
                gone = mine.pop(rng.randrange(len(mine)))
                s3.delete_object(Bucket=self.bucket, Key=gone)
                self._acknowledge(gone, None)
            else:  # mostly small objects; every third one spans two RADOS stripes
                body = rng.randbytes(6 * MiB if op % 3 == 2 else rng.randrange(1, 64 * 1024))
                s3.put_object(Bucket=self.bucket, Key=name, Body=body)
                self._acknowledge(name, hashlib.sha256(body).hexdigest())
                mine.append(name)

    def _acknowledge(self, name: str, digest: str | None) -> None:
        with self._lock:
            self.acknowledged[name] = digest
            self._count += 1

    def verify(self) -> None:
        """Every acknowledged object reads back byte-identical; every acknowledged delete
        is gone, through the balancer (the surviving nodes)."""
        s3 = self.cluster.client(self.key)
        for name, digest in sorted(self.acknowledged.items()):
            if digest is None:
                with pytest.raises(ClientError) as missing:
                    s3.head_object(Bucket=self.bucket, Key=name)
                assert missing.value.response["Error"]["Code"] == "404", name
            else:
                body = s3.get_object(Bucket=self.bucket, Key=name)["Body"].read()
                assert hashlib.sha256(body).hexdigest() == digest, name
        listed = {
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            for item in page.get("Contents", ())
        }
        assert listed == {name for name, digest in self.acknowledged.items() if digest}


def _until_refused(call: Callable[[], object], start: float) -> float:
    """Seconds from ``start`` until ``call`` is refused with 403 (fails after 5 s)."""
    while time.monotonic() - start < 5:
        try:
            call()
        except ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
            return time.monotonic() - start
    raise AssertionError("still accepted 5 s after the revocation")


def _class_b(url: str, email: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(u.class_b), 0) FROM usage_hourly u "
            "JOIN accounts a ON a.id = u.account_id WHERE a.email = %s",
            (email,),
        ).fetchone()
    return int(row[0]) if row else 0


def _poll(read: Callable[[], int], expected: int, within: float = 15.0) -> int:
    """``read()`` once it reaches ``expected`` (nodes flush their counts every second), or
    its last value after ``within`` seconds."""
    deadline = time.monotonic() + within
    value = read()
    while value < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def _distribution(seen: list[float]) -> str:
    ordered = sorted(seen)
    return (
        f"n={len(seen)} min={ordered[0] * 1000:.1f} ms "
        f"median={statistics.median(ordered) * 1000:.1f} ms "
        f"p90={ordered[int(len(ordered) * 0.9) - 1] * 1000:.1f} ms "
        f"max={ordered[-1] * 1000:.1f} ms"
    )
