"""4 KiB PUT, GET and HEAD driven by boto3: the server as most users' programs reach it.

The raw-HTTP workloads (workloads.py) keep the client cheap so that the server is what is
measured; these keep the client as users run it. 16 threads, each with its own boto3 client
(made up front, one after the other, from one shared botocore session: a session is not
meant to build clients from several threads at once), path-style addressing,
``max_pool_connections=16``, and every other setting at boto3's defaults: retries (counted
from ``ResponseMetadata.RetryAttempts``), timeouts, and the checksums PutObject carries.
Over plain HTTP botocore sends that checksum (CRC32) as a header and signs the body's
SHA-256; the aws-chunked body with a trailing checksum is what it sends over HTTPS only.

Each workload makes ``warmup`` untimed requests, then ``small_n`` timed ones, and reports
successful ops/s, p50/p99 latency (one API call, body read included) and CPU per request.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from servers import CpuMeter, Endpoint
from workloads import BUCKET, Params, Result, percentile, small_body

THREADS = 16

# One API call on a client for request ``i``; returns the SDK's retry count for it and
# raises on a failed or wrong answer.
Op = Callable[[Any, int], int]


def boto_clients(ep: Endpoint, n: int = THREADS) -> list[Any]:
    import boto3
    import botocore.session
    from botocore.config import Config

    session = boto3.session.Session(botocore_session=botocore.session.get_session())
    config = Config(max_pool_connections=THREADS, s3={"addressing_style": "path"})
    return [
        session.client(
            "s3",
            endpoint_url=f"http://{ep.host}:{ep.port}",
            aws_access_key_id=ep.access_key,
            aws_secret_access_key=ep.secret_key,
            region_name="us-east-1",
            config=config,
        )
        for _ in range(n)
    ]


@dataclass
class _Tally:
    ok: int = 0
    retries: int = 0
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)


def _drive(clients: list[Any], n: int, cap_s: float, op: Op) -> _Tally:
    """``n`` calls of ``op`` spread over one thread per client; stop early after ``cap_s``."""
    tally = _Tally()
    lock = threading.Lock()
    counter = itertools.count()
    max_errors = max(50, n // 10)
    deadline = time.perf_counter() + cap_s

    def worker(client: Any) -> None:
        while len(tally.errors) <= max_errors:  # a clearly failing server: stop hammering
            with lock:
                i = next(counter)
            if i >= n or time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            try:
                retries = op(client, i)
            except Exception as e:  # the SDK's errors, or a wrong answer: recorded, go on
                with lock:
                    tally.errors.append(f"{type(e).__name__}: {e}"[:200])
                continue
            took = time.perf_counter() - t0
            with lock:
                tally.ok += 1
                tally.retries += retries
                tally.lat.append(took)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    # A call that hangs is bounded by botocore's own timeouts and retries; this bounds the run.
    stop_by = t0 + cap_s + 120
    for t in threads:
        t.join(timeout=max(0.0, stop_by - time.perf_counter()))
    tally.elapsed = time.perf_counter() - t0
    if any(t.is_alive() for t in threads):
        with lock:
            tally.errors.append(f"stalled: calls still hanging {cap_s + 120:.0f}s after the start")
    return tally


def _run(ep: Endpoint, p: Params, op: Op, warm_op: Op | None = None) -> Result:
    clients = boto_clients(ep)
    if p.warmup:
        warm = _drive(clients, p.warmup, 30.0, warm_op or op)
        if warm.errors and not warm.ok:
            return Result(error=f"warm-up failed: {warm.errors[0]}")
    with CpuMeter(ep.pid) as cpu:
        tally = _drive(clients, p.small_n, p.small_cap_s, op)
    lat = sorted(tally.lat)
    done = tally.ok + len(tally.errors)
    res = Result(
        value=tally.ok / tally.elapsed if tally.ok else None,
        extra={
            "ok": tally.ok,
            "requests": done,
            "p50_ms": percentile(lat, 0.50) * 1e3,
            "p99_ms": percentile(lat, 0.99) * 1e3,
            "retries": tally.retries,
            **cpu.figures(max(done, 1)),
            "seconds": tally.elapsed,
        },
    )
    if tally.errors:
        msg = f"{len(tally.errors)} of {done} failed; first: {tally.errors[0]}"
        if tally.ok:
            res.note = msg
        else:
            res.error = msg
    elif tally.ok < p.small_n:
        res.note = f"time cap: {tally.ok} of {p.small_n} requests in {tally.elapsed:.0f}s"
    return res


def boto_key(i: int) -> str:
    return f"boto/{i:06d}"


def _retries(resp: dict[str, Any]) -> int:
    return int(resp["ResponseMetadata"].get("RetryAttempts", 0))


def boto_put(ep: Endpoint, p: Params) -> Result:
    """PutObject of the 4 KiB body to distinct keys ``boto/NNNNNN``."""
    body = small_body()

    def put(client: Any, i: int) -> int:
        return _retries(client.put_object(Bucket=BUCKET, Key=boto_key(i), Body=body))

    def warm(client: Any, i: int) -> int:
        return _retries(client.put_object(Bucket=BUCKET, Key=f"boto-warm/{i:06d}", Body=body))

    return _run(ep, p, put, warm)


def boto_get(ep: Endpoint, p: Params, n_keys: int) -> Result:
    """GetObject over the keys :func:`boto_put` wrote; every body is compared."""
    body = small_body()

    def get(client: Any, i: int) -> int:
        resp = client.get_object(Bucket=BUCKET, Key=boto_key(i % n_keys))
        got = resp["Body"].read()
        if got != body:
            raise ValueError(f"GET returned {len(got)} bytes that differ from what was PUT")
        return _retries(resp)

    return _run(ep, p, get)


def boto_head(ep: Endpoint, p: Params, n_keys: int) -> Result:
    """HeadObject over the keys :func:`boto_put` wrote; the length is checked."""

    def head(client: Any, i: int) -> int:
        resp = client.head_object(Bucket=BUCKET, Key=boto_key(i % n_keys))
        if resp["ContentLength"] != len(small_body()):
            raise ValueError(f"HEAD ContentLength {resp['ContentLength']}, expected 4096")
        return _retries(resp)

    return _run(ep, p, head)
