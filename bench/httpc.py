"""Cheap HTTP/1.1 clients for the benchmark.

* :class:`AsyncConn` — one keep-alive connection over raw asyncio streams, for the
  small-request workloads (many concurrent tasks, each owning a connection). It
  costs a few tens of microseconds per request, far less than httpx or boto3, so
  the client does not steal the CPU the server under test needs.
* :class:`SyncConn` — one blocking socket, for large single-stream transfers and
  multipart parts: the body is sent with ``sendall`` from a reused buffer and a
  response body is received with ``recv_into`` into a reused buffer (a sink), so
  the client never holds more than one block in memory.

Both understand Content-Length, chunked responses, bodiless responses (HEAD,
204, 304) and ``Connection: close`` (moto closes after every response).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

_BODYLESS = (204, 304)


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    nbytes: int = 0  # body bytes received (for sinks, where body stays empty)


def _parse_head(raw: bytes) -> tuple[int, str, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    version, status = parts[0], int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return status, version, headers


def _must_close(version: str, headers: dict[str, str]) -> bool:
    conn = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return conn != "keep-alive"
    return conn == "close"


def build_head(
    method: str, target: str, host: str, headers: Iterable[tuple[str, str]], length: int | None
) -> bytes:
    out = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"]
    out.extend(f"{k}: {v}\r\n" for k, v in headers)
    if length is not None:
        out.append(f"Content-Length: {length}\r\n")
    out.append("\r\n")
    return "".join(out).encode("latin-1")


class AsyncConn:
    """A single keep-alive HTTP/1.1 connection driven by asyncio streams."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.hostport = f"{host}:{port}"
        self._r: asyncio.StreamReader | None = None
        self._w: asyncio.StreamWriter | None = None
        self.connects = 0

    async def _connect(self) -> None:
        # Connect by address (no getaddrinfo round trip through a thread pool):
        # moto closes every connection, so this runs once per request there.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
        except BaseException:
            sock.close()
            raise
        self._r, self._w = await asyncio.open_connection(sock=sock, limit=1 << 20)
        self.connects += 1

    def close(self) -> None:
        if self._w is not None:
            self._w.close()
        self._r = self._w = None

    async def request(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes = b"",
        keep_body: bool = True,
    ) -> Response:
        length = len(body) if body or method in ("PUT", "POST") else None
        head = build_head(method, target, self.hostport, headers, length)
        for attempt in (0, 1):
            fresh = self._w is None
            if fresh:
                await self._connect()
            assert self._r is not None and self._w is not None
            try:
                self._w.write(head + body if len(body) < 65536 else head)
                if len(body) >= 65536:
                    self._w.write(body)
                if self._w.transport.get_write_buffer_size() > 1 << 20:
                    await self._w.drain()
                return await self._read_response(method, keep_body)
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                self.close()
                # A reused keep-alive connection may have been closed by the
                # server just before we wrote: retry once on a fresh one.
                if fresh or attempt == 1:
                    raise ConnectionError(f"{method} {target}: {e!r}") from e
        raise AssertionError("unreachable")

    async def _read_response(self, method: str, keep_body: bool) -> Response:
        r = self._r
        assert r is not None
        while True:
            raw = await r.readuntil(b"\r\n\r\n")
            status, version, headers = _parse_head(raw)
            if status >= 200 or status == 101:
                break  # skip 1xx interim responses
        chunks: list[bytes] = []
        n = 0
        if method == "HEAD" or status in _BODYLESS:
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await r.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await r.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                data = await r.readexactly(size + 2)
                n += size
                if keep_body:
                    chunks.append(data[:-2])
        elif "content-length" in headers:
            length = int(headers["content-length"])
            while n < length:
                data = await r.read(min(length - n, 1 << 20))
                if not data:
                    raise asyncio.IncompleteReadError(b"", length - n)
                n += len(data)
                if keep_body:
                    chunks.append(data)
        else:
            while data := await r.read(1 << 20):
                n += len(data)
                if keep_body:
                    chunks.append(data)
            headers["connection"] = "close"
        if _must_close(version, headers):
            self.close()
        return Response(status, headers, b"".join(chunks), n)


class SyncConn:
    """A blocking HTTP/1.1 connection for large bodies (streamed in, sunk out)."""

    def __init__(self, host: str, port: int, timeout: float = 600.0) -> None:
        self.host = host
        self.port = port
        self.hostport = f"{host}:{port}"
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._sink = bytearray(1 << 20)

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buf = bytearray()
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def request(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | memoryview | None = None,
        body_blocks: Iterable[bytes | memoryview] | None = None,
        body_length: int | None = None,
        keep_body: bool = True,
    ) -> Response:
        """Send a request. Give ``body`` or ``body_blocks`` + ``body_length``."""
        if body is not None:
            body_length = len(body)
        elif body_blocks is None:
            body_length = 0 if method in ("PUT", "POST") else None
        head = build_head(method, target, self.hostport, headers, body_length)
        sock = self._sock or self._connect()
        try:
            sock.sendall(head)
            if body is not None:
                sock.sendall(body)
            elif body_blocks is not None:
                for block in body_blocks:
                    sock.sendall(block)
        except (BrokenPipeError, ConnectionResetError):
            # The server may have answered early (an error) and closed: read it.
            pass
        try:
            return self._read_response(method, keep_body)
        except Exception:
            self.close()
            raise

    def _fill(self) -> None:
        assert self._sock is not None
        data = self._sock.recv(1 << 20)
        if not data:
            raise ConnectionError("connection closed by server")
        self._buf += data

    def _readuntil(self, sep: bytes) -> bytes:
        while (i := self._buf.find(sep)) < 0:
            self._fill()
        out = bytes(self._buf[: i + len(sep)])
        del self._buf[: i + len(sep)]
        return out

    def _read_n(self, length: int, keep: bool) -> tuple[int, list[bytes]]:
        """Read exactly ``length`` body bytes; keep them or sink them."""
        assert self._sock is not None
        chunks: list[bytes] = []
        take = min(length, len(self._buf))
        if keep:
            chunks.append(bytes(self._buf[:take]))
        del self._buf[:take]
        n = take
        view = memoryview(self._sink)
        while n < length:
            want = min(length - n, len(self._sink))
            got = self._sock.recv_into(view[:want])
            if got == 0:
                raise ConnectionError(f"connection closed after {n} of {length} body bytes")
            if keep:
                chunks.append(bytes(view[:got]))
            n += got
        return n, chunks

    def _read_response(self, method: str, keep_body: bool) -> Response:
        while True:
            status, version, headers = _parse_head(self._readuntil(b"\r\n\r\n"))
            if status >= 200:
                break
        n = 0
        chunks: list[bytes] = []
        if method == "HEAD" or status in _BODYLESS:
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._readuntil(b"\r\n").split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self._readuntil(b"\r\n") != b"\r\n":
                        pass
                    break
                got, part = self._read_n(size, keep_body)
                n += got
                chunks.extend(part)
                self._readuntil(b"\r\n")
        elif "content-length" in headers:
            n, chunks = self._read_n(int(headers["content-length"]), keep_body)
        else:
            assert self._sock is not None
            if keep_body:
                chunks.append(bytes(self._buf))
            n = len(self._buf)
            self._buf = bytearray()
            while got := self._sock.recv_into(self._sink):
                n += got
                if keep_body:
                    chunks.append(bytes(self._sink[:got]))
            headers["connection"] = "close"
        if _must_close(version, headers):
            self.close()
        return Response(status, headers, b"".join(chunks), n)
