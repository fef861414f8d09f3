"""How a request's body is framed, announced and labelled, over raw HTTP signed by hand.

- ``Expect: 100-continue``: a request the head already dooms is answered with its refusal
  instead of ``100 Continue``, and the connection closed (the client still holds the body).
- ``Transfer-Encoding: chunked`` framing a plain body: S3 answers 501 NotImplemented naming
  the header (it needs every body's length up front); an aws-chunked body that declares its
  decoded length may come chunked.
- ``Content-Encoding``: ``aws-chunked`` frames one request's body and is never stored.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.live import Key, LiveServer
from tests.signing import (
    amz_now,
    authorization,
    canonical_put,
    sign_request,
    signed_chunks,
    unsigned_trailer,
)

UNSIGNED = "UNSIGNED-PAYLOAD"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One node addressed directly, in every test mode: how a body is framed and what an
    ``Expect: 100-continue`` gets are the node's answers. A balancer in front (make
    test-cluster's nginx) buffers bodies and answers Expect itself."""
    live = LiveServer(tmp_path_factory.mktemp("framing") / "data")
    live.data_dir.mkdir()
    live.start()
    yield live
    live.stop()


def _host(server: LiveServer) -> str:
    return urlsplit(server.endpoint).netloc


def _signed_put(
    server: LiveServer, key: Key, target: str, payload: str = UNSIGNED, secret: str | None = None
) -> dict[str, str]:
    """The signed headers of a PUT of ``target`` (a path, and a query of words in canonical
    order) whose body is hashed as ``payload`` (the framing headers are the caller's)."""
    amz_date = amz_now()
    headers = {"host": _host(server), "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    path, _, query = target.partition("?")
    canonical, signed = canonical_put(path, headers, payload)
    canonical = canonical.replace(f"PUT\n{path}\n\n", f"PUT\n{path}\n{query}\n", 1)
    signature = sign_request(secret or key.secret_access_key, amz_date, canonical)
    headers["authorization"] = authorization(key.access_key_id, amz_date, signed, signature)
    return headers


class Exchange:
    """One request on a raw connection: the head first, the body only when asked."""

    def __init__(self, server: LiveServer, path: str, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.s3_port), timeout=10)
        head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.sock.sendall(head.encode() + b"\r\n")
        self.buffer = b""

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The next response: status, headers, body."""
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), headers, body

    def closed(self) -> bool:
        """Whether the server hangs up (rather than waiting for more of this connection)."""
        try:
            return self.sock.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            return False

    def close(self) -> None:
        self.sock.close()

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed after {self.buffer!r}")
        self.buffer += data


@pytest.fixture
def exchanges() -> Iterator[list[Exchange]]:
    made: list[Exchange] = []
    yield made
    for exchange in made:
        exchange.close()


def _expecting(
    server: LiveServer,
    key: Key,
    path: str,
    length: int,
    made: list[Exchange],
    secret: str | None = None,
) -> Exchange:
    headers = {
        **_signed_put(server, key, path, secret=secret),
        "content-length": str(length),
        "expect": "100-continue",
    }
    exchange = Exchange(server, path, headers)
    made.append(exchange)
    return exchange


def _refused_before_the_body(exchange: Exchange) -> tuple[int, str]:
    status, headers, body = exchange.answer()
    assert status != 100, "the server asked for a body it was going to refuse"
    assert headers.get("connection") == "close"
    assert exchange.closed()
    text = body.decode()
    return status, text[text.index("<Code>") + 6 : text.index("</Code>")]


def test_expect_continue_is_answered_with_the_refusal(
    server: LiveServer, owner: Key, s3: Any, bucket: str, exchanges: list[Exchange]
) -> None:
    refusals = {
        "bad signature": (f"/{bucket}/k", 10, "x" * 40),
        "no such bucket": ("/no-such-bucket-here/k", 10, None),
        "too large": (f"/{bucket}/k", 6 * 1024**3, None),
    }
    expected = {
        "bad signature": (403, "SignatureDoesNotMatch"),
        "no such bucket": (404, "NoSuchBucket"),
        "too large": (400, "EntityTooLarge"),
    }
    for name, (path, length, secret) in refusals.items():
        exchange = _expecting(server, owner, path, length, exchanges, secret)
        assert _refused_before_the_body(exchange) == expected[name], name
    upload = f"/{bucket}/k?partNumber=1&uploadId=no-such-upload"
    exchange = _expecting(server, owner, upload, 10, exchanges)
    assert _refused_before_the_body(exchange) == (404, "NoSuchUpload")


def test_expect_continue_refuses_another_accounts_bucket_and_a_full_quota(
    server: LiveServer, s3: Any, bucket: str, exchanges: list[Exchange]
) -> None:
    email = server.account("expect-quota@example.com")
    server.raise_limits(email, storage_bytes=1000)
    other = server.key(email)
    server.client(other).create_bucket(Bucket="expect-quota-bucket")
    exchange = _expecting(server, other, f"/{bucket}/k", 10, exchanges)
    assert _refused_before_the_body(exchange) == (403, "AccessDenied")
    exchange = _expecting(server, other, "/expect-quota-bucket/k", 5000, exchanges)
    assert _refused_before_the_body(exchange) == (403, "QuotaExceeded")


def test_expect_continue_then_the_body_when_it_can_succeed(
    server: LiveServer, owner: Key, s3: Any, bucket: str, exchanges: list[Exchange]
) -> None:
    exchange = _expecting(server, owner, f"/{bucket}/k", 5, exchanges)
    status, _, _ = exchange.answer()
    assert status == 100
    exchange.sock.sendall(b"hello")
    status, headers, _ = exchange.answer()
    assert status == 200 and headers["etag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"hello"


def _chunked(data: bytes) -> Iterator[bytes]:
    yield data  # a generator body: httpx frames it with Transfer-Encoding: chunked


@pytest.mark.parametrize("payload", ["unsigned", "sha256"])
def test_a_plainly_chunked_body_is_not_implemented(
    server: LiveServer, owner: Key, s3: Any, bucket: str, payload: str
) -> None:
    data = b"chunked body"
    hashed = UNSIGNED if payload == "unsigned" else hashlib.sha256(data).hexdigest()
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    for path in (f"/{bucket}/chunked", f"/{bucket}/mp?partNumber=1&uploadId={upload}"):
        headers = _signed_put(server, owner, path, hashed)
        answer = httpx.put(f"{server.endpoint}{path}", content=_chunked(data), headers=headers)
        assert answer.request.headers["transfer-encoding"] == "chunked"
        assert answer.status_code == 501, answer.text
        assert "<Code>NotImplemented</Code>" in answer.text
        assert "<Header>Transfer-Encoding</Header>" in answer.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)


def test_an_aws_chunked_body_may_come_chunked(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    path = f"/{bucket}/streamed"
    chunks = [b"a" * 70_000, b"tail"]
    headers, body = signed_chunks(
        owner.access_key_id, owner.secret_access_key, path, {"host": _host(server)}, chunks
    )
    answer = httpx.put(f"{server.endpoint}{path}", content=_chunked(body), headers=headers)
    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert answer.status_code == 200, answer.text
    assert s3.get_object(Bucket=bucket, Key="streamed")["Body"].read() == b"".join(chunks)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("aws-chunked,gzip", "gzip"), ("gzip, aws-chunked", "gzip"), ("aws-chunked", None)],
)
def test_aws_chunked_is_never_stored_as_content_encoding(
    server: LiveServer, owner: Key, s3: Any, bucket: str, sent: str, stored: str | None
) -> None:
    data = b"encoded body"
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    ours = {"host": _host(server), "content-encoding": sent}
    for name in ("signed", "trailer"):
        path = f"/{bucket}/{name}"
        if name == "signed":
            headers, body = signed_chunks(
                owner.access_key_id, owner.secret_access_key, path, ours, [data]
            )
        else:
            headers, body = unsigned_trailer(
                owner.access_key_id, owner.secret_access_key, path, ours, data, crc
            )
        answer = httpx.put(f"{server.endpoint}{path}", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        got = s3.get_object(Bucket=bucket, Key=name)
        assert got["Body"].read() == data
        assert got.get("ContentEncoding") == stored
        head = s3.head_object(Bucket=bucket, Key=name)["ResponseMetadata"]["HTTPHeaders"]
        assert head.get("content-encoding") == stored
