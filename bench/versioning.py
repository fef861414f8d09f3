"""What versioning costs: 4 KiB PUT / GET / HEAD on a never-versioned bucket and on a bucket
with versioning enabled, in one run, on the same Nexq build.

    python bench/versioning.py [--rounds 3] [--n 3000] [--out bench/versioning-results.md]

Each round starts a fresh server per configuration (plain, then versioned, alternating so
that drift of the machine hits both alike); the table shows each configuration's median
over the rounds and the ratio versioned ÷ plain (>1x: versioned is faster). Every
versioned PUT keeps the version it replaces, so the versioned PUT run also measures the
bucket growing; GET and HEAD read the latest versions.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import REPO, NexqServer
from workloads import BUCKET, Client, Params, small_get, small_head, small_put

WORKLOADS = ("put4k", "get4k", "head4k")


def enable_versioning(server: NexqServer) -> None:
    import boto3  # setup only
    from botocore.config import Config

    ep = server.endpoint
    assert ep is not None
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{ep.host}:{ep.port}",
        aws_access_key_id=ep.access_key,
        aws_secret_access_key=ep.secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"


def one_run(versioned: bool, p: Params) -> dict[str, float]:
    server = NexqServer(workers=2)
    try:
        ep = server.start()
        server.create_bucket(BUCKET)
        if versioned:
            enable_versioning(server)
        client = Client(ep)
        out: dict[str, float] = {}
        put = small_put(client, p)
        if put.value is None:
            raise RuntimeError(f"PUT failed: {put.error}")
        out["put4k"] = put.value
        n_keys = max(1, int(put.extra.get("requests", p.small_n)))
        for name, fn in (("get4k", small_get), ("head4k", small_head)):
            os.sync()
            r = fn(client, p, n_keys)
            if r.value is None:
                raise RuntimeError(f"{name} failed: {r.error}")
            out[name] = r.value
        # A second PUT pass over the same keys: in the versioned bucket every write now
        # keeps an older version (the case versioning is for).
        again = small_put(client, p)
        if again.value is None:
            raise RuntimeError(f"overwrite failed: {again.error}")
        out["overwrite4k"] = again.value
        return out
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "versioning-results.md")
    args = parser.parse_args()
    p = Params(small_n=args.n, warmup=100)
    runs: dict[str, list[dict[str, float]]] = {"plain": [], "versioned": []}
    started = time.time()
    for round_ in range(args.rounds):
        for label in ("plain", "versioned"):
            figures = one_run(label == "versioned", p)
            print(f"round {round_ + 1} {label}: {figures}", flush=True)
            runs[label].append(figures)
    names = (*WORKLOADS, "overwrite4k")
    lines = [
        "## Versioning's cost: 4 KiB requests, plain vs versioned bucket",
        "",
        f"- When: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, "
        f"{(time.time() - started) / 60:.1f} min; {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; client and server on the same machine",
        f"- Nexq with 2 workers (embedded: SQLite + files), {args.n} requests per workload at "
        f"c=16, {args.rounds} rounds alternating plain / versioned, a fresh server each run; "
        "median of the rounds",
        "- overwrite4k: a second PUT pass over the same keys (versioned: every write keeps "
        "the version it replaces)",
        "",
        "| Workload (ops/s) | plain | versioned | versioned ÷ plain |",
        "|---|---:|---:|---:|",
    ]
    for name in names:
        plain = statistics.median(r[name] for r in runs["plain"])
        versioned = statistics.median(r[name] for r in runs["versioned"])
        lines.append(f"| {name} | {plain:,.0f} | {versioned:,.0f} | {versioned / plain:.2f}x |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
