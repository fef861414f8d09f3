"""HTTPS with a self-signed certificate, where boto3 streams aws-chunked bodies with trailers."""

from __future__ import annotations

import base64
import io
import os
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.live import Key, LiveServer
from tests.signing import unsigned_trailer

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("tls") / "data", extra=("--self-signed",), scheme="https"
    )
    live.data_dir.mkdir()
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def tls_key(tls_server: LiveServer) -> Key:
    return tls_server.key(tls_server.account("tls@example.com"))


def test_boto3_over_https_streams_with_trailing_checksums(
    tls_server: LiveServer, tls_key: Key
) -> None:
    s3 = tls_server.client(tls_key)
    seen: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        seen.append(request.headers.get("x-amz-content-sha256", b"").decode())

    s3.meta.events.register("before-send.s3.PutObject", capture)
    s3.meta.events.register("before-send.s3.UploadPart", capture)
    s3.create_bucket(Bucket="tls-bucket")
    body = os.urandom(300_000)
    put = s3.put_object(
        Bucket="tls-bucket", Key="k", Body=io.BytesIO(body), ChecksumAlgorithm="CRC32C"
    )
    assert seen[-1] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    got = s3.get_object(Bucket="tls-bucket", Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got["ChecksumCRC32C"] == put["ChecksumCRC32C"]
    big = os.urandom(12 * MiB)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_fileobj(io.BytesIO(big), "tls-bucket", "big", Config=config)
    assert "STREAMING-UNSIGNED-PAYLOAD-TRAILER" in seen[1:]
    assert s3.get_object(Bucket="tls-bucket", Key="big")["Body"].read() == big


def _unsigned_trailer_put(
    server: LiveServer, key: Key, path: str, data: bytes, crc: str
) -> httpx.Response:
    host = urlsplit(server.endpoint).netloc
    headers, body = unsigned_trailer(
        key.access_key_id, key.secret_access_key, path, {"host": host}, data, crc
    )
    return httpx.put(f"{server.endpoint}{path}", content=body, headers=headers, verify=False)


def test_trailing_checksum_mismatch_stores_nothing(tls_server: LiveServer, tls_key: Key) -> None:
    s3 = tls_server.client(tls_key)
    s3.create_bucket(Bucket="trailer-bucket")
    data = b"trailer checked body"
    good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    response = _unsigned_trailer_put(tls_server, tls_key, "/trailer-bucket/ok", data, good)
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket="trailer-bucket", Key="ok")["Body"].read() == data
    bad = base64.b64encode((zlib.crc32(data) ^ 1).to_bytes(4, "big")).decode()
    response = _unsigned_trailer_put(tls_server, tls_key, "/trailer-bucket/bad", data, bad)
    assert response.status_code == 400
    assert "<Code>BadDigest</Code>" in response.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket="trailer-bucket", Key="bad")


def test_certificate_is_served(tls_server: LiveServer) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(tls_server.endpoint, verify=True)
    assert httpx.get(tls_server.endpoint, verify=False).status_code == 403
    plain = f"http://127.0.0.1:{tls_server.s3_port}"
    with pytest.raises(httpx.HTTPError):
        httpx.get(plain, timeout=5)
