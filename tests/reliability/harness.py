"""What the reliability suites share: the long/short switch, raw HTTP, hand SigV4, /proc figures.

Everything here is independent of the server's code: requests are built byte by byte and
signed as AWS documents SigV4 (the derived key comes from ``tests.signing``), so a suite can
send what no SDK would and still reach the handlers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import os
import re
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

from tests.live import REGION, Key, LiveServer

# `NEXQ_RELIABILITY=long` (what `make soak` and `make fuzz` set) selects the long forms.
LONG = os.environ.get("NEXQ_RELIABILITY", "short").lower() == "long"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
_UNRESERVED = "-_.~"


def scale(short: int, long: int) -> int:
    """``short`` in CI, ``long`` in the long form (an environment variable may override)."""
    return long if LONG else short


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


# ------------------------------------------------------------------------------ SigV4


def amz_now(offset: float = 0.0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)).strftime("%Y%m%dT%H%M%SZ")


def derived_key(secret: str, day: str, region: str = REGION, service: str = "s3") -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_uri(raw_path: bytes) -> str:
    """AWS's canonical path of an S3 request: each segment decoded once, encoded again."""
    if not raw_path:
        return "/"
    return "/".join(quote(unquote_to_bytes(seg), safe=_UNRESERVED) for seg in raw_path.split(b"/"))


def canonical_query(raw_query: bytes, exclude_signature: bool = False) -> str:
    pairs = []
    for item in raw_query.split(b"&"):
        if not item:
            continue
        name, _, value = item.partition(b"=")
        n = quote(unquote_to_bytes(name), safe=_UNRESERVED)
        if exclude_signature and n == "X-Amz-Signature":
            continue
        pairs.append((n, quote(unquote_to_bytes(value), safe=_UNRESERVED)))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


@dataclass
class SignParts:
    """Every part of a request that SigV4 covers, so a test can change one after signing."""

    method: str
    path: bytes
    query: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # signed, lowercase names
    payload_hash: str = UNSIGNED
    amz_date: str = field(default_factory=amz_now)
    region: str = REGION
    service: str = "s3"

    def canonical(self) -> str:
        names = sorted(self.headers)
        lines = "".join(f"{n}:{' '.join(self.headers[n].split())}\n" for n in names)
        return "\n".join(
            [
                self.method,
                canonical_uri(self.path),
                canonical_query(self.query),
                lines,
                ";".join(names),
                self.payload_hash,
            ]
        )

    def scope(self) -> str:
        return f"{self.amz_date[:8]}/{self.region}/{self.service}/aws4_request"

    def signature(self, secret: str) -> str:
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                self.amz_date,
                self.scope(),
                hashlib.sha256(self.canonical().encode("utf-8", "surrogateescape")).hexdigest(),
            ]
        )
        key = derived_key(secret, self.amz_date[:8], self.region, self.service)
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    def authorization(self, key_id: str, secret: str) -> str:
        return (
            f"AWS4-HMAC-SHA256 Credential={key_id}/{self.scope()}, "
            f"SignedHeaders={';'.join(sorted(self.headers))}, Signature={self.signature(secret)}"
        )


def signed_headers(
    key: Key,
    method: str,
    path: bytes,
    query: bytes,
    host: str,
    payload_hash: str = UNSIGNED,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers of a header-signed request (host, x-amz-date, x-amz-content-sha256, extra)."""
    parts = SignParts(method, path, query, payload_hash=payload_hash)
    parts.headers = {
        "host": host,
        "x-amz-date": parts.amz_date,
        "x-amz-content-sha256": payload_hash,
        **{k.lower(): v for k, v in (extra or {}).items()},
    }
    headers = dict(parts.headers)
    headers["authorization"] = parts.authorization(key.access_key_id, key.secret_access_key)
    return headers


def presign(
    key: Key,
    method: str,
    path: str,
    host: str,
    expires: int = 600,
    amz_date: str | None = None,
) -> str:
    """A SigV4 presigned path+query (signed header: host) for ``path`` (already encoded)."""
    amz_date = amz_date or amz_now()
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{key.access_key_id}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
    parts = SignParts(method, path.encode(), query.encode(), {"host": host}, UNSIGNED, amz_date)
    return f"{path}?{query}&X-Amz-Signature={parts.signature(key.secret_access_key)}"


# --------------------------------------------------------------------------- raw HTTP


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def code(self) -> str:
        """The S3 error code of an XML error document, or ''."""
        match = re.search(rb"<Code>([^<]*)</Code>", self.body)
        return match.group(1).decode() if match else ""


def build(
    method: str | bytes,
    target: str | bytes,
    headers: Iterable[tuple[str | bytes, str | bytes]],
    body: bytes = b"",
    content_length: bool = True,
) -> bytes:
    """An HTTP/1.1 request, byte for byte as given (no validation whatsoever)."""

    def b(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")

    out = [b(method) + b" " + b(target) + b" HTTP/1.1\r\n"]
    out += [b(k) + b": " + b(v) + b"\r\n" for k, v in headers]
    if content_length:
        out.append(f"Content-Length: {len(body)}\r\n".encode())
    out.append(b"\r\n")
    return b"".join(out) + body


def parse_response(data: bytes, bodiless: bool = False) -> RawResponse | None:
    """The first final response in ``data`` (None if no whole head arrived; 1xx skipped)."""
    while data.startswith(b"HTTP/1.1 1") and b"\r\n\r\n" in data:
        data = data.partition(b"\r\n\r\n")[2]
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = headers.get("content-length")
    if bodiless or status in (204, 304):
        return RawResponse(status, headers, b"")
    body = rest[: int(length)] if length and length.isdigit() else rest
    return RawResponse(status, headers, body)


def exchange(port: int, request: bytes, timeout: float = 15.0) -> RawResponse | None:
    """Send one request on a fresh connection and read the answer (None: closed unanswered)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The server may answer early and close: then read what it said.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        data = b""
        bodiless = request.startswith(b"HEAD ")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(1 << 16)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            parsed = parse_response(data, bodiless)
            if parsed is not None:
                length = parsed.headers.get("content-length")
                if (
                    bodiless
                    or parsed.status in (204, 304)
                    or (length is not None and length.isdigit() and len(parsed.body) >= int(length))
                ):
                    return parsed
        else:
            raise TimeoutError(f"no complete answer within {timeout} s")
        return parse_response(data, bodiless)


def signed_request(
    server: LiveServer,
    key: Key,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    sign_payload: bool = True,
) -> RawResponse:
    """A header-signed request sent on a fresh connection."""
    host = f"127.0.0.1:{server.s3_port}"
    payload = hashlib.sha256(body).hexdigest() if sign_payload else UNSIGNED
    all_headers = signed_headers(
        key, method, path.encode(), query.encode(), host, payload, headers or {}
    )
    target = path + (f"?{query}" if query else "")
    answer = exchange(server.s3_port, build(method, target, all_headers.items(), body))
    assert answer is not None, f"{method} {target}: connection closed without an answer"
    return answer


# ------------------------------------------------------------------------- /proc figures


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def open_fds(pids: Sequence[int], data_dir: Path | None = None) -> int:
    """Open descriptors of ``pids``; with ``data_dir``, only sockets and blob/tmp files.

    (Each worker thread keeps its own SQLite read connection, so the database's descriptors
    follow the size of the thread pool, not the traffic.)
    """
    total = 0
    for pid in pids:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        if data_dir is None:
            total += len(names)
            continue
        for name in names:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:") or target.startswith(
                (str(data_dir / "tmp"), str(data_dir / "blobs"))
            ):
                total += 1
    return total


def wait_for(condition: object, timeout: float, message: str, interval: float = 0.05) -> None:
    """Poll ``condition()`` until it is true; fail with ``message`` at the deadline."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"{message} (waited {timeout} s)")


def tree_snapshot(root: Path, skip: Iterable[Path] = ()) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (outside ``skip``) with its size and mtime."""
    skipped = [p.resolve() for p in skip]
    out: dict[str, tuple[int, int]] = {}
    for path in root.rglob("*"):
        resolved = path.resolve()
        if any(resolved == s or s in resolved.parents for s in skipped):
            continue
        if path.is_file():
            info = path.stat()
            out[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return out
