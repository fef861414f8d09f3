"""RadosBlobStore beside FileBlobStore on this machine: small blobs and one large blob.

    python bench/rados_blobs.py                     # starts a single-node cluster of its own
    python bench/rados_blobs.py --conf DIR/ceph.conf --id nexq   # an existing cluster
    python bench/rados_blobs.py --small-n 1000 --big-mib 64 --out bench/rados-results.json

Workloads, each through the BlobStore port exactly as Object Storage uses it:

- ``write 4k``: writer(), one 4 KiB write, commit(); blobs/s with 1 and 16 threads;
- ``read 4k``: read(path, 0, 4096) of those blobs; blobs/s with 1 and 16 threads;
- ``write big``: one blob of ``--big-mib`` MiB in 1 MiB writes; MB/s;
- ``read big``: that blob read whole in 1 MiB pieces; MB/s;
- ``RSS +``: how far this process's VmRSS rose above its level before ``write big`` during
  that write, during the read, and where it stood after the read (issue 16's target: under
  20 MiB for a 1 GiB transfer, back near rest after).

``--sealed`` adds each store again behind the seal Object Storage puts every blob through
(AES-256-GCM in 1 MiB chunks, a data key per blob: ``rados sealed``, ``file sealed``).

Stores: ``rados`` (acknowledged = durable on the OSD), ``file`` (what FileBlobStore does
alone: no sync; Nexq's group commit adds one syncfs per batch of writes) and
``file+fdatasync`` (each blob made durable before commit, the RADOS guarantee per blob).
The cluster is scripts/ceph-single-node's: one BlueStore OSD on a file of the same disk as
the file store's folder, so both write to the same device.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nexq.core.crypto import SecretBox, new_key  # noqa: E402
from nexq.core.data_keys import DataKeys, MemoryDataKeys  # noqa: E402
from nexq.storage.blobs.filesystem import FileBlobStore, FileBlobWriter  # noqa: E402
from nexq.storage.blobs.port import BlobStore  # noqa: E402
from nexq.storage.blobs.rados import RadosBlobStore  # noqa: E402
from nexq.storage.blobs.sealed import SealedBlobs  # noqa: E402

SMALL = 4096
PIECE = 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conf", help="an existing cluster's ceph.conf (default: start one)")
    parser.add_argument("--id", default="nexq", help="cephx user (without client.)")
    parser.add_argument("--pool", default="nexq")
    parser.add_argument("--small-n", type=int, default=2000, help="4 KiB blobs per run")
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--threads", default="1,16")
    parser.add_argument("--tmp", default=None, help="where the file store and cluster go")
    parser.add_argument("--out", help="also write the figures as JSON")
    parser.add_argument(
        "--sealed", action="store_true", help="also each store behind the seal (SSE-S3)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nexq-bench-rados-", dir=args.tmp))
    cluster = None
    try:
        conf = args.conf
        if conf is None:
            cluster = work / "ceph"
            began = time.monotonic()
            conf = subprocess.run(
                [str(ROOT / "scripts" / "ceph-single-node"), "start", str(cluster)],
                check=True, capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            print(f"cluster ready in {time.monotonic() - began:.1f} s ({conf})", file=sys.stderr)
        namespace = f"bench{os.getpid()}"
        stores: dict[str, Callable[[], BlobStore]] = {
            "rados": lambda: RadosBlobStore(
                args.pool, conf=conf, client_id=args.id, namespace=namespace
            ),
            "file": lambda: FileBlobStore(work / "files"),
            "file+fdatasync": lambda: SyncedFileStore(work / "synced"),
        }
        if args.sealed:
            stores["rados sealed"] = lambda: _sealed(stores["rados"]())
            stores["file sealed"] = lambda: _sealed(FileBlobStore(work / "sealed-files"))
        threads = [int(t) for t in args.threads.split(",")]
        results: dict[str, dict[str, float]] = {}
        for name, make in stores.items():
            store = make()
            results[name] = run(store, args.small_n, args.big_mib, threads)
            close = getattr(getattr(store, "raw", store), "close", None)
            if close is not None:
                store.recover(set())
                close()
        print(table(results, threads, args.big_mib))
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if cluster is not None:
            subprocess.run([str(ROOT / "scripts" / "ceph-single-node"), "kill", str(cluster)])
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _sealed(raw: BlobStore) -> BlobStore:
    """``raw`` behind the seal, as app.py puts every store (a master key of its own)."""
    return SealedBlobs(raw, DataKeys(SecretBox(new_key()), MemoryDataKeys()))


class SyncedFileStore(FileBlobStore):
    """FileBlobStore that makes each blob durable before its commit."""

    def writer(self) -> FileBlobWriter:
        writer = super().writer()
        commit = writer.commit

        def synced_commit() -> str:
            os.fdatasync(writer.fd)
            return commit()

        writer.commit = synced_commit  # type: ignore[method-assign]
        return writer


def run(store: BlobStore, small_n: int, big_mib: int, threads: list[int]) -> dict[str, float]:
    figures: dict[str, float] = {}
    payload = os.urandom(SMALL)
    for count in threads:
        paths: list[str] = []
        lock = threading.Lock()

        def put(n: int, paths: list[str] = paths, lock: threading.Lock = lock) -> None:
            mine = []
            for _ in range(n):
                writer = store.writer()
                writer.write(payload)
                mine.append(writer.commit())
            with lock:
                paths.extend(mine)

        figures[f"write 4k x{count}"] = small_n / timed(put, small_n, count)

        def get(n: int, paths: list[str] = paths) -> None:
            for path in paths[:n]:
                if len(b"".join(store.read(path, 0, SMALL, 65536))) != SMALL:
                    raise AssertionError("short read")

        figures[f"read 4k x{count}"] = small_n / timed(get, small_n, count)
        store.delete(paths)

    piece = os.urandom(PIECE)
    rest = rss_mib()
    began = time.perf_counter()
    with PeakRss() as peak:
        writer = store.writer()
        for _ in range(big_mib):
            writer.write(piece)
        path = writer.commit()
    figures["write big MB/s"] = big_mib * PIECE / (time.perf_counter() - began) / 1e6
    figures["write big RSS +"] = peak.mib - rest
    began = time.perf_counter()
    with PeakRss() as peak:
        total = sum(len(data) for data in store.read(path, 0, big_mib * PIECE, PIECE))
    assert total == big_mib * PIECE
    figures["read big MB/s"] = big_mib * PIECE / (time.perf_counter() - began) / 1e6
    figures["read big RSS +"] = peak.mib - rest
    figures["after read RSS +"] = rss_mib() - rest
    store.delete([path])
    return figures


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """This process's highest VmRSS while the block runs, sampled every 10 ms."""

    def __init__(self) -> None:
        self.mib = rss_mib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.mib = max(self.mib, rss_mib())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.mib = max(self.mib, rss_mib())


def timed(work: Callable[[int], Any], total: int, count: int) -> float:
    """Seconds for ``count`` threads to do ``total`` operations between them."""
    share = [total // count + (1 if i < total % count else 0) for i in range(count)]
    workers = [threading.Thread(target=work, args=(n,)) for n in share]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began


def table(results: dict[str, dict[str, float]], threads: list[int], big_mib: int) -> str:
    rows = [
        *(f"write 4k x{t}" for t in threads),
        *(f"read 4k x{t}" for t in threads),
        "write big MB/s",
        "read big MB/s",
        "write big RSS +",
        "read big RSS +",
        "after read RSS +",
    ]
    names = list(results)
    lines = [
        "| workload | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for row in rows:
        label = row.replace("x", "blobs/s, threads: ") if "4k" in row else f"{row} ({big_mib} MiB)"
        if "RSS" in row:
            label = f"{row} MiB ({big_mib} MiB blob)"
        cells = [f"{results[name][row]:,.0f}" for name in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
