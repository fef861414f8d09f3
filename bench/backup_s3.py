"""How fast ``nexq admin backup --to s3://…`` uploads and ``nexq admin restore --from s3://…``
downloads a large blob file, against a second local Nexq as the bucket (issue 19).

    python bench/backup_s3.py [--mib 1024] [--rounds 3] [--before-src DIR] [--out FILE]

One installation holds one object of ``--mib`` MiB (random bytes); it is backed up once into
a bucket of a second Nexq, then restored from there ``--rounds`` times into a fresh data dir
by this tree's ``nexq`` (``--src``: another tree's, which then serves and backs up too) and,
with ``--before-src``, by another tree's (e.g. ``git archive <commit> src | tar -x -C
/tmp/before``), alternating so that drift of the machine weighs on both alike. A restore's
MB/s is the bytes it restored over its own ``seconds`` (download, SHA-256 check, flush; not
the interpreter's start, not fsck: no master key is given); its peak RSS is the kernel's
(wait4). The table shows the median of the rounds and the ratio new ÷ old.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import REPO, NexqServer, nexq_cmd, nexq_env, use_nexq_src

MB = 10**6
MiB = 2**20
BUCKET = "bench"
BACKUPS = "backups"
PREFIX = "bench/site-1"


def client(server: NexqServer) -> object:
    import boto3  # setup only
    from botocore.config import Config

    ep = server.endpoint
    assert ep is not None
    return boto3.client(
        "s3",
        endpoint_url=f"http://{ep.host}:{ep.port}",
        aws_access_key_id=ep.access_key,
        aws_secret_access_key=ep.secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def aws_env(keeper: NexqServer, src: Path) -> dict[str, str]:
    """``nexq`` of the tree ``src``, with the keeper's bucket as the AWS SDK's endpoint."""
    ep = keeper.endpoint
    assert ep is not None
    env = nexq_env()
    env["PYTHONPATH"] = str(src)
    env.update(
        AWS_ACCESS_KEY_ID=ep.access_key,
        AWS_SECRET_ACCESS_KEY=ep.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{ep.host}:{ep.port}",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    return env


def run_nexq(args: list[str], env: dict[str, str]) -> tuple[dict[str, object], dict[str, float]]:
    """Run ``nexq ARGS --json``: its report, and its peak RSS (MiB) and CPU seconds (user +
    system) from wait4."""
    proc = subprocess.Popen(
        [*nexq_cmd(), *args, "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"nexq {' '.join(args[:2])} rc={proc.returncode}: {err.decode()}")
    report = json.loads(out)
    return report, {
        "MB/s": float(report["bytes"]) / float(report["seconds"]) / MB,
        "peak RSS MiB": usage.ru_maxrss / 1024,  # KiB on Linux
        "CPU s": usage.ru_utime + usage.ru_stime,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024, help="size of the blob file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the tree measured")
    parser.add_argument("--before-src", type=Path, help="another tree's src/ to compare with")
    parser.add_argument("--tmp", help="where the data dirs go (on a disk, not tmpfs)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    trees = {"new": args.src.resolve()}
    use_nexq_src(trees["new"])
    if args.before_src is not None:
        trees = {"old": args.before_src.resolve(), **trees}
    started = time.time()
    source = NexqServer(args.tmp)
    keeper = NexqServer(args.tmp)
    try:
        source.start()
        keeper.start()
        blob = source.dir / "blob"
        with open(blob, "wb") as file:
            for _ in range(args.mib):
                file.write(os.urandom(MiB))
        s3 = client(source)
        s3.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
        s3.upload_file(str(blob), BUCKET, "big")  # type: ignore[attr-defined]
        blob.unlink()
        client(keeper).create_bucket(Bucket=BACKUPS)  # type: ignore[attr-defined]
        url = f"s3://{BACKUPS}/{PREFIX}"
        os.sync()
        made, up = run_nexq(
            ["admin", "backup", "--to", url, "--data-dir", str(source.data_dir)],
            aws_env(keeper, trees["new"]),
        )
        print(f"backup: {made['bytes']} bytes in {made['seconds']} s: {up}", flush=True)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for round_ in range(args.rounds):
            order = list(trees.items())
            if round_ % 2:
                order.reverse()
            for name, src in order:
                target = source.dir / f"restored-{name}-{round_}"
                os.sync()
                try:
                    _, down = run_nexq(
                        ["admin", "restore", "--from", url, "--data-dir", str(target)],
                        aws_env(keeper, src),
                    )
                finally:
                    shutil.rmtree(target, ignore_errors=True)
                runs[name].append(down)
                print(f"round {round_ + 1} {name}: {down}", flush=True)
    finally:
        source.stop()
        keeper.stop()
    compared = "old" in trees
    lines = [
        f"## nexq admin backup/restore through S3: one {args.mib} MiB blob file",
        "",
        f"- When: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; both Nexq servers and "
        "the CLI on the same machine",
        f"- backup (new): {up['MB/s']:.0f} MB/s up, peak RSS {up['peak RSS MiB']:.0f} MiB, "
        f"{up['CPU s']:.1f} CPU s",
        f"- restore: median of {args.rounds} rounds, a fresh data dir each; CPU s is the "
        "restoring process's (user + system), not the servers'",
        "",
        "| restore | " + " | ".join(trees) + (" | new ÷ old |" if compared else " |"),
        "|---" * (len(trees) + 1 + compared) + "|",
    ]
    for figure in ("MB/s", "peak RSS MiB", "CPU s"):
        median = {n: statistics.median(r[figure] for r in runs[n]) for n in trees}
        row = f"| {figure} | " + " | ".join(f"{median[n]:.1f}" for n in trees)
        if compared:
            row += f" | {median['new'] / median['old']:.2f}x"
        lines.append(row + " |")
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
