"""Compute's launch-to-SSH time, measured in one run on this machine (TCG here).

For each round: the seconds from `POST /v1/compute/instances` until a real OpenSSH client
runs a command in the guest, through a live `nexq serve`; beside the peer, the same guest
launched by QEMU alone (Nexq's own engine called directly: no API, no provisioner, no
database), the floor Nexq's service adds to. Also the stop (ACPI power button to QEMU gone)
and the QEMU process's memory.

    .venv/bin/python bench/compute.py [--image tiny|debian-12] [--rounds 5] [--out FILE.md]

The tiny image (nano size): about a minute per five rounds. The Debian image (micro size,
512 MiB): built first (debootstrap, a few minutes; `--images DIR` keeps it for the next
run), then about a minute and a half a round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.api.conftest import api  # noqa: E402
from tests.compute.keys import keygen, ssh_answer  # noqa: E402
from tests.live import LiveServer, free_port  # noqa: E402

from nexq.compute.instance import DEBIAN_12, IMAGES, TINY  # noqa: E402
from nexq.compute.qemu.accel import choose_accelerator  # noqa: E402
from nexq.compute.qemu.debian import build_debian_image  # noqa: E402
from nexq.compute.qemu.machine import Boot, MachineSpec, create_disk, launch  # noqa: E402
from nexq.compute.qemu.seed import write_seed  # noqa: E402
from nexq.compute.qemu.tiny import build_tiny_image  # noqa: E402

# The smallest size each image is benched with (Debian's cloud-init wants more than 256 MiB).
SIZES = {TINY: ("nano", 256, 1024), DEBIAN_12: ("micro", 512, 5120)}


def through_nexq(work: Path, rounds: int, image: str, images: Path) -> dict[str, list[float]]:
    pair = keygen(work / "keys", "ed25519")
    live = LiveServer(work / "nexq")
    if image == DEBIAN_12:  # the operator's build, done once before (a few minutes)
        shutil.copytree(images, work / "nexq" / "compute" / "images", copy_function=os.link)
    size, _, _ = SIZES[image]
    user = IMAGES[image].user
    live.start()
    figures: dict[str, list[float]] = {"nexq_launch_to_ssh": [], "nexq_stop": []}
    try:
        email = live.account("bench-compute@example.com")
        live.raise_limits(email, api_rps=1000, instances=100)
        with api(live, live.api_key(email)) as client:
            key = {"name": "bench", "public_key": pair.public_text}
            client.post("/v1/compute/ssh-keys", json=key).raise_for_status()
            for n in range(rounds):
                began = time.perf_counter()
                wanted = {"name": f"b{n}", "size": size, "image": image}
                client.post("/v1/compute/instances", json=wanted).raise_for_status()
                while (found := client.get(f"/v1/compute/instances/b{n}").json())["ssh"] is None:
                    time.sleep(0.05)
                ssh_answer(pair.private, found["ssh"]["port"], "echo up", 300, user)
                figures["nexq_launch_to_ssh"].append(time.perf_counter() - began)
                began = time.perf_counter()
                client.post(f"/v1/compute/instances/b{n}/stop").raise_for_status()
                while client.get(f"/v1/compute/instances/b{n}").json()["status"] != "Stopped":
                    time.sleep(0.05)
                figures["nexq_stop"].append(time.perf_counter() - began)
                client.delete(f"/v1/compute/instances/b{n}").raise_for_status()
                while client.get(f"/v1/compute/instances/b{n}").status_code != 404:
                    time.sleep(0.05)  # its port free again for the next round
                print(n, {k: round(v[-1], 2) for k, v in figures.items()}, flush=True)
    finally:
        live.stop()
    return figures


def qemu_alone(work: Path, rounds: int, image: str, images: Path) -> dict[str, list[float]]:
    pair = keygen(work / "keys-qemu", "ed25519")
    _, memory_mib, disk_mib = SIZES[image]
    figures: dict[str, list[float]] = {"qemu_launch_to_ssh": [], "qemu_stop": [], "rss_mib": []}
    for n in range(rounds):
        folder = work / f"qemu-{n}"
        folder.mkdir()
        began = time.perf_counter()
        seed = None
        boot: Boot
        if image == DEBIAN_12:
            debian = build_debian_image(images)  # built: found at once
            debian.instance_disk(folder / "disk.qcow2", disk_mib)
            seed = folder / "seed.iso"
            write_seed(
                seed, instance_id=f"q{n}", hostname=f"q{n}", authorized_keys=pair.public_text
            )
            boot = debian.boot()
        else:
            tiny = build_tiny_image(images)
            create_disk(folder / "disk.qcow2", disk_mib)
            boot = tiny.boot(f"q{n}")
        spec = MachineSpec(
            name=f"q{n}",
            vcpus=1,
            memory_mib=memory_mib,
            disk=folder / "disk.qcow2",
            ssh_port=free_port(),
            authorized_keys=pair.public_text,
            accelerator=choose_accelerator(boot.kernel),
            boot=boot,
            seed=seed,
        )
        machine = launch(spec, folder)
        ssh_answer(pair.private, spec.ssh_port, "echo up", 300, IMAGES[image].user)
        figures["qemu_launch_to_ssh"].append(time.perf_counter() - began)
        figures["rss_mib"].append(machine.rss_bytes() / 2**20)
        began = time.perf_counter()
        machine.stop()
        figures["qemu_stop"].append(time.perf_counter() - began)
        print(n, {k: round(v[-1], 2) for k, v in figures.items()}, flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", choices=(TINY, DEBIAN_12), default=TINY)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=Path, help="where images are built and kept")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nexq-bench-compute-") as folder:
        work = Path(folder)
        images = args.images or work / "images"
        if args.image == DEBIAN_12:
            began = time.perf_counter()
            build_debian_image(images)
            print(f"{DEBIAN_12}: ready in {time.perf_counter() - began:.0f} s", flush=True)
        peer = qemu_alone(work, args.rounds, args.image, images)
        ours = through_nexq(work, args.rounds, args.image, images)
    median = {k: statistics.median(v) for k, v in {**peer, **ours}.items()}
    size, memory_mib, _ = SIZES[args.image]
    lines = [
        f"# Compute: launch to SSH, {args.image} image, {size} size "
        f"({args.rounds} rounds, medians; TCG)",
        "",
        "| what | Nexq (API → ssh) | QEMU alone | Nexq ÷ QEMU |",
        "|---|---|---|---|",
        f"| launch → ssh runs a command | {median['nexq_launch_to_ssh']:.2f} s "
        f"| {median['qemu_launch_to_ssh']:.2f} s "
        f"| {median['nexq_launch_to_ssh'] / median['qemu_launch_to_ssh']:.2f}x |",
        f"| stop (ACPI) → stopped | {median['nexq_stop']:.2f} s | {median['qemu_stop']:.2f} s "
        f"| {median['nexq_stop'] / median['qemu_stop']:.2f}x |",
        "",
        f"QEMU's resident memory with a {memory_mib} MiB guest, after boot: "
        f"{median['rss_mib']:.0f} MiB.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
