"""Compute's launch-to-SSH time, measured in one run on this machine (TCG here).

For each round: the seconds from `POST /v1/compute/instances` (tiny image, nano size) until
a real OpenSSH client runs a command in the guest, through a live `nexq serve`; beside the
peer, the same guest launched by QEMU alone (Nexq's own engine called directly: no API, no
provisioner, no database), the floor Nexq's service adds to. Also the stop (ACPI power
button to QEMU gone) and the QEMU process's memory.

    .venv/bin/python bench/compute.py [--rounds 5] [--out FILE.md]

About a minute per five rounds.
"""

from __future__ import annotations

import argparse
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

from nexq.compute.qemu.accel import choose_accelerator  # noqa: E402
from nexq.compute.qemu.machine import MachineSpec, create_disk, launch  # noqa: E402
from nexq.compute.qemu.tiny import build_tiny_image  # noqa: E402


def through_nexq(work: Path, rounds: int) -> dict[str, list[float]]:
    pair = keygen(work / "keys", "ed25519")
    live = LiveServer(work / "nexq")
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
                made = client.post("/v1/compute/instances", json={"name": f"b{n}", "size": "nano"})
                made.raise_for_status()
                while (found := client.get(f"/v1/compute/instances/b{n}").json())["ssh"] is None:
                    time.sleep(0.05)
                ssh_answer(pair.private, found["ssh"]["port"], "echo up", 120)
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


def qemu_alone(work: Path, rounds: int) -> dict[str, list[float]]:
    pair = keygen(work / "keys-qemu", "ed25519")
    image = build_tiny_image(work / "images")
    accelerator = choose_accelerator(image.kernel)
    figures: dict[str, list[float]] = {"qemu_launch_to_ssh": [], "qemu_stop": [], "rss_mib": []}
    for n in range(rounds):
        folder = work / f"qemu-{n}"
        folder.mkdir()
        began = time.perf_counter()
        create_disk(folder / "disk.qcow2", 1024)
        spec = MachineSpec(
            name=f"q{n}",
            vcpus=1,
            memory_mib=256,
            disk=folder / "disk.qcow2",
            ssh_port=free_port(),
            authorized_keys=pair.public_text,
            accelerator=accelerator,
            boot=image.boot(f"q{n}"),
        )
        machine = launch(spec, folder)
        ssh_answer(pair.private, spec.ssh_port, "echo up", 120)
        figures["qemu_launch_to_ssh"].append(time.perf_counter() - began)
        figures["rss_mib"].append(machine.rss_bytes() / 2**20)
        began = time.perf_counter()
        machine.stop()
        figures["qemu_stop"].append(time.perf_counter() - began)
        print(n, {k: round(v[-1], 2) for k, v in figures.items()}, flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nexq-bench-compute-") as folder:
        work = Path(folder)
        peer = qemu_alone(work, args.rounds)
        ours = through_nexq(work, args.rounds)
    median = {k: statistics.median(v) for k, v in {**peer, **ours}.items()}
    lines = [
        f"# Compute: launch to SSH ({args.rounds} rounds, medians; TCG)",
        "",
        "| what | Nexq (API → ssh) | QEMU alone | Nexq ÷ QEMU |",
        "|---|---|---|---|",
        f"| launch → ssh runs a command | {median['nexq_launch_to_ssh']:.2f} s "
        f"| {median['qemu_launch_to_ssh']:.2f} s "
        f"| {median['nexq_launch_to_ssh'] / median['qemu_launch_to_ssh']:.2f}x |",
        f"| stop (ACPI) → stopped | {median['nexq_stop']:.2f} s | {median['qemu_stop']:.2f} s "
        f"| {median['nexq_stop'] / median['qemu_stop']:.2f}x |",
        "",
        f"QEMU's resident memory with a 256 MiB guest, after boot: {median['rss_mib']:.0f} MiB.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
