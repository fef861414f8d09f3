"""CPU per request of Nexq's S3 app alone: no sockets, no HTTP server, no client.

    python bench/app_cpu.py [--ops HEAD,GET,PUT] [--requests 2000] [--rounds 7]
    python bench/app_cpu.py --nexq-src /tmp/before/src     # the same, for another tree
    python bench/app_cpu.py --profile HEAD                  # cProfile of one operation
    python bench/app_cpu.py --ops PUT --concurrency 16      # PUTs sharing group commits
    python bench/app_cpu.py --unsealed                      # blobs plain: what sealing costs

The app is built as a worker builds it (``nexq.app.build``, ``nexq.planes.s3_app``, wrapped in
``web.observe.Observed`` when the tree has it, metrics counted unless ``--no-metrics``) on a
temporary data dir with one account and key, and called directly with ASGI scopes that a
real signer signed. The figure is the process's CPU time per request (all threads: the PUTs'
group commits included), the minimum and the median of ``--rounds`` rounds.

Why: on this 2-CPU machine the throughput of a small-request workload moves ±15 % between
runs with whatever else runs, while the app's CPU per request moves a few percent. It
compares two trees' request paths (``--nexq-src``) where ``run.py`` cannot tell them apart;
what the HTTP server and the kernel add is ``run.py``'s "server CPU per request" minus this.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import os
import pstats
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import servers
from sigv4 import EMPTY_SHA256, Signer

HOST = "127.0.0.1:9000"
OBJECTS = 50  # keys read in turn: every lookup hits SQLite's cache, as a hot set does


def _arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", default="HEAD,GET,PUT", help="operations, in order")
    ap.add_argument("--requests", type=int, default=2000, help="per round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once (PUTs then share group commits, as under load)",
    )
    ap.add_argument("--nexq-src", type=Path, help="run another tree's src/")
    ap.add_argument("--no-metrics", action="store_true", help="as NEXQ_METRICS=0")
    ap.add_argument("--profile", metavar="OP", help="print a cProfile of one round of OP")
    ap.add_argument("--tmp", default=None, help="parent of the data dir (a disk, not tmpfs)")
    ap.add_argument(
        "--unsealed",
        action="store_true",
        help="blobs written plain, as bench/encryption.py's baseline (sealing's cost per request)",
    )
    return ap.parse_args()


def _unseal(nexq_app: Any) -> None:
    """Build the app's blob layer without keys: it writes plain blobs (the one way to turn
    sealing off, as bench/encryption.py's baseline does it)."""
    from nexq.storage.blobs.sealed import SealedBlobs

    class Unsealed(SealedBlobs):
        def __init__(self, raw: Any, keys: Any) -> None:
            super().__init__(raw, None)

    nexq_app.SealedBlobs = Unsealed


class Harness:
    """The app of one worker on a fresh data dir, and signed scopes to call it with."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.server = servers.NexqServer(tmp_root=args.tmp, workers=1)
        self.server.data_dir.mkdir(exist_ok=True)
        access_key, secret_key = self.server._make_key()
        self.signer = Signer(access_key, secret_key)
        # Imported only now: --nexq-src has put the tree asked for first on the path.
        from nexq import app as nexq_app
        from nexq import planes
        from nexq.core.ratelimit import RateLimiter
        from nexq.settings import Settings

        if not args.no_metrics:
            try:
                from nexq.core import telemetry
            except ImportError:  # a tree from before metrics
                pass
            else:
                telemetry.enable()
        settings = Settings.from_env(data_dir=self.server.data_dir)
        if args.unsealed:
            _unseal(nexq_app)
        s3 = planes.s3_app(nexq_app.build(settings), RateLimiter(share=1))
        try:
            from nexq.web.observe import Observed
        except ImportError:  # a tree from before the access log and metrics
            self.app: Any = s3
        else:
            self.app = Observed(s3, "s3", False)

    def scope(self, method: str, path: str, payload: str, extra: list[tuple[bytes, bytes]]) -> Any:
        signed = self.signer.sign(method, HOST, path, "", payload)
        headers = [(k.lower().encode(), v.encode()) for k, v in signed] + extra
        if not any(k == b"host" for k, _ in headers):
            headers.append((b"host", HOST.encode()))
        return {
            "type": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "http_version": "1.1",
        }

    async def call(self, scope: Any, body: bytes = b"") -> int:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[Any] = []

        async def receive() -> Any:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the client stays: no disconnect

        async def send(message: Any) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        return int(sent[0]["status"])

    def close(self) -> None:
        shutil.rmtree(self.server.dir, ignore_errors=True)


async def _measure(h: Harness, args: argparse.Namespace) -> None:
    body = os.urandom(4096)
    body_hash = hashlib.sha256(body).hexdigest()
    length = [(b"content-length", b"4096")]
    assert await h.call(h.scope("PUT", "/bench", EMPTY_SHA256, [])) == 200
    for i in range(OBJECTS):
        assert await h.call(h.scope("PUT", f"/bench/k{i}", body_hash, length), body) == 200

    def requests(op: str) -> list[tuple[Any, bytes]]:
        if op == "PUT":
            return [
                (h.scope("PUT", f"/bench/p{i}", body_hash, length), body)
                for i in range(args.requests)
            ]
        return [
            (h.scope(op, f"/bench/k{i % OBJECTS}", EMPTY_SHA256, []), b"")
            for i in range(args.requests)
        ]

    for op in args.ops.split(","):
        for scope, data in requests(op)[:200]:  # warm: caches, the statement cache
            assert await h.call(scope, data) == 200
        rounds: list[float] = []
        for _ in range(args.rounds):
            batch = requests(op)  # signed now: the dates are this second's
            profile = cProfile.Profile() if args.profile == op and not rounds else None
            started = time.process_time()
            if profile is not None:
                profile.enable()
            step = args.concurrency
            for at in range(0, len(batch), step):
                await asyncio.gather(*(h.call(s, d) for s, d in batch[at : at + step]))
            if profile is not None:
                profile.disable()
            rounds.append(time.process_time() - started)
            if profile is not None:
                pstats.Stats(profile).sort_stats("tottime").print_stats(40)
        rounds.sort()
        per = [1e6 * r / args.requests for r in rounds]
        print(f"{op}: {per[0]:,.1f} µs min, {per[len(per) // 2]:,.1f} µs median per request")


def main() -> int:
    args = _arguments()
    if args.nexq_src is not None:
        servers.use_nexq_src(args.nexq_src)
    sys.path.insert(0, str(servers.SRC))
    h = Harness(args)
    try:
        asyncio.run(_measure(h, args))
    finally:
        h.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
