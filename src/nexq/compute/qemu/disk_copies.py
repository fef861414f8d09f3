"""Point-in-time copies of a machine's qcow2 disk, running or not.

A copy is taken in two steps. First a qcow2 internal snapshot marks the moment: with the
machine running, QEMU does it over QMP with the guest paused for the few milliseconds it
takes, so every write the guest completed before is in it and none after (the disk is
consistent as after a power cut, which journaling filesystems recover from; where the guest
runs QEMU's agent, its filesystems are frozen around the mark, so they are consistent as
after a clean unmount: guest_agent.py). Then
``qemu-img`` exports that snapshot to a compressed qcow2 file of its own while the guest runs
on: an internal snapshot's clusters never change once taken (the running disk copies a
cluster before writing to it), so reading them beside QEMU is safe. Last, the mark is
dropped, which frees the clusters only it held.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from nexq.compute.qemu.guest_agent import frozen
from nexq.compute.qemu.machine import Machine, qemu_img
from nexq.compute.qemu.qmp import QmpClient

DEVICE = "disk0"  # the drive's id in machine.qemu_command


def mark(machine: Machine, disk: Path, tag: str) -> bool:
    """Take internal snapshot ``tag`` of ``disk`` now (the guest paused meanwhile, and its
    filesystems frozen if its guest agent answers); whether they were frozen."""
    if machine.running():
        with frozen(machine.guest_agent_socket) as quiesced, QmpClient(machine.qmp_socket) as qmp:
            was_running = qmp.execute("query-status")["status"] == "running"
            if was_running:
                qmp.execute("stop")
            try:
                qmp.execute("blockdev-snapshot-internal-sync", {"device": DEVICE, "name": tag})
            finally:
                if was_running:
                    qmp.execute("cont")
        return quiesced
    qemu_img("snapshot", "-c", tag, str(disk))
    return True  # a stopped machine's disk is at rest


def export(disk: Path, tag: str, target: Path) -> int:
    """Write internal snapshot ``tag`` of ``disk`` to ``target`` as a qcow2 compressed with
    zstd, with no backing file (written aside, then renamed); its size in bytes."""
    partial = target.with_name(f".{target.name}.partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    # -U: QEMU holds the disk's lock while it runs; the snapshot read here is immutable.
    # zstd: about ten times as fast as qcow2's default zlib here (which made the export
    # CPU-bound at ~47 MiB/s), and smaller.
    qemu_img(
        "convert", "-U", "-c", "-O", "qcow2", "-o", "compression_type=zstd",
        "-l", f"snapshot.name={tag}", str(disk), str(partial),
    )  # fmt: skip
    _fsync(partial)
    partial.rename(target)
    return target.stat().st_size


def unmark(machine: Machine, disk: Path, tag: str) -> None:
    """Drop internal snapshot ``tag`` (nothing to do if it, or the disk, is gone)."""
    if not disk.exists() or tag not in tags(disk):
        return
    if machine.running():
        with QmpClient(machine.qmp_socket) as qmp:
            qmp.execute("blockdev-snapshot-delete-internal-sync", {"device": DEVICE, "name": tag})
    else:
        qemu_img("snapshot", "-d", tag, str(disk))


def tags(disk: Path) -> list[str]:
    """The internal snapshots' names in ``disk``."""
    listed = qemu_img("snapshot", "-U", "-l", str(disk))
    # "ID  TAG  VM SIZE ..." then one line per snapshot; the tag is the second column.
    return [line.split()[1] for line in listed.splitlines()[2:] if len(line.split()) > 1]


def put_back(copy: Path, disk: Path, disk_gib: int) -> None:
    """Make ``disk`` a copy of ``copy`` (a stopped machine's), at least ``disk_gib`` GiB."""
    partial = disk.with_name(f".{disk.name}.partial")
    shutil.copyfile(copy, partial)  # compressed clusters read fine; new writes go beside
    adopt(partial, disk, disk_gib)


def adopt(copy: Path, disk: Path, disk_gib: int) -> None:
    """Make the file ``copy`` (no one else's) the disk ``disk``, at least ``disk_gib`` GiB."""
    grow(copy, disk_gib)
    _fsync(copy)
    copy.rename(disk)


def grow(disk: Path, disk_gib: int) -> None:
    """Make the disk ``disk_gib`` GiB if it is smaller (never shrinks: that loses data)."""
    info = qemu_img("info", "-U", "--output=json", str(disk))
    if int(json.loads(info)["virtual-size"]) < disk_gib * 1024**3:
        qemu_img("resize", "-q", str(disk), f"{disk_gib}G")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
