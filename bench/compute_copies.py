"""Compute's snapshot and backup throughput beside `qemu-img convert` alone, in one run here.

One nano instance (tiny image, 1 GiB disk) of a live `nexq serve` is launched, stopped, and
its disk replaced by one holding N MiB (`--mib`) of random bytes and zeros up to 1 GiB: an
ext2 file system made on the host (`mke2fs -d`) around a file of os.urandom bytes, so the
guest mounts it on the next boot instead of formatting it; half incompressible data, half
empty, like a real disk. Then, each round:

- Nexq, instance stopped: the seconds from `POST …/snapshots` to the snapshot `Available`
  (GET polled every 0.05 s), the same for a backup (exported, then kept in Nexq's own
  Object Storage); each is deleted (until 404) before the next.
- The peer, same disk: `qemu-img convert -c -O qcow2 -o compression_type=zstd disk.qcow2
  out.qcow2` alone, the export Nexq does; for the backup that plus `cp` of its output,
  the floor of "export, then store the bytes once more". Nexq also fsyncs its export (and
  Object Storage its blobs, which it seals): the peer's fsync is timed apart and reported,
  not added.
- The instance started (guest booted, its /data the disk's file system): a snapshot of the
  running guest through Nexq (QMP pause and internal snapshot, export beside the running
  guest), and as its peer `qemu-img convert -U -c` of the running disk; then stopped again.

Throughput is N MiB (the disk's random data; the file system's own metadata is a few MiB
more, reported) over the median seconds. Nexq's copier runs once a second, so a copy waits
up to 1 s for its next pass: that wait is part of Nexq's figure.

    .venv/bin/python bench/compute_copies.py [--rounds 3] [--mib 256] [--out FILE.md]

About a minute per round with 256 MiB (TCG: a boot and a stop each round), plus setup.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.api.conftest import api  # noqa: E402
from tests.compute.keys import keygen, ssh_answer  # noqa: E402
from tests.live import LiveServer  # noqa: E402

MIB = 2**20
DISK_MIB = 1024  # the nano size's disk
POLL = 0.05
DEADLINE = 600.0  # seconds any awaited state may take before the bench gives up


# The export Nexq runs (src/nexq/compute/qemu/disk_copies.py): compressed qcow2, zstd.
ZSTD = ("-c", "-O", "qcow2", "-o", "compression_type=zstd")


def wait_for(what: str, check: Callable[[], bool]) -> None:
    """Poll ``check`` every POLL seconds until it holds (RuntimeError after DEADLINE)."""
    ends = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > ends:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(POLL)


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=DEADLINE)


def timed(*command: str) -> float:
    began = time.perf_counter()
    run(*command)
    return time.perf_counter() - began


def fsync_seconds(path: Path) -> float:
    began = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - began


def read_through(path: Path) -> None:
    with path.open("rb", buffering=0) as source:
        while source.read(MIB):
            pass


def allocated_mib(disk: Path) -> float:
    """The guest-visible bytes the qcow2 file holds data for (not zero, not unallocated)."""
    done = subprocess.run(
        ["qemu-img", "map", "-U", "--output=json", str(disk)],
        check=True,
        capture_output=True,
        text=True,
    )
    extents: list[dict[str, Any]] = json.loads(done.stdout)
    return float(sum(e["length"] for e in extents if e["data"] and not e["zero"])) / MIB


def make_disk(work: Path, mib: int, disk: Path) -> None:
    """Replace the stopped instance's ``disk`` with a 1 GiB qcow2 holding ``mib`` MiB of
    random bytes in one file of an ext2 file system, and zeros (unallocated) after."""
    tree = work / "tree"
    tree.mkdir()
    with (tree / "fill").open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MIB))
    raw = work / "disk.raw"
    with raw.open("wb") as out:
        out.truncate(DISK_MIB * MIB)
    run("mke2fs", "-q", "-F", "-t", "ext2", "-d", str(tree), str(raw))
    partial = disk.with_name(f".{disk.name}.bench")
    run("qemu-img", "convert", "-O", "qcow2", str(raw), str(partial))
    partial.rename(disk)
    raw.unlink()
    shutil.rmtree(tree)


class Copies:
    """Takes and deletes an instance's snapshots and backups through the REST API."""

    def __init__(self, client: httpx.Client, instance: str) -> None:
        self.client = client
        self.instance = instance

    def take(self, kind: str, name: str) -> tuple[float, int]:
        """Seconds from the request to Available, and the copy's size in bytes."""
        began = time.perf_counter()
        made = self.client.post(
            f"/v1/compute/instances/{self.instance}/{kind}", json={"name": name}
        )
        made.raise_for_status()
        while (copy := self.client.get(f"/v1/compute/{kind}/{name}").json())["status"] != (
            "Available"
        ):
            if copy["status"] == "Error":
                raise RuntimeError(f"{kind} {name} failed: {copy['reason']}")
            time.sleep(POLL)
        seconds = time.perf_counter() - began
        self.client.delete(f"/v1/compute/{kind}/{name}").raise_for_status()
        wait_for(
            f"{kind} {name} deleted",
            lambda: self.client.get(f"/v1/compute/{kind}/{name}").status_code == 404,
        )
        return seconds, int(copy["size_bytes"])


class Instance:
    def __init__(self, client: httpx.Client, name: str) -> None:
        self.client = client
        self.name = name

    def status_code(self) -> int:
        return self.client.get(f"/v1/compute/instances/{self.name}").status_code

    def get(self) -> dict[str, Any]:
        found = self.client.get(f"/v1/compute/instances/{self.name}")
        found.raise_for_status()
        body: dict[str, Any] = found.json()
        return body

    def become(self, action: str, status: str) -> None:
        self.client.post(f"/v1/compute/instances/{self.name}/{action}").raise_for_status()
        wait_for(f"{self.name} {status}", lambda: self.get()["status"] == status)


def bench(work: Path, rounds: int, mib: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    pair = keygen(work / "keys", "ed25519")
    live = LiveServer(work / "nexq")
    live.start()
    figures: dict[str, list[float]] = {}
    facts: dict[str, float] = {}

    def note(**values: float) -> None:
        for key, value in values.items():
            figures.setdefault(key, []).append(value)

    try:
        email = live.account("bench-copies@example.com")
        live.raise_limits(email, api_rps=1000, instances=10, snapshots=100, backups=100)
        with api(live, live.api_key(email)) as client:
            key = {"name": "bench", "public_key": pair.public_text}
            client.post("/v1/compute/ssh-keys", json=key).raise_for_status()
            made = client.post("/v1/compute/instances", json={"name": "disk", "size": "nano"})
            made.raise_for_status()
            instance = Instance(client, "disk")
            wait_for("disk Running", lambda: instance.get()["ssh"] is not None)
            port = instance.get()["ssh"]["port"]
            ssh_answer(pair.private, port, "echo up", 120)
            instance.become("stop", "Stopped")

            disk = live.data_dir / "compute" / "instances" / made.json()["id"] / "disk.qcow2"
            make_disk(work, mib, disk)
            facts["allocated_mib"] = allocated_mib(disk)
            read_through(disk)  # into the page cache: no round reads it from the disk first
            copies = Copies(client, "disk")
            out, stored = work / "out.qcow2", work / "stored.qcow2"
            for n in range(rounds):
                seconds, size = copies.take("snapshots", f"s{n}")
                note(nexq_snapshot=seconds, nexq_snapshot_bytes=size)
                seconds, size = copies.take("backups", f"b{n}")
                note(nexq_backup=seconds, nexq_backup_bytes=size)

                convert = timed("qemu-img", "convert", *ZSTD, str(disk), str(out))
                sync = fsync_seconds(out)
                copy = timed("cp", str(out), str(stored))
                note(peer_convert=convert, peer_fsync=sync, peer_convert_cp=convert + copy)
                note(peer_bytes=out.stat().st_size)
                out.unlink()
                stored.unlink()

                instance.become("start", "Running")
                # Booted, and on the disk's own file system (not one formatted anew).
                listed = ssh_answer(pair.private, port, "ls -l /data/fill", 120)
                if str(mib * MIB) not in listed:
                    raise RuntimeError(f"the guest's /data is not the bench's disk: {listed}")
                seconds, size = copies.take("snapshots", f"r{n}")
                note(nexq_running=seconds, nexq_running_bytes=size)
                running = ("-U", *ZSTD, str(disk), str(out))
                note(peer_running=timed("qemu-img", "convert", *running))
                out.unlink()
                instance.become("stop", "Stopped")
                note(load=os.getloadavg()[0])
                print(n, {k: round(v[-1], 2) for k, v in figures.items()}, flush=True)
            facts["allocated_mib_after"] = allocated_mib(disk)
            client.delete("/v1/compute/instances/disk").raise_for_status()
            wait_for("disk deleted", lambda: instance.status_code() == 404)
    finally:
        live.stop()
    return figures, facts


def report(figures: dict[str, list[float]], facts: dict[str, float], rounds: int, mib: int) -> str:
    median = {k: statistics.median(v) for k, v in figures.items()}

    def cell(seconds: float) -> str:
        return f"{seconds:.2f} s, {mib / seconds:.0f} MiB/s"

    def row(what: str, ours: str, peer_what: str, peer: str) -> str:
        return (
            f"| {what} | {cell(median[ours])} | {peer_what}: {cell(median[peer])} "
            f"| {median[ours] / median[peer]:.2f}x |"
        )

    def spread(key: str) -> str:
        return f"{min(figures[key]):.2f} to {max(figures[key]):.2f} s"

    sizes = ", ".join(
        f"{label} {median[key] / MIB:.1f} MiB"
        for label, key in (
            ("Nexq's snapshot (stopped)", "nexq_snapshot_bytes"),
            ("its backup", "nexq_backup_bytes"),
            ("its snapshot of the running guest", "nexq_running_bytes"),
            ("`qemu-img convert -c`'s file", "peer_bytes"),
        )
    )
    lines = [
        f"# Compute: snapshot and backup throughput ({rounds} rounds, medians; {mib} MiB of "
        "data on a 1 GiB disk)",
        "",
        f"MiB/s are of the disk's {mib} MiB of random data; seconds are request → `Available` "
        "for Nexq (REST, polled every 0.05 s), the command's run for qemu-img. The ratio is of "
        "times (above 1: Nexq slower).",
        "",
        "| copy | Nexq (API → Available) | qemu-img alone | Nexq ÷ qemu-img |",
        "|---|---|---|---|",
        row("snapshot, instance stopped", "nexq_snapshot", "`convert -c`", "peer_convert"),
        row("backup, instance stopped", "nexq_backup", "`convert -c` + `cp`", "peer_convert_cp"),
        row("snapshot, guest running", "nexq_running", "`convert -U -c`", "peer_running"),
        "",
        f"Rounds' range: Nexq snapshot {spread('nexq_snapshot')}, backup "
        f"{spread('nexq_backup')}, running snapshot {spread('nexq_running')}; qemu-img "
        f"`convert -c` {spread('peer_convert')}, with `cp` {spread('peer_convert_cp')}, "
        f"running {spread('peer_running')}.",
        "",
        f"Compressed sizes (medians): {sizes}.",
        "",
        f"The disk held {facts['allocated_mib']:.1f} MiB of data (qemu-img map) before the "
        f"rounds, {facts['allocated_mib_after']:.1f} MiB after the guest's boots: {mib} MiB "
        "of random bytes (incompressible) in one file, the rest the ext2 file system's "
        "metadata, and zeros up to 1 GiB.",
        "",
        "- Nexq's copier makes a pass once a second: a copy waits up to 1 s (0.5 s on average) "
        "for the next pass after its request. That wait is in Nexq's figures.",
        "- Nexq's export fsyncs its file before renaming it; the peer's is not fsynced. An "
        f"fsync of `convert -c`'s output took {median['peer_fsync']:.2f} s (median), not in "
        "the peer's figure. A backup is also written to Object Storage (64 MiB parts, each "
        "blob sealed and fsynced) and its export removed; the peer's `cp` does none of that.",
        "- Everything is in the page cache (the disk is read once before the rounds), on "
        f"{os.cpu_count()} CPUs shared with the server; in the running case the idle guest "
        "(TCG) runs beside the export. The machine's 1-minute load average after each round: "
        f"{', '.join(f'{x:.1f}' for x in figures['load'])} (this bench alone makes about 1 "
        "to 2; more is other work on the machine, which slows both sides).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mib", type=int, default=256, help="MiB of random data on the disk")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not 0 < args.mib <= DISK_MIB - 64:
        parser.error(f"--mib must be between 1 and {DISK_MIB - 64} (the disk is 1 GiB)")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    with tempfile.TemporaryDirectory(prefix="nexq-bench-copies-") as folder:
        figures, facts = bench(Path(folder), args.rounds, args.mib)
    text = report(figures, facts, args.rounds, args.mib)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
