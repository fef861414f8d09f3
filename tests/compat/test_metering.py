"""Metering: known traffic from real clients shows as exact counters, across a restart."""

from __future__ import annotations

import itertools
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.live import BURST, Key, LiveServer

_n = itertools.count()


def usage(server: LiveServer, token: str) -> dict[str, Any]:
    month = datetime.now(UTC).strftime("%Y-%m")
    response = httpx.get(
        f"{server.api_url}/v1/storage/usage",
        params={"month": month},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,  # httpx's 5 s default is short for a 2-core CI machine running two suites
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def row(report: dict[str, Any], bucket: str) -> dict[str, int]:
    found: dict[str, int] = next(b for b in report["buckets"] if b["bucket"] == bucket)
    return found


def restart(server: LiveServer) -> None:
    """A clean stop flushes every worker's counters; the restart proves they were stored."""
    server.stop()
    server.start()


@pytest.fixture
def account(server: LiveServer) -> tuple[Key, str]:
    email = server.account(f"metered{next(_n)}@example.com")
    return server.key(email), server.api_key(email)


def test_known_traffic_gives_exact_counters(server: LiveServer, account: tuple[Key, str]) -> None:
    key, token = account
    s3 = server.client(key)
    bucket = f"metered-{next(_n)}"
    s3.create_bucket(Bucket=bucket)  # A
    sizes = [0, 1, 1000, 70_000, 2 * 1024 * 1024]
    for i, size in enumerate(sizes):  # 5 x A, data in = sum(sizes)
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * size)
    for i, size in enumerate(sizes):  # 5 x B, data out = sum(sizes)
        assert len(s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read()) == size
    ranged = s3.get_object(Bucket=bucket, Key="k3", Range="bytes=10-109")  # B, 100 out
    assert len(ranged["Body"].read()) == 100
    s3.head_object(Bucket=bucket, Key="k1")  # B
    s3.list_objects_v2(Bucket=bucket)  # A
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="missing")  # B: S3 bills a 404 too
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")  # A
    part = b"p" * (5 * 1024 * 1024)
    etags = []
    for number in (1, 2):  # 2 x A, data in 2 parts
        etags.append(
            s3.upload_part(
                Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=number, Body=part
            )["ETag"]
        )
    s3.complete_multipart_upload(  # A
        Bucket=bucket,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags, strict=True)]
        },
    )
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k2"})  # A
    s3.delete_object(Bucket=bucket, Key="k0")  # other
    s3.list_buckets()  # A, not addressed to a bucket
    restart(server)
    report = usage(server, token)
    counted = row(report, bucket)
    assert counted["class_a"] == 1 + 5 + 1 + 1 + 2 + 1 + 1
    assert counted["class_b"] == 5 + 1 + 1 + 1
    assert counted["operations"] == counted["class_a"] + counted["class_b"] + 1
    assert counted["data_in_bytes"] == sum(sizes) + 2 * len(part)
    assert counted["data_out_bytes"] == sum(sizes) + 100
    account_level = row(report, "")
    assert (account_level["class_a"], account_level["operations"]) == (1, 1)
    totals = report["totals"]
    assert totals["class_a"] == counted["class_a"] + 1
    assert totals["data_in_bytes"] == counted["data_in_bytes"]


def test_concurrent_requests_across_workers_are_counted_exactly(
    server: LiveServer, account: tuple[Key, str]
) -> None:
    key, token = account
    # 320 GETs from 8 threads: more than the 200 a Free account may send in a second.
    server.raise_limits(key.account, s3_read_rps=BURST)  # before the account's first request
    bucket = f"busy-{next(_n)}"
    server.client(key).create_bucket(Bucket=bucket)
    server.client(key).put_object(Bucket=bucket, Key="hot", Body=b"0123456789")

    def hammer(_: int) -> None:
        client = server.client(key)  # own connections: spread over the worker processes
        for _ in range(40):
            assert client.get_object(Bucket=bucket, Key="hot")["Body"].read() == b"0123456789"

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hammer, range(8)))
    restart(server)
    counted = row(usage(server, token), bucket)
    assert counted["class_b"] == 8 * 40
    assert counted["data_out_bytes"] == 8 * 40 * 10
    # Counters add up across restarts instead of being replaced.
    server.client(key).get_object(Bucket=bucket, Key="hot")["Body"].read()
    restart(server)
    assert row(usage(server, token), bucket)["class_b"] == 8 * 40 + 1


def test_who_pays_for_refused_requests(server: LiveServer, account: tuple[Key, str]) -> None:
    key, token = account
    owner = server.client(key)
    bucket, elsewhere = f"guarded-{next(_n)}", f"elsewhere-{next(_n)}"
    owner.create_bucket(Bucket=bucket)
    owner.create_bucket(Bucket=elsewhere)
    owner.put_object(Bucket=bucket, Key="k", Body=b"data")
    # Unauthenticated (bad secret): nobody is billed.
    forged = server.client(Key(key.access_key_id, "x" * 40, key.account))
    with pytest.raises(ClientError):
        forged.get_object(Bucket=bucket, Key="k")
    # Another account's key: counted for the owner as "other", never billed.
    stranger = server.client(server.key(server.account(f"stranger{next(_n)}@example.com")))
    for _ in range(3):
        with pytest.raises(ClientError):
            stranger.get_object(Bucket=bucket, Key="k")
    # The owner's own key limited to another bucket: the owner's request, billed as usual.
    scoped = server.client(server.key(key.account, "scoped", [elsewhere]))
    with pytest.raises(ClientError):
        scoped.get_object(Bucket=bucket, Key="k")
    restart(server)
    counted = row(usage(server, token), bucket)
    assert counted["class_a"] == 2  # create + put
    assert counted["class_b"] == 1  # the scoped key's refused GET
    assert counted["operations"] == 2 + 1 + 3


def test_interrupted_download_counts_what_was_sent(
    server: LiveServer, account: tuple[Key, str], tmp_path: Path
) -> None:
    key, token = account
    s3 = server.client(key)
    bucket = f"partial-{next(_n)}"
    s3.create_bucket(Bucket=bucket)
    size = 64 * 1024 * 1024
    s3.put_object(Bucket=bucket, Key="big", Body=b"b" * size)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big"})
    host, port = "127.0.0.1", server.s3_port
    path = url.split(f":{port}", 1)[1]
    with socket.create_connection((host, port)) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        received = 0
        while received < 1024 * 1024:
            received += len(conn.recv(65536))
    restart(server)
    counted = row(usage(server, token), bucket)
    assert counted["class_b"] == 1
    assert 1024 * 1024 <= counted["data_out_bytes"] < size
