"""put4k_dirty: 4 KiB PUTs while another program's unsynced writes sit in the page cache.

A server that makes its writes durable with syncfs(2) writes back every dirty page of the
whole file system, including other programs' data, so its PUT latency then depends on what
else the machine wrote; fsync(2)/fdatasync(2) of its own files does not. This row shows
which: after the PUTs' untimed warm-up, a separate process (not the server, not this one)
writes ``dirty_mib`` MiB to a file in the directory that holds the server's data directory
(the same file system), without fsync, and exits; the timed PUTs start when it has, with
those pages still dirty. The file is removed afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from workloads import Client, MiB, Params, Result, small_put

# Run as ``python -c WRITER PATH MIB``: random bytes (nothing can compress them away),
# written with plain write(2) calls and closed without fsync.
WRITER = """\
import os, sys
block = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        f.write(block)
"""


def dirty_mib() -> float:
    """The machine's dirty page cache (``Dirty:`` of /proc/meminfo), in MiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Dirty:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_dirty(path: Path, mib: int) -> dict[str, float]:
    """Write ``mib`` MiB to ``path`` from another process, without fsync; return figures."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), str(mib)],
        capture_output=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0 or path.stat().st_size != mib * MiB:
        err = out.stderr.decode("utf-8", "replace").strip()[-300:]
        raise RuntimeError(f"writing {mib} MiB to {path} failed (rc={out.returncode}): {err}")
    return {"dirty_write_s": time.perf_counter() - t0, "dirty_mib_at_start": dirty_mib()}


def put4k_dirty(client: Client, p: Params, parent: Path) -> Result:
    """The 4 KiB PUT workload to keys ``dirty/NNNNNN`` after ``write_dirty`` in ``parent``."""
    path = parent / f"dirty-{p.dirty_mib}MiB.bin"
    try:
        r = small_put(
            client, p, prefix="dirty", before_timed=lambda: write_dirty(path, p.dirty_mib)
        )
        r.extra["dirty_mib_at_end"] = dirty_mib()
    finally:
        path.unlink(missing_ok=True)
    return r
