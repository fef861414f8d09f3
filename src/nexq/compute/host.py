"""This host's side of Compute: each instance's folder, disk and QEMU machine.

``<compute dir>/instances/<id>/`` holds the instance's disk (``disk.qcow2``), its QEMU's
pidfile, QMP socket and serial log (see :mod:`nexq.compute.qemu.machine`); for a Debian
instance also its NoCloud seed and the kernel it boots. Images are built once under
``<compute dir>/images/``: the tiny one at the first launch (seconds), the Debian one by the
operator (``nexq admin images build debian-12``: minutes, as root). Everything here can be
repeated after a crash.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from nexq.compute.instance import DEBIAN_12, Instance
from nexq.compute.qemu import debian
from nexq.compute.qemu.accel import Accelerator, choose_accelerator
from nexq.compute.qemu.debian import DebianImage, DebianImageError, built_debian_image
from nexq.compute.qemu.debian_guest import KERNEL_COMMAND_LINE
from nexq.compute.qemu.machine import (
    Boot,
    Machine,
    MachineError,
    MachineSpec,
    create_data_disk,
    launch,
)
from nexq.compute.qemu.seed import SeedError, write_seed
from nexq.compute.qemu.tiny import TinyImage, TinyImageError, build_tiny_image, host_kernel

DISK = "disk.qcow2"
# A backup's disk, fetched from Object Storage by the copier before the instance's first
# launch: the provisioner's pass, which every instance's changes wait on, never downloads.
FETCHED = "fetched.qcow2"
SEED = "seed.iso"
# A Debian instance boots the kernel of the image its disk was made from, kept in its folder:
# the guest's modules are that kernel's, whatever image is built later.
KERNEL, INITRD = "vmlinuz", "initrd.img"
# A guest that writes to its serial console without end would fill the host's disk.
SERIAL_LOG_LIMIT = 4 * 2**20
SERIAL_LOG_KEEP = 2**20


class HostError(Exception):
    """The host could not do what an instance needs; the message says what failed."""


class DiskNotReady(HostError):
    """The instance's disk is still being fetched; a later pass launches it."""


# Makes the disk at a path from a snapshot or backup (its id), at least so many GiB.
DiskMaker = Callable[[str, Path, int], None]


def _no_sources(source: str, disk: Path, disk_gib: int) -> None:
    raise HostError(f"this host cannot make a disk from {source}")


class Host:
    """The instances' machines on this host."""

    def __init__(self, root: Path, listen: str = "127.0.0.1") -> None:
        self.root = root
        self.listen = listen
        self._accelerator: Accelerator | None = None
        self._disk_from: DiskMaker = _no_sources

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held while machines are started, stopped, deleted, or their disks marked or put
        back: by the provisioner's and the copier's passes, which may run in different
        processes (each job holds its own lease), hence a lock on a file, not in memory."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "host.lock").open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            yield  # closing the file releases the lock

    def take_disks_from(self, maker: DiskMaker) -> None:
        """How a new instance's disk is made from the snapshot or backup it names."""
        self._disk_from = maker

    def disk(self, instance_id: str) -> Path:
        return self.folder(instance_id) / DISK

    def fetched(self, instance_id: str) -> Path:
        """Where a backup's disk waits for the instance's first launch."""
        return self.folder(instance_id) / FETCHED

    def snapshot_file(self, copy_id: str) -> Path:
        """Where a snapshot is kept: beside, not inside, instances (it outlives them)."""
        return self.root / "snapshots" / f"{copy_id}.qcow2"

    def scratch(self) -> Path:
        """A folder for files on their way to or from Object Storage (same file system as
        the instances, so a finished file is renamed into place)."""
        folder = self.root / "scratch"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def sweep_scratch(self) -> None:
        """Empty the scratch folder, if there is one (an installation that never used
        Compute has none, and gets none from this)."""
        folder = self.root / "scratch"
        if not folder.is_dir():
            return
        for leftover in folder.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    def folder(self, instance_id: str) -> Path:
        return self.root / "instances" / instance_id

    def machine(self, instance_id: str) -> Machine:
        return Machine(self.folder(instance_id))

    def instance_ids(self) -> list[str]:
        """The instances that have a folder here (whether a row owns them or not)."""
        folder = self.root / "instances"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    @property
    def images(self) -> Path:
        return self.root / "images"

    def image(self) -> TinyImage:
        try:
            return build_tiny_image(self.images)
        except (TinyImageError, OSError) as exc:
            raise HostError(f"the tiny image could not be built: {exc}") from exc

    def debian_image(self) -> DebianImage:
        """The Debian image, if the operator built it; else HostError saying how to."""
        built = built_debian_image(self.images)
        if built is None:
            raise HostError(
                f"the {DEBIAN_12} image is not built on this host; an operator builds it with "
                f"`nexq admin images build {DEBIAN_12}`"
            )
        return built

    def image_ready(self, image_id: str) -> bool:
        """Whether an instance of the image can launch here now: the Debian image once the
        operator built it; the tiny one (made at its first launch) where the host has a
        kernel to make it from."""
        if image_id == DEBIAN_12:
            return built_debian_image(self.images) is not None
        try:
            host_kernel()
        except TinyImageError:
            return False
        return True

    def build_image(self, image_id: str, mirror: str = debian.DEFAULT_MIRROR) -> Path:
        """Build the image (if this recipe was not built yet); the folder it is in."""
        try:
            if image_id == DEBIAN_12:
                cache = self.images / ".debian-packages"  # the next recipe's build reuses them
                return debian.build_debian_image(
                    self.images, mirror=mirror, package_cache=cache
                ).disk.parent
            return build_tiny_image(self.images).kernel.parent
        except (TinyImageError, DebianImageError, OSError) as exc:
            raise HostError(f"the {image_id} image could not be built: {exc}") from exc

    def accelerator(self, kernel: Path) -> Accelerator:
        """KVM where this host runs it, else TCG: probed once per process."""
        if self._accelerator is None:
            self._accelerator = choose_accelerator(kernel)
        return self._accelerator

    def launch(self, instance: Instance) -> None:
        """Start the instance's QEMU (its disk made first, if it has none yet)."""
        assert instance.ssh_port is not None
        folder = self.folder(instance.id)
        folder.mkdir(parents=True, exist_ok=True)
        disk = folder / DISK
        try:
            if instance.image == DEBIAN_12:
                boot, seed = self._debian(instance, folder), folder / SEED
            else:
                boot, seed = self._tiny(instance, folder), None
            spec = MachineSpec(
                name=instance.id,
                vcpus=instance.vcpus,
                memory_mib=instance.memory_mib,
                disk=disk,
                ssh_port=instance.ssh_port,
                authorized_keys=instance.public_key.strip() + "\n",
                accelerator=self.accelerator(boot.kernel),
                boot=boot,
                listen=self.listen,
                seed=seed,
                guest_agent=instance.image == DEBIAN_12,  # its image runs qemu-ga
            )
            launch(spec, folder)
        except (MachineError, TinyImageError, DebianImageError, SeedError) as exc:
            raise HostError(str(exc)) from exc

    def _tiny(self, instance: Instance, folder: Path) -> Boot:
        """The tiny image boots from the image's kernel and initramfs; the disk holds data."""
        image = self.image()
        disk = folder / DISK
        if not disk.exists() and instance.source:
            self._disk_from(instance.source, disk, instance.disk_gib)
        elif not disk.exists():
            create_data_disk(folder / f".{DISK}", instance.disk_gib * 1024)
            (folder / f".{DISK}").rename(disk)
        return image.boot(instance.name)

    def _debian(self, instance: Instance, folder: Path) -> Boot:
        """A Debian instance's disk is its root: an overlay of the base, or a copy's disk.
        Its seed is written at each boot (the same instance-id, so cloud-init's first-boot
        work is done once; the key as the instance names it)."""
        disk = folder / DISK
        if not (folder / KERNEL).exists() or not disk.exists():
            image = self.debian_image()
            for kept, name in ((image.kernel, KERNEL), (image.initrd, INITRD)):
                _link(kept, folder / name)
            if not disk.exists() and instance.source:
                self._disk_from(instance.source, disk, instance.disk_gib)
            elif not disk.exists():
                image.instance_disk(folder / f".{DISK}", instance.disk_gib * 1024)
                (folder / f".{DISK}").rename(disk)
        write_seed(
            folder / SEED,
            instance_id=instance.id,
            hostname=instance.name,
            authorized_keys=instance.public_key,
        )
        return Boot(folder / KERNEL, folder / INITRD, KERNEL_COMMAND_LINE)

    def running(self, instance_id: str) -> bool:
        return self.machine(instance_id).running()

    def remove(self, instance_id: str) -> None:
        """Stop its QEMU at once and delete its folder, disk included."""
        machine = self.machine(instance_id)
        if machine.running():
            try:
                machine.kill()
            except MachineError as exc:
                raise HostError(str(exc)) from exc
        shutil.rmtree(self.folder(instance_id), ignore_errors=True)

    def trim_serial_log(self, instance_id: str) -> bool:
        """Keep the serial log under SERIAL_LOG_LIMIT: past it, only its last SERIAL_LOG_KEEP
        bytes (from a line's start) stay; whether it was trimmed. QEMU appends to the file
        (append=on), so truncating it under a running machine is safe; a line written
        between the read and the truncation is lost, which a log this long can spare."""
        path = self.machine(instance_id).serial_log
        try:
            if path.stat().st_size <= SERIAL_LOG_LIMIT:
                return False
            with path.open("r+b") as log:
                log.seek(-SERIAL_LOG_KEEP, 2)
                kept = log.read()
                kept = kept[kept.find(b"\n") + 1 :]
                log.seek(0)
                log.truncate()
                log.write(kept)
        except FileNotFoundError:
            return False
        return True

    def serial_tail(self, instance_id: str, lines: int) -> list[str]:
        """The last ``lines`` lines of the instance's serial console."""
        path = self.machine(instance_id).serial_log
        if not path.exists():
            return []
        with path.open("rb") as log:
            last = deque(log, maxlen=lines)
        return [line.decode("utf-8", "replace").rstrip("\r\n") for line in last]


def _link(kept: Path, path: Path) -> None:
    """`path` as a hard link to `kept` (no room taken), a copy across file systems."""
    scratch = path.with_name(f".{path.name}")
    scratch.unlink(missing_ok=True)
    try:
        os.link(kept, scratch)
    except OSError:
        shutil.copyfile(kept, scratch)
    scratch.replace(path)


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``port`` (QEMU binds it for the SSH forward)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
