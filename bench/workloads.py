"""The benchmark workloads. Each returns a :class:`Result` and never raises for a
server-side failure: errors are recorded so that one failing workload does not
stop the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from httpc import AsyncConn, Response, SyncConn
from servers import CpuMeter, Endpoint, RssSampler, rss_kib, tree_pids
from sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, Signer, canonical_query, uri_encode_path

MiB = 1 << 20
BUCKET = "bench"
LIST_BUCKET = "bench-list"
_OK_PUT = (200, 201, 204)  # nginx WebDAV answers 201 (new) or 204 (replaced)

T = TypeVar("T")


@dataclass
class Result:
    value: float | None = None
    error: str | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class Params:
    small_n: int = 5000
    small_conc: int = 16
    small_cap_s: float = 90.0
    warmup: int = 200  # untimed requests before each small-op run
    list_keys: int = 10_000
    list_page: int = 1000
    list_conc: int = 4
    list_seconds: float = 15.0
    list_max_walks: int = 10_000
    big_bytes: int = 1024 * MiB
    mp_bytes: int = 512 * MiB
    mp_part: int = 16 * MiB
    mp_conc: int = 4
    unsigned: bool = False
    io_timeout: float = 300.0
    dirty_mib: int = 1024  # put4k_dirty: another program's unsynced writes before the PUTs


class Client:
    """Endpoint + signer: prepares signed (target, headers) pairs."""

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.hostport = f"{ep.host}:{ep.port}"
        self.signer = Signer(ep.access_key, ep.secret_key)

    def prep(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        payload_hash: str = EMPTY_SHA256,
    ) -> tuple[str, list[tuple[str, str]]]:
        p = uri_encode_path(path)
        q = canonical_query(params) if params else ""
        headers = self.signer.sign(method, self.hostport, p, q, payload_hash)
        return (f"{p}?{q}" if q else p), headers


def describe(resp: Response) -> str:
    """A short description of an unexpected response (S3 error code and message)."""
    code = re.search(rb"<Code>(.*?)</Code>", resp.body)
    msg = re.search(rb"<Message>(.*?)</Message>", resp.body)
    parts = [f"HTTP {resp.status}"]
    if code:
        parts.append(code.group(1).decode("utf-8", "replace"))
    if msg:
        parts.append(msg.group(1).decode("utf-8", "replace")[:150])
    elif resp.body and not code:
        parts.append(resp.body[:200].decode("utf-8", "replace"))
    return " ".join(" ".join(parts).split())[:300]


def percentile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when available (cheaper per request), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# --------------------------------------------------------------------------- small ops

Req = tuple[str, str, list[tuple[str, str]], bytes]


@dataclass
class _Run:
    ok: int = 0
    connects: int = 0
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)


async def _drive(
    client: Client,
    n: int,
    conc: int,
    cap_s: float,
    make: Callable[[int], Req],
    check: Callable[[Response], str | None],
) -> _Run:
    """``n`` requests from ``conc`` keep-alive connections; stop early after ``cap_s``."""
    counter = itertools.count()
    run = _Run()
    max_errors = max(50, n // 10)
    deadline = time.perf_counter() + cap_s

    async def worker() -> None:
        conn = AsyncConn(client.ep.host, client.ep.port)
        try:
            while len(run.errors) <= max_errors:  # a clearly failing server: stop hammering
                i = next(counter)
                if i >= n or time.perf_counter() > deadline:
                    return
                method, target, headers, body = make(i)
                t0 = time.perf_counter()
                try:
                    resp = await conn.request(method, target, headers, body)
                except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                    run.errors.append(f"{method}: {e!r}"[:200])
                    conn.close()
                    continue
                run.lat.append(time.perf_counter() - t0)
                err = check(resp)
                if err is None:
                    run.ok += 1
                else:
                    run.errors.append(err)
        finally:
            run.connects += conn.connects
            conn.close()

    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(conc))), timeout=cap_s + 60)
    except TimeoutError:
        run.errors.append(f"stalled: requests still hanging {cap_s + 60:.0f}s after the start")
    run.elapsed = time.perf_counter() - t0
    return run


async def _ops(
    client: Client,
    n: int,
    conc: int,
    cap_s: float,
    make: Callable[[int], Req],
    check: Callable[[Response], str | None],
    warm_n: int = 0,
    warm_make: Callable[[int], Req] | None = None,
    before_timed: Callable[[], dict[str, float]] | None = None,
) -> Result:
    """Warm up (untimed, unchecked beyond errors), then the timed run of ``n`` requests.

    ``before_timed`` runs (blocking, untimed) between the two; its figures join ``extra``.
    """
    if warm_n:
        warm = await _drive(client, warm_n, conc, 30.0, warm_make or make, check)
        if warm.errors and not warm.ok:
            return Result(error=f"warm-up failed: {warm.errors[0]}")
    setup = before_timed() if before_timed is not None else {}
    with CpuMeter(client.ep.pid) as cpu:
        run = await _drive(client, n, conc, cap_s, make, check)
    run.lat.sort()
    done = run.ok + len(run.errors)
    res = Result(
        value=run.ok / run.elapsed if run.ok else None,
        extra={
            "ok": run.ok,
            "requests": done,
            "p50_ms": percentile(run.lat, 0.50) * 1e3,
            "p99_ms": percentile(run.lat, 0.99) * 1e3,
            "p999_ms": percentile(run.lat, 0.999) * 1e3,
            "max_ms": run.lat[-1] * 1e3 if run.lat else float("nan"),
            "connects": run.connects,
            **cpu.figures(max(done, 1)),
            "seconds": run.elapsed,
            **setup,
        },
    )
    if run.errors:
        msg = f"{len(run.errors)} of {done} failed; first: {run.errors[0]}"
        if run.ok:
            res.note = msg
        else:
            res.error = msg
    elif run.ok < n:
        res.note = f"time cap: {run.ok} of {n} requests in {run.elapsed:.0f}s"
    return res


def small_body() -> bytes:
    return _cached("small", lambda: os.urandom(4096))


_CACHE: dict[str, Any] = {}


def _cached(key: str, make: Callable[[], T]) -> T:
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]  # type: ignore[no-any-return]


def small_key(i: int, prefix: str = "small") -> str:
    return f"/{BUCKET}/{prefix}/{i:06d}"


def small_put(
    client: Client,
    p: Params,
    prefix: str = "small",
    before_timed: Callable[[], dict[str, float]] | None = None,
) -> Result:
    """``small_n`` PUTs of the 4 KiB body to distinct keys under ``prefix``/, after an
    untimed warm-up and then ``before_timed`` (see :func:`_ops`)."""
    body = small_body()
    ph = UNSIGNED_PAYLOAD if p.unsigned else hashlib.sha256(body).hexdigest()

    def make(i: int) -> Req:
        target, headers = client.prep("PUT", small_key(i, prefix), payload_hash=ph)
        return "PUT", target, headers, body

    def check(r: Response) -> str | None:
        return None if r.status in _OK_PUT else describe(r)

    def warm(i: int) -> Req:
        target, headers = client.prep("PUT", f"/{BUCKET}/warm/{i:06d}", payload_hash=ph)
        return "PUT", target, headers, body

    timed = _ops(
        client, p.small_n, p.small_conc, p.small_cap_s, make, check, p.warmup, warm, before_timed
    )
    return run_async(timed)


def small_get(client: Client, p: Params, n_keys: int) -> Result:
    body = small_body()

    def make(i: int) -> Req:
        target, headers = client.prep("GET", small_key(i % n_keys))
        return "GET", target, headers, b""

    def check(r: Response) -> str | None:
        if r.status != 200:
            return describe(r)
        if r.body != body:
            return f"GET returned {len(r.body)} bytes that differ from what was PUT"
        return None

    return run_async(_ops(client, p.small_n, p.small_conc, p.small_cap_s, make, check, p.warmup))


def small_head(client: Client, p: Params, n_keys: int) -> Result:
    def make(i: int) -> Req:
        target, headers = client.prep("HEAD", small_key(i % n_keys))
        return "HEAD", target, headers, b""

    def check(r: Response) -> str | None:
        if r.status != 200:
            return f"HTTP {r.status}"
        if r.headers.get("content-length") != "4096":
            return f"HEAD content-length {r.headers.get('content-length')!r}, expected 4096"
        return None

    return run_async(_ops(client, p.small_n, p.small_conc, p.small_cap_s, make, check, p.warmup))


# --------------------------------------------------------------------------- listing

_TOKEN = re.compile(rb"<NextContinuationToken>(.*?)</NextContinuationToken>", re.S)


def list_load(client: Client, p: Params) -> Result:
    """PUT ``list_keys`` 100-byte objects into the listing bucket, 16 at a time."""
    body = os.urandom(100)
    ph = UNSIGNED_PAYLOAD if p.unsigned else hashlib.sha256(body).hexdigest()

    def make(i: int) -> Req:
        target, headers = client.prep("PUT", f"/{LIST_BUCKET}/k/{i:05d}", payload_hash=ph)
        return "PUT", target, headers, body

    def check(r: Response) -> str | None:
        return None if r.status in _OK_PUT else describe(r)

    return run_async(_ops(client, p.list_keys, 16, 300.0, make, check))


async def _list_walk(client: Client, p: Params) -> Result:
    pages = 0
    walks = 0
    errors: list[str] = []
    lat: list[float] = []
    deadline = time.perf_counter() + p.list_seconds
    max_pages = p.list_keys // p.list_page + 2

    async def walker() -> None:
        nonlocal pages, walks
        conn = AsyncConn(client.ep.host, client.ep.port)
        try:
            while time.perf_counter() < deadline and walks < p.list_max_walks and not errors:
                token: str | None = None
                keys = 0
                for _ in range(max_pages):
                    params = [("list-type", "2"), ("max-keys", str(p.list_page))]
                    if token is not None:
                        params.append(("continuation-token", token))
                    target, headers = client.prep("GET", f"/{LIST_BUCKET}", params)
                    t0 = time.perf_counter()
                    r = await conn.request("GET", target, headers)
                    lat.append(time.perf_counter() - t0)
                    if r.status != 200:
                        errors.append(describe(r))
                        return
                    pages += 1
                    keys += r.body.count(b"<Key>")
                    if b"<IsTruncated>true</IsTruncated>" not in r.body:
                        break
                    m = _TOKEN.search(r.body)
                    if m is None:
                        errors.append("IsTruncated=true without NextContinuationToken")
                        return
                    token = html.unescape(m.group(1).decode())
                    if time.perf_counter() >= deadline:
                        return  # stop mid-walk: pages so far still count
                else:
                    errors.append(f"walk did not end after {max_pages} pages")
                    return
                if keys != p.list_keys:
                    errors.append(f"a full walk listed {keys} keys, expected {p.list_keys}")
                    return
                walks += 1
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            errors.append(f"GET list: {e!r}"[:200])
        finally:
            conn.close()

    with CpuMeter(client.ep.pid) as cpu:
        try:
            await asyncio.wait_for(
                asyncio.gather(*(walker() for _ in range(p.list_conc))),
                timeout=p.list_seconds + 120,
            )
        except TimeoutError:
            errors.append("stalled: a listing request hung for over 120 s")
    lat.sort()
    res = Result(
        value=pages / cpu.elapsed if pages else None,
        extra={
            "pages": pages,
            "full_walks": walks,
            "p50_ms": percentile(lat, 0.5) * 1e3,
            "p99_ms": percentile(lat, 0.99) * 1e3,
            **cpu.figures(max(pages, 1)),
        },
    )
    if errors:
        if pages and not errors[0].startswith(("a full walk", "IsTruncated", "walk did")):
            res.note = f"error after {pages} pages: {errors[0]}"
        else:
            res.value = None
            res.error = errors[0]
    return res


def list_pages(client: Client, p: Params) -> Result:
    return run_async(_list_walk(client, p))


# --------------------------------------------------------------------------- large objects


def _block() -> bytes:
    return _cached("block", lambda: os.urandom(MiB))


def _big_hash(size: int) -> str:
    def make() -> str:
        h = hashlib.sha256()
        block = _block()
        for _ in range(size // MiB):
            h.update(block)
        h.update(block[: size % MiB])
        return h.hexdigest()

    return _cached(f"bighash-{size}", make)


def _blocks(size: int) -> Any:
    block = _block()
    for _ in range(size // MiB):
        yield block
    if size % MiB:
        yield block[: size % MiB]


BIG_KEY = f"/{BUCKET}/big/object.bin"


def big_put(client: Client, p: Params) -> Result:
    """Single-stream PUT of ``big_bytes`` (1 MiB random block repeated), RSS sampled."""
    ph = UNSIGNED_PAYLOAD if p.unsigned else _big_hash(p.big_bytes)
    target, headers = client.prep("PUT", BIG_KEY, payload_hash=ph)
    conn = SyncConn(client.ep.host, client.ep.port, timeout=p.io_timeout)
    with RssSampler(client.ep.pid) as rss, CpuMeter(client.ep.pid) as cpu:
        try:
            r = conn.request(
                "PUT", target, headers, body_blocks=_blocks(p.big_bytes), body_length=p.big_bytes
            )
        except OSError as e:
            r = Response(0, body=f"PUT: {e!r}".encode())
        finally:
            conn.close()
    extra = {
        **cpu.figures(),
        "peak_rss_mib": rss.peak_mib,
        "rss_growth_mib": rss.growth_mib,
        "rss_samples": rss.samples,
    }
    if r.status not in _OK_PUT:
        return Result(error=describe(r) if r.status else r.body.decode()[:300], extra=extra)
    return Result(value=p.big_bytes / 1e6 / cpu.elapsed, extra=extra)


def big_get(client: Client, p: Params) -> Result:
    """Single-stream GET of the object written by :func:`big_put`, into a sink."""
    target, headers = client.prep("GET", BIG_KEY)
    conn = SyncConn(client.ep.host, client.ep.port, timeout=p.io_timeout)
    with RssSampler(client.ep.pid) as rss, CpuMeter(client.ep.pid) as cpu:
        try:
            r = conn.request("GET", target, headers, keep_body=False)
        except OSError as e:
            r = Response(0, body=f"GET: {e!r}".encode())
        finally:
            conn.close()
    extra = {
        **cpu.figures(),
        "peak_rss_mib": rss.peak_mib,
        "rss_growth_mib": rss.growth_mib,
        "rss_samples": rss.samples,
    }
    if r.status != 200:
        return Result(error=f"HTTP {r.status}" if r.status else r.body.decode()[:300], extra=extra)
    if r.nbytes != p.big_bytes:
        return Result(error=f"GET returned {r.nbytes} bytes, expected {p.big_bytes}", extra=extra)
    return Result(value=p.big_bytes / 1e6 / cpu.elapsed, extra=extra)


# --------------------------------------------------------------------------- multipart

_UPLOAD_ID = re.compile(rb"<UploadId>(.*?)</UploadId>", re.S)
MP_KEY = f"/{BUCKET}/multipart/object.bin"


def _multipart_upload(client: Client, p: Params, conn: SyncConn) -> None:
    """Create, upload the parts from ``mp_conc`` threads, complete. Raises on failure."""
    part = _cached(f"part-{p.mp_part}", lambda: _block() * (p.mp_part // MiB))
    part_hash = UNSIGNED_PAYLOAD if p.unsigned else hashlib.sha256(part).hexdigest()
    nparts = p.mp_bytes // p.mp_part
    host, port = client.ep.host, client.ep.port

    target, headers = client.prep("POST", MP_KEY, [("uploads", "")])
    r = conn.request("POST", target, headers, body=b"")
    m = _UPLOAD_ID.search(r.body)
    if r.status != 200 or m is None:
        raise RuntimeError(f"CreateMultipartUpload: {describe(r)}")
    upload_id = html.unescape(m.group(1).decode())

    lock = threading.Lock()
    todo = iter(range(1, nparts + 1))
    etags: dict[int, str] = {}

    def upload_parts() -> None:
        c = SyncConn(host, port, timeout=p.io_timeout)
        try:
            while True:
                with lock:
                    n = next(todo, None)
                if n is None:
                    return
                params = [("partNumber", str(n)), ("uploadId", upload_id)]
                tgt, hdrs = client.prep("PUT", MP_KEY, params, part_hash)
                resp = c.request("PUT", tgt, hdrs, body=part)
                if resp.status != 200 or "etag" not in resp.headers:
                    raise RuntimeError(f"UploadPart {n}: {describe(resp)}")
                etags[n] = resp.headers["etag"]
        finally:
            c.close()

    with ThreadPoolExecutor(p.mp_conc) as pool:
        for fut in [pool.submit(upload_parts) for _ in range(p.mp_conc)]:
            fut.result()

    xml = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{html.escape(etags[n])}</ETag></Part>"
        for n in range(1, nparts + 1)
    )
    body = f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>".encode()
    target, headers = client.prep(
        "POST", MP_KEY, [("uploadId", upload_id)], hashlib.sha256(body).hexdigest()
    )
    r = conn.request("POST", target, headers, body=body)
    if r.status != 200 or b"<Error>" in r.body:
        raise RuntimeError(f"CompleteMultipartUpload: {describe(r)}")


def multipart(client: Client, p: Params) -> Result:
    """Multipart upload of ``mp_bytes`` in ``mp_part`` parts, ``mp_conc`` parts at a time."""
    total = p.mp_bytes // p.mp_part * p.mp_part
    conn = SyncConn(client.ep.host, client.ep.port, timeout=p.io_timeout)
    try:
        with CpuMeter(client.ep.pid) as cpu:
            _multipart_upload(client, p, conn)
        # Checked outside the timing: the object has the right size.
        target, headers = client.prep("HEAD", MP_KEY)
        h = conn.request("HEAD", target, headers)
        if h.status != 200 or h.headers.get("content-length") != str(total):
            return Result(
                error=f"HEAD after multipart: HTTP {h.status}, "
                f"content-length {h.headers.get('content-length')!r}, expected {total}"
            )
    except (OSError, RuntimeError) as e:
        return Result(error=str(e)[:300])
    finally:
        conn.close()
    return Result(value=total / 1e6 / cpu.elapsed, extra=cpu.figures())


def idle_rss(client: Client) -> Result:
    time.sleep(0.5)
    return Result(value=rss_kib(tree_pids(client.ep.pid)) / 1024)
