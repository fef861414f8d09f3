"""Clients that misbehave: leave mid-upload or mid-download, trickle headers or bodies, send
bodies shorter or longer than they said, pipeline and hang up; and readers racing writers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.live import Key, LiveServer
from tests.reliability.conftest import account_key
from tests.reliability.harness import (
    UNSIGNED,
    build,
    exchange,
    open_fds,
    parse_response,
    process_tree,
    signed_headers,
    signed_request,
    wait_for,
)

MiB = 1024 * 1024
BUCKET = "slow"
HEADER_TIMEOUT = 20  # nexq.cli.listeners.HEADER_TIMEOUT


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Key]]:
    server = LiveServer(tmp_path_factory.mktemp("slow") / "data")
    server.data_dir.mkdir()
    server.start()
    try:
        key = account_key(server, "slow@example.com")
        server.client(key).create_bucket(Bucket=BUCKET)
        yield server, key
    finally:
        server.stop()


def host(server: LiveServer) -> str:
    return f"127.0.0.1:{server.s3_port}"


def fds(server: LiveServer) -> int:
    assert server.process is not None
    return open_fds(process_tree(server.process.pid), server.data_dir)


def tmp_empty(server: LiveServer) -> bool:
    return not any((server.data_dir / "tmp").iterdir())


def head(server: LiveServer, key: Key, name: str) -> int:
    return signed_request(server, key, "HEAD", f"/{BUCKET}/{name}").status


def put_head(server: LiveServer, key: Key, name: str, length: int, signed: bool = True) -> bytes:
    path = f"/{BUCKET}/{name}"
    headers = (
        signed_headers(key, "PUT", path.encode(), b"", host(server), UNSIGNED)
        if signed
        else {"host": host(server)}
    )
    headers["content-length"] = str(length)
    return build("PUT", path, headers.items(), content_length=False)


@pytest.mark.parametrize("declared,sent", [(1000, 100), (8 * MiB, 3 * MiB)])
def test_upload_cut_short_leaves_nothing(
    live: tuple[LiveServer, Key], declared: int, sent: int
) -> None:
    server, key = live
    name = f"cut-{declared}"
    with socket.create_connection(("127.0.0.1", server.s3_port)) as sock:
        sock.sendall(put_head(server, key, name, declared))
        sock.sendall(os.urandom(sent))
        # The server has the bytes (it answers a request on another connection after them).
        assert signed_request(server, key, "GET", f"/{BUCKET}", "list-type=2").status == 200
    wait_for(lambda: tmp_empty(server), 10, "the cut upload's temporary file stayed")
    assert head(server, key, name) == 404


def test_part_upload_cut_short_leaves_no_part(live: tuple[LiveServer, Key]) -> None:
    server, key = live
    client = server.client(key)
    upload = client.create_multipart_upload(Bucket=BUCKET, Key="mp-cut")["UploadId"]
    path = f"/{BUCKET}/mp-cut"
    query = f"partNumber=1&uploadId={upload}"
    headers = signed_headers(key, "PUT", path.encode(), query.encode(), host(server), UNSIGNED)
    headers["content-length"] = str(6 * MiB)
    with socket.create_connection(("127.0.0.1", server.s3_port)) as sock:
        sock.sendall(build("PUT", f"{path}?{query}", headers.items(), content_length=False))
        sock.sendall(os.urandom(2 * MiB))
    wait_for(lambda: tmp_empty(server), 10, "the cut part's temporary file stayed")
    assert client.list_parts(Bucket=BUCKET, Key="mp-cut", UploadId=upload).get("Parts", []) == []
    client.abort_multipart_upload(Bucket=BUCKET, Key="mp-cut", UploadId=upload)


def test_body_longer_than_its_length_stores_exactly_the_length(
    live: tuple[LiveServer, Key],
) -> None:
    server, key = live
    # The extra bytes after the answer: they are a (bad) next request, and nothing more.
    with socket.create_connection(("127.0.0.1", server.s3_port), timeout=10) as sock:
        sock.sendall(put_head(server, key, "longer", 10) + b"0123456789")
        first = parse_response(sock.recv(65536))
        assert first is not None and first.status == 200
        sock.sendall(b"EXTRA BYTES\r\n\r\n")
        second = parse_response(sock.recv(65536))
        assert second is not None and second.status == 400
    assert signed_request(server, key, "GET", f"/{BUCKET}/longer").body == b"0123456789"
    # The extra bytes in the same segment: the PUT may be refused with the garbage, but what
    # is stored is never more than the declared length.
    with socket.create_connection(("127.0.0.1", server.s3_port), timeout=10) as sock:
        sock.sendall(put_head(server, key, "longer2", 10) + b"0123456789EXTRA BYTES\r\n\r\n")
        answer = parse_response(sock.recv(65536))
    assert answer is not None and answer.status in (200, 400)
    got = signed_request(server, key, "GET", f"/{BUCKET}/longer2")
    assert (got.status, got.body) in ((200, b"0123456789"), (404, got.body))
    wait_for(lambda: tmp_empty(server), 10, "a temporary file stayed")


def test_abandoned_downloads_release_their_files(live: tuple[LiveServer, Key]) -> None:
    server, key = live
    server.client(key).put_object(Bucket=BUCKET, Key="big", Body=os.urandom(32 * MiB))
    baseline = fds(server)
    path = f"/{BUCKET}/big"
    request = build(
        "GET", path, signed_headers(key, "GET", path.encode(), b"", host(server)).items()
    )
    socks = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.s3_port))
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        socks.append(sock)
    for sock in socks:
        sock.close()
    wait_for(lambda: fds(server) <= baseline + 2, 15, "abandoned downloads kept descriptors")
    assert signed_request(server, key, "HEAD", path).status == 200


def test_pipelined_requests_of_a_client_that_left(live: tuple[LiveServer, Key]) -> None:
    """Regressions: uvicorn wrote the answers to a closed transport (a logged RuntimeError),
    and answered a malformed request before the well-formed ones pipelined ahead of it."""
    server, key = live
    log = server.data_dir.parent / f"server-{server.s3_port}.log"
    before = log.read_text().count("Exception in ASGI application")
    path = f"/{BUCKET}"
    one = build("GET", path, signed_headers(key, "GET", path.encode(), b"", host(server)).items())
    for tail in (b"", b"GARBAGE\r\n\r\n"):
        for _ in range(10):
            answer = exchange(server.s3_port, one * 3 + tail)
            assert answer is not None and answer.status == 200
    # Whatever the workers still have to log about those connections is logged by the time a
    # request sent after them on each worker is answered.
    for _ in range(8):
        assert signed_request(server, key, "GET", path).status == 200
    assert log.read_text().count("Exception in ASGI application") == before


@pytest.mark.parametrize("path", ["/broken-chunked-bucket", f"/{BUCKET}/broken-chunked"])
def test_broken_chunked_body_is_answered(live: tuple[LiveServer, Key], path: str) -> None:
    """A request whose own body breaks HTTP chunked framing gets its 400 at once."""
    server, key = live
    headers = signed_headers(key, "PUT", path.encode(), b"", host(server), UNSIGNED)
    headers["transfer-encoding"] = "chunked"
    data = build("PUT", path, headers.items(), b"5\r\nhello\r\nzz\r\n", content_length=False)
    answer = exchange(server.s3_port, data, timeout=10)
    assert answer is not None and answer.status in (400, 411), answer


def test_readers_racing_overwrites_get_whole_versions(live: tuple[LiveServer, Key]) -> None:
    server, key = live
    versions: dict[str, bytes] = {}

    def version(n: int) -> bytes:
        size = [1, 1000, 64 * 1024, 64 * 1024 + 1, MiB, 3 * MiB + 7][n % 6]
        seed = hashlib.sha256(str(n).encode()).digest()
        return (seed * (size // 32 + 1))[:size]

    for n in range(60):
        versions[hashlib.md5(version(n)).hexdigest()] = version(n)
    server.client(key).put_object(Bucket=BUCKET, Key="raced", Body=version(0))
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def write(worker: int) -> None:
        client = server.client(key)
        for n in range(worker, 60, 3):
            client.put_object(Bucket=BUCKET, Key="raced", Body=version(n))
        stop.set()

    def read() -> None:
        client = server.client(key)
        while not stop.is_set():
            try:
                got = client.get_object(Bucket=BUCKET, Key="raced")
                body = got["Body"].read()
            except (ClientError, BotoCoreError) as exc:
                # A download cut off (once: when the version it read was collected meanwhile).
                problems.append(repr(exc))
                continue
            etag = got["ETag"].strip('"')
            reads[0] += 1
            if hashlib.md5(body).hexdigest() != etag or versions.get(etag) != body:
                problems.append(f"{len(body)} bytes under ETag {etag}")

    with ThreadPoolExecutor(11) as pool:
        futures = [pool.submit(write, w) for w in range(3)]
        futures += [pool.submit(read) for _ in range(8)]
        for future in futures:
            future.result(timeout=120)
    print(f"racing reads: {reads[0]} whole")
    assert not problems, problems[:5]
    assert reads[0] >= 8


def test_download_outlives_an_overwrite(live: tuple[LiveServer, Key]) -> None:
    server, key = live
    client = server.client(key)
    part = 16 * MiB
    bodies = [os.urandom(part), os.urandom(part)]
    upload = client.create_multipart_upload(Bucket=BUCKET, Key="mp-read")["UploadId"]
    parts = [
        {
            "PartNumber": n,
            "ETag": client.upload_part(
                Bucket=BUCKET, Key="mp-read", UploadId=upload, PartNumber=n, Body=body
            )["ETag"],
        }
        for n, body in enumerate(bodies, 1)
    ]
    client.complete_multipart_upload(
        Bucket=BUCKET, Key="mp-read", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    with sqlite3.connect(server.data_dir / "meta.db") as db:
        (segments,) = db.execute("SELECT segments FROM objects WHERE key = 'mp-read'").fetchone()
    files = [server.data_dir / "blobs" / path for path, *_ in json.loads(segments)]
    path = f"/{BUCKET}/mp-read"
    # Connection: close, so that the end of the body is the end of the stream: on a kept-alive
    # connection the read below would last until the server's idle timeout (30 s).
    headers = signed_headers(key, "GET", path.encode(), b"", host(server))
    request = build("GET", path, [*headers.items(), ("connection", "close")])
    with socket.create_connection(("127.0.0.1", server.s3_port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(request)
        received = sock.recv(64 * 1024)  # the download has begun; the reader pauses
        assert received.startswith(b"HTTP/1.1 200")
        client.put_object(Bucket=BUCKET, Key="mp-read", Body=b"the next version")
        wait_for(
            lambda: not any(f.exists() for f in files), 10, "the old version was never collected"
        )
        # The pause is over: a 64 KiB window drains 32 MiB over loopback at a few MB/s.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MiB)
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += chunk
    body = received.partition(b"\r\n\r\n")[2]
    assert len(body) == 2 * part, f"the download stopped after {len(body)} of {2 * part} bytes"
    assert body == b"".join(bodies)


def test_slowloris_does_not_starve_normal_clients(live: tuple[LiveServer, Key]) -> None:
    server, key = live
    baseline = fds(server)
    head_tricklers: list[socket.socket] = []
    body_tricklers: list[socket.socket] = []
    request = b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    for i in range(100):
        sock = socket.create_connection(("127.0.0.1", server.s3_port))
        sock.sendall(request[:10])
        head_tricklers.append(sock)
        sock = socket.create_connection(("127.0.0.1", server.s3_port))
        # Half declare a small body (read before authentication), half a large signed one.
        length, signed = (1000, False) if i % 2 else (4 * MiB, True)
        sock.sendall(put_head(server, key, f"trickle-{i}", length, signed) + b"x")
        body_tricklers.append(sock)
    stop = threading.Event()
    closed_by_server: set[int] = set()

    def trickle() -> None:
        sent = 10
        while not stop.wait(1.0):
            for n, sock in enumerate(head_tricklers):
                if n in closed_by_server:
                    continue
                try:
                    sock.sendall(request[sent : sent + 1])
                except OSError:
                    closed_by_server.add(n)
            for sock in body_tricklers:
                with contextlib.suppress(OSError):
                    sock.sendall(b"x")
            sent = min(sent + 1, len(request) - 1)

    started = time.monotonic()
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    latencies = []
    try:
        while time.monotonic() - started < 8:
            for method, body in (("PUT", b"normal"), ("GET", b"")):
                t0 = time.monotonic()
                answer = signed_request(server, key, method, f"/{BUCKET}/normal", body=body)
                latencies.append(time.monotonic() - t0)
                assert answer.status == 200
        assert fds(server) >= baseline + 200, "the slow connections were not all open"

        def heads_cut_off() -> bool:
            for n, sock in enumerate(head_tricklers):
                if n in closed_by_server:
                    continue
                sock.setblocking(False)
                try:
                    if sock.recv(1) == b"":
                        closed_by_server.add(n)
                except BlockingIOError:
                    pass
                except OSError:
                    closed_by_server.add(n)
            return len(closed_by_server) == len(head_tricklers)

        wait_for(
            heads_cut_off,
            HEADER_TIMEOUT + 10,
            "connections trickling headers were never cut off",
            interval=0.5,
        )
    finally:
        stop.set()
        thread.join()
        for sock in head_tricklers + body_tricklers:
            sock.close()
    # Starved requests would wait for the tricklers (tens of seconds); these bounds leave room
    # for a loaded CI machine running another suite beside this one.
    assert max(latencies) < 5.0, f"slowest normal request {max(latencies):.2f} s"
    assert statistics.median(latencies) < 0.5, f"median {statistics.median(latencies):.3f} s"
    print(
        f"normal requests during slowloris: {len(latencies)}, median "
        f"{statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    wait_for(lambda: fds(server) <= baseline + 2, 15, "slow connections left descriptors")
    wait_for(lambda: tmp_empty(server), 10, "trickled bodies left temporary files")
    assert all(head(server, key, f"trickle-{i}") == 404 for i in range(0, 100, 7))


# ---------------------------------------------------------------- idle request bodies

BODY_IDLE = 2.0  # NEXQ_BODY_IDLE_SECONDS of the `quick` server (the default is 20 s, as S3)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Key]]:
    """A server whose request bodies time out after :data:`BODY_IDLE` seconds without a byte."""
    server = LiveServer(
        tmp_path_factory.mktemp("quick") / "data",
        env={"NEXQ_BODY_IDLE_SECONDS": str(BODY_IDLE)},
    )
    server.data_dir.mkdir()
    server.start()
    try:
        key = account_key(server, "quick@example.com")
        server.client(key).create_bucket(Bucket=BUCKET)
        yield server, key
    finally:
        server.stop()


def until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            break
        except TimeoutError:
            raise AssertionError(f"the connection stayed open for {timeout} s") from None
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - started


def no_traceback(server: LiveServer) -> None:
    log = (server.data_dir.parent / f"server-{server.s3_port}.log").read_text()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]


@pytest.mark.parametrize(
    "case,declared,sent",
    [
        ("signed-large", 4 * MiB, 2 * MiB),  # streamed into a temporary file after auth
        ("anonymous-small", 1000, 500),  # read whole before anything else
        ("anonymous-nothing", 1000, 0),  # the head, then not one byte
        ("create-bucket", 100, 0),  # CreateBucket must not create a bucket it never heard
    ],
)
def test_stalled_body_gets_request_timeout(
    quick: tuple[LiveServer, Key], case: str, declared: int, sent: int
) -> None:
    server, key = quick
    if case == "create-bucket":
        path = "/stalled-bucket"
        headers = signed_headers(key, "PUT", path.encode(), b"", host(server), UNSIGNED)
        headers["content-length"] = str(declared)
        request = build("PUT", path, headers.items(), content_length=False)
    else:
        path = f"/{BUCKET}/stalled-{case}"
        request = put_head(server, key, f"stalled-{case}", declared, signed=case.startswith("s"))
    with socket.create_connection(("127.0.0.1", server.s3_port)) as sock:
        sock.sendall(request + os.urandom(sent))
        data, waited = until_closed(sock, BODY_IDLE + 10)
    answer = parse_response(data)
    assert answer is not None, "the connection was closed without an answer"
    assert answer.status == 400, answer
    assert b"<Code>RequestTimeout</Code>" in answer.body, answer.body
    assert answer.headers.get("connection") == "close"
    assert answer.headers.get("x-amz-request-id")
    # Idle means no byte for the deadline: not sooner (a little slack for the clocks).
    assert BODY_IDLE * 0.75 <= waited < BODY_IDLE + 5, f"answered after {waited:.2f} s"
    wait_for(lambda: tmp_empty(server), 10, "the stalled upload's temporary file stayed")
    assert signed_request(server, key, "HEAD", path).status == 404
    no_traceback(server)


def test_steady_trickle_outlasting_the_deadline_succeeds(quick: tuple[LiveServer, Key]) -> None:
    """Idle is what times out, not slow: a chunk every half second for five seconds is fine."""
    server, key = quick
    body = os.urandom(10 * 128 * 1024)  # over a MiB: streamed, not read whole first
    path = f"/{BUCKET}/trickled"
    headers = signed_headers(
        key, "PUT", path.encode(), b"", host(server), hashlib.sha256(body).hexdigest()
    )
    headers["content-length"] = str(len(body))
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.s3_port), timeout=30) as sock:
        sock.sendall(build("PUT", path, headers.items(), content_length=False))
        for offset in range(0, len(body), 128 * 1024):
            time.sleep(BODY_IDLE / 4)
            sock.sendall(body[offset : offset + 128 * 1024])
        answer = parse_response(sock.recv(65536))
    assert time.monotonic() - started > 2 * BODY_IDLE
    assert answer is not None and answer.status == 200, answer
    assert signed_request(server, key, "GET", path).body == body
    no_traceback(server)


def test_stalled_api_body_times_out(quick: tuple[LiveServer, Key]) -> None:
    """The control plane's listener has the same deadline, answered as a 408 problem."""
    server, _ = quick
    request = (
        f"POST /v1/login HTTP/1.1\r\nHost: 127.0.0.1:{server.api_port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.api_port)) as sock:
        sock.sendall(request + b'{"email": ')
        data, waited = until_closed(sock, BODY_IDLE + 10)
    answer = parse_response(data)
    assert answer is not None and answer.status == 408, data
    assert answer.headers["content-type"] == "application/problem+json"
    assert json.loads(answer.body)["type"] == "urn:nexq:problem:request-timeout"
    assert BODY_IDLE * 0.75 <= waited < BODY_IDLE + 5, f"answered after {waited:.2f} s"
    no_traceback(server)


def test_stalled_console_upload_leaves_nothing(quick: tuple[LiveServer, Key]) -> None:
    """The console's upload (a streamed body into a temporary file) is timed out too."""
    server, key = quick

    def csrf(html: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, "the page has a CSRF field"
        return found.group(1)

    with httpx.Client(base_url=server.api_url, timeout=30) as browser:
        form = {"email": key.account, "password": "correct horse battery"}
        form["csrf_token"] = csrf(browser.get("/login").text)
        assert browser.post("/login", data=form).status_code == 303
        session = browser.cookies["nexq_session"]
        token = csrf(browser.get(f"/storage/buckets/{BUCKET}").text)
    request = (
        f"PUT /storage/buckets/{BUCKET}/object?key=console-stalled HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.api_port}\r\nCookie: nexq_session={session}\r\n"
        f"X-CSRF-Token: {token}\r\nContent-Length: {4 * MiB}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.api_port)) as sock:
        sock.sendall(request + os.urandom(MiB))
        data, _ = until_closed(sock, BODY_IDLE + 10)
    answer = parse_response(data)
    assert answer is not None and answer.status == 408, data
    wait_for(lambda: tmp_empty(server), 10, "the stalled upload's temporary file stayed")
    assert head(server, key, "console-stalled") == 404
    no_traceback(server)
