"""The Container Registry side by side with Debian's docker-registry (the CNCF distribution,
the reference implementation), in one run: skopeo pushes and pulls a 1 GiB single-layer
image and an image of 200 small layers, and the servers' memory is sampled during the
1 GiB push.

    .venv/bin/python bench/registry.py [--rounds 2] [--out bench/registry-results.md]

Both servers on loopback, plain HTTP, with Basic or token logins as their clients do them;
Nexq with its default workers (one per core), every blob fsynced and sealed; the reference
registry on its filesystem driver (which fsyncs nothing). Each round pushes to new
repositories, so that no push finds its blobs there already.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.live import LiveServer  # noqa: E402
from tests.registry.clients import ReferenceRegistry, Skopeo  # noqa: E402
from tests.registry.images import (  # noqa: E402
    OCI_CONFIG,
    OCI_MANIFEST,
    Layout,
    canonical,
)

GIB = 1024**3
PIECE = 8 * 1024 * 1024
OCI_TAR = "application/vnd.oci.image.layer.v1.tar"


def big_image(directory: Path, size: int) -> Path:
    """An OCI layout of one uncompressed layer of ``size`` random bytes, written in pieces."""
    layout = Layout(directory)
    hasher = hashlib.sha256()
    partial = directory / "blobs" / "sha256" / "partial"
    with partial.open("wb") as out:
        left = size
        while left:
            piece = os.urandom(min(PIECE, left))
            hasher.update(piece)
            out.write(piece)
            left -= len(piece)
    digest = hasher.hexdigest()
    partial.rename(partial.with_name(digest))
    layer = {"mediaType": OCI_TAR, "digest": f"sha256:{digest}", "size": size}
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": layout.blob(canonical(config), OCI_CONFIG),
        "layers": [layer],
    }
    return layout.tag(layout.blob(canonical(manifest), OCI_MANIFEST), "latest")


def family(pids: list[int]) -> list[int]:
    """The processes and all their descendants (Nexq's workers are its children)."""
    found, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def layered_image(directory: Path, layers: int, salt: str) -> Path:
    """An image of ``layers`` small layers, each a file of its own, unlike any other
    round's."""
    layout = Layout(directory)
    files = [
        {f"layers/{i:04}.txt": (f"layer {i} of round {salt}\n".encode(), 0o644)}
        for i in range(layers)
    ]
    return layout.tag(layout.image(files, []), "latest")


def rss_of(pids: list[int]) -> int:
    total = 0
    for pid in family(pids):
        try:
            fields = Path(f"/proc/{pid}/statm").read_text().split()
        except OSError:
            continue
        total += int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
    return total


@dataclass
class Sampler:
    """The peak of the processes' summed RSS while running, against the level at start."""

    pids: Callable[[], list[int]]
    start: int = 0
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    @contextmanager
    def watching(self) -> Iterator[Sampler]:
        self.start = self.peak = rss_of(self.pids())
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_of(self.pids()))

    @property
    def growth(self) -> int:
        return self.peak - self.start


@dataclass
class Target:
    name: str
    host: str
    user: str
    password: str
    pids: Callable[[], list[int]]
    prefix: str  # the repository path's first components


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def nexq_target(live: LiveServer) -> Target:
    email = live.account("bench@example.com")
    live.raise_limits(email, registry_storage_bytes="unlimited", registry_repositories="unlimited")
    key = live.api_key(email, scopes=("registry:write",))
    made = httpx.post(
        f"{live.api_url}/v1/registries",
        json={"name": "bench"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ).json()
    credential = made["credential"]
    return Target(
        "Nexq",
        f"127.0.0.1:{live.registry_port}",
        credential["username"],
        credential["token"],
        live.pids,
        "bench",
    )


def measure(
    skopeo: Skopeo, target: Target, n: int, big: Path, layered: Path, work: Path
) -> dict[str, float]:
    """One round's figures for one server. Each round has images of its own: skopeo
    remembers where it pushed a blob and mounts it from there instead of sending it again."""
    size = sum(f.stat().st_size for f in (big / "blobs" / "sha256").iterdir())
    remote = f"{target.host}/{target.prefix}/big{n}:latest"
    sampler = Sampler(target.pids)
    with sampler.watching():
        push = timed(lambda: skopeo.push(big, remote))
    pull = timed(lambda: skopeo.pull(remote, work / f"pulled-{target.name}-{n}"))
    small = f"{target.host}/{target.prefix}/layers{n}:latest"
    push_small = timed(lambda: skopeo.push(layered, small))
    pull_small = timed(lambda: skopeo.pull(small, work / f"small-{target.name}-{n}"))
    return {
        "push_mib_s": size / 2**20 / push,
        "pull_mib_s": size / 2**20 / pull,
        "push_200_s": push_small,
        "pull_200_s": pull_small,
        "rss_growth_mib": sampler.growth / 2**20,
    }


def run(rounds: int, work: Path, size: int) -> dict[str, dict[str, list[float]]]:
    skopeo = Skopeo(work / "skopeo")
    results: dict[str, dict[str, list[float]]] = {}
    live = LiveServer(work / "nexq")
    live.start()
    try:
        with ReferenceRegistry(work / "reference") as reference:
            targets = [
                nexq_target(live),
                Target(
                    "docker-registry",
                    reference.host,
                    reference.user,
                    reference.password,
                    reference.pids,
                    "bench",
                ),
            ]
            for target in targets:
                skopeo.login(target.host, target.user, target.password)
            for n in range(rounds):
                big = big_image(work / f"big{n}", size)
                layered = layered_image(work / f"layered{n}", 200, salt=str(n))
                # Alternate who goes first: this machine's first touch of fresh memory is
                # slow (bench/results.md), which favours whoever runs second.
                for target in targets if n % 2 == 0 else targets[::-1]:
                    figures = results.setdefault(target.name, {})
                    for key, value in measure(skopeo, target, n, big, layered, work).items():
                        figures.setdefault(key, []).append(value)
                    print(target.name, n, {k: round(v[-1], 2) for k, v in figures.items()})
    finally:
        live.stop()
    return results


ROWS = (
    ("push_mib_s", "1 GiB image push (MiB/s, higher is better)", True),
    ("pull_mib_s", "1 GiB image pull (MiB/s)", True),
    ("push_200_s", "200-layer image push (s, lower is better)", False),
    ("pull_200_s", "200-layer image pull (s)", False),
    ("rss_growth_mib", "server RSS growth during the 1 GiB push (MiB)", False),
)


def report(results: dict[str, dict[str, list[float]]], rounds: int, size: int) -> str:
    nexq, peer = results["Nexq"], results["docker-registry"]
    lines = [
        f"# Container Registry: Nexq vs docker-registry ({rounds} rounds, medians)",
        "",
        f"skopeo 1.9, layer {size / GIB:g} GiB; Nexq {os.cpu_count()} workers (fsync + sealed);"
        " docker-registry 2.8 (filesystem driver). Ratio: Nexq's advantage (>1 = Nexq ahead).",
        "",
        "| workload | Nexq | docker-registry | ratio |",
        "|---|---:|---:|---:|",
    ]
    for key, label, higher in ROWS:
        a, b = statistics.median(nexq[key]), statistics.median(peer[key])
        ratio = "" if key == "rss_growth_mib" else f"{(a / b if higher else b / a):.2f}x"
        lines.append(f"| {label} | {a:.1f} | {b:.1f} | {ratio} |")
    lines += ["", "Every round:", "", "```", json.dumps(results, indent=1), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size", type=int, default=GIB, help="bytes of the big layer")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "registry-results.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nexq-bench-registry-") as work:
        results = run(args.rounds, Path(work), args.size)
    text = report(results, args.rounds, args.size)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
