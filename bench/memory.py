"""A Nexq server's memory, per process: at rest, after a few small requests, and at its peak
during a large PUT and GET (issue 16: "a worker at rest under 80 MiB RSS; growth during a
1 GiB PUT or GET under 20 MiB").

    python bench/memory.py [--workers 2] [--big-mib 1024] [--nexq-src DIR] [--json FILE]

bench/run.py sums RSS over the whole process tree; this script gives each process its own
figures (the parent, and each worker named by what it serves), and besides VmRSS it reads
/proc/PID/smaps_rollup:

* RSS counts every page a process maps, including those a forked worker shares with the
  parent (and its siblings) until one of them writes to it: summed over the tree, a shared
  page counts once per process.
* USS (Private_Clean + Private_Dirty) is what the process alone holds: what would be freed
  if it exited, the honest cost of one more worker.
* PSS divides each shared page among the processes sharing it: the PSS of the tree sums to
  what the server really holds.

The peaks are sampled every ``--interval`` seconds (50 ms); "growth" is the peak less the
figure just before the transfer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import NexqServer, tree_pids, use_nexq_src
from workloads import BUCKET, Client, MiB, Params, big_get, big_put, small_get, small_put


@dataclass
class Memory:
    """One process's memory at one moment, in KiB."""

    rss: int = 0
    pss: int = 0
    uss: int = 0
    threads: int = 0

    def peak(self, other: Memory) -> Memory:
        return Memory(
            max(self.rss, other.rss),
            max(self.pss, other.pss),
            max(self.uss, other.uss),
            max(self.threads, other.threads),
        )


def read_memory(pid: int) -> Memory | None:
    """``pid``'s memory now (None if it is gone)."""
    found = Memory()
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    found.rss = int(line.split()[1])
                elif line.startswith(b"Threads:"):
                    found.threads = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    found.pss = int(line.split()[1])
                elif line.startswith((b"Private_Clean:", b"Private_Dirty:")):
                    found.uss += int(line.split()[1])
    except OSError:
        return None
    return found


def snapshot(pids: list[int]) -> dict[int, Memory]:
    return {pid: m for pid in pids if (m := read_memory(pid)) is not None}


@dataclass
class PeakSampler:
    """Each process's peak figures while the block runs, sampled every ``interval`` s."""

    pids: list[int]
    interval: float = 0.05
    peaks: dict[int, Memory] = field(default_factory=dict)
    samples: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-peaks", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid, now in snapshot(self.pids).items():
                self.peaks[pid] = self.peaks.get(pid, Memory()).peak(now)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _listening_inode(port: int) -> str | None:
    """The inode of the socket listening on ``port`` (IPv4), from /proc/net/tcp."""
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return fields[9]
    return None


def _holds_socket(pid: int, inode: str) -> bool:
    target = f"socket:[{inode}]"
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def roles(root: int, api_port: int) -> dict[int, str]:
    """The server's processes by role: the parent, the worker that serves the control
    plane (the one that kept the API socket open), the others."""
    pids = tree_pids(root)
    workers = sorted(pid for pid in pids if pid != root)
    if not workers:
        return {root: "single process (S3 + control plane)"}
    inode = _listening_inode(api_port)
    named = {root: "parent"}
    for index, pid in enumerate(workers):
        control = inode is not None and _holds_socket(pid, inode)
        named[pid] = f"worker {index} ({'S3 + control plane' if control else 'S3 only'})"
    return named


def _api_port(log: Path) -> int:
    found = re.search(r"Nexq control plane: \S+:(\d+)", log.read_text())
    if found is None:
        raise RuntimeError(f"no control plane port in {log}")
    return int(found.group(1))


def _small_requests(server: NexqServer, client: Client, api_port: int) -> None:
    """A few of each kind a worker serves: S3 PUT/GET, a console page, an API call."""
    params = Params(small_n=200, small_conc=4, warmup=20)
    put = small_put(client, params)
    get = small_get(client, params, params.small_n)
    for result in (put, get):
        if result.error:
            raise RuntimeError(result.error)
    for path in ("/login", "/v1/account", "/docs/storage"):
        # 401/404 are answers too: the page was routed and rendered.
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{api_port}{path}", timeout=10).read()


def measure(workers: int, big_mib: int, tmp: str | None, interval: float) -> dict[str, object]:
    server = NexqServer(tmp, workers=workers)
    try:
        endpoint = server.start()
        server.create_bucket(BUCKET)
        client = Client(endpoint)
        api_port = _api_port(server.log)
        time.sleep(3)  # start-up's own garbage settles; background jobs take their first turn
        named = roles(endpoint.pid, api_port)
        pids = list(named)
        stages: dict[str, dict[int, Memory]] = {"rest": snapshot(pids)}
        _small_requests(server, client, api_port)
        time.sleep(1)
        stages["after small requests"] = snapshot(pids)
        params = Params(big_bytes=big_mib * MiB)
        transfers: dict[str, object] = {}
        for name, run in (("PUT", big_put), ("GET", big_get)):
            before = snapshot(pids)
            with PeakSampler(pids, interval) as sampler:
                result = run(client, params)
            if result.error:
                raise RuntimeError(f"{name}: {result.error}")
            time.sleep(1)
            stages[f"{big_mib} MiB {name} peak"] = sampler.peaks
            stages[f"after {name}"] = snapshot(pids)
            transfers[name] = {
                "MB/s": round(result.value or 0, 1),
                "samples": sampler.samples,
                "growth_kib": {
                    pid: {
                        "rss": sampler.peaks[pid].rss - before[pid].rss,
                        "uss": sampler.peaks[pid].uss - before[pid].uss,
                    }
                    for pid in pids
                    if pid in sampler.peaks and pid in before
                },
            }
        return {"workers": workers, "roles": named, "stages": stages, "transfers": transfers}
    finally:
        server.stop()


def render(found: dict[str, object]) -> str:
    named: dict[int, str] = found["roles"]  # type: ignore[assignment]
    stages: dict[str, dict[int, Memory]] = found["stages"]  # type: ignore[assignment]
    transfers: dict[str, dict[str, object]] = found["transfers"]  # type: ignore[assignment]
    lines = [
        f"### Nexq, {found['workers']} worker(s): MiB per process (RSS / PSS / USS, threads)",
        "",
        "| stage | " + " | ".join(named.values()) + " | tree PSS |",
        "| --- | " + " | ".join("---" for _ in named) + " | --- |",
    ]
    for stage, figures in stages.items():
        cells = []
        for pid in named:
            m = figures.get(pid)
            cells.append(
                "gone"
                if m is None
                else f"{m.rss / 1024:.1f} / {m.pss / 1024:.1f} / {m.uss / 1024:.1f} ({m.threads})"
            )
        total = sum(m.pss for m in figures.values()) / 1024
        lines.append(f"| {stage} | " + " | ".join(cells) + f" | {total:.1f} |")
    lines.append("")
    for name, figures in transfers.items():
        growth: dict[int, dict[str, int]] = figures["growth_kib"]  # type: ignore[assignment]
        shown = ", ".join(
            f"{named[pid]}: RSS +{g['rss'] / 1024:.1f}, USS +{g['uss'] / 1024:.1f}"
            for pid, g in growth.items()
        )
        lines.append(
            f"- {name}: {figures['MB/s']} MB/s, {figures['samples']} samples; growth MiB: {shown}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workers", type=int, action="append", help="worker counts (default 2, 1)")
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--tmp", default=None, help="parent directory of the data dirs")
    ap.add_argument("--nexq-src", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    args = ap.parse_args()
    if args.nexq_src is not None:
        use_nexq_src(args.nexq_src)
    results = []
    for workers in args.workers or [2, 1]:
        found = measure(workers, args.big_mib, args.tmp or tempfile.gettempdir(), args.interval)
        print(render(found), flush=True)
        print(flush=True)
        results.append(found)
    if args.json is not None:

        def plain(value: object) -> object:
            return value.__dict__ if isinstance(value, Memory) else str(value)

        args.json.write_text(json.dumps(results, default=plain, indent=1))


if __name__ == "__main__":
    main()
