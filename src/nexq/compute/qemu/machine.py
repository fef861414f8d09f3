"""One instance's QEMU process: launched daemonized, found again, controlled over QMP.

QEMU runs in a session of its own (-daemonize) with a pidfile and a QMP socket in the
instance's folder, so it outlives the `nexq serve` that launched it and a later one finds it
again from the folder alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from nexq.compute.qemu.accel import QEMU, Accelerator
from nexq.compute.qemu.guest import FW_CFG_AUTHORIZED_KEYS
from nexq.compute.qemu.guest_agent import PORT_NAME as GUEST_AGENT_PORT
from nexq.compute.qemu.guest_agent import SOCKET as GUEST_AGENT_SOCKET
from nexq.compute.qemu.qmp import QmpClient, QmpError

QEMU_IMG = "qemu-img"
# The QMP socket's name in the machine's folder. QEMU runs in that folder and is given the
# name alone: a unix socket's path holds at most 107 bytes, which a data dir a few folders
# deep exceeds (QMP clients reach it through the folder's descriptor, see qmp.py).
QMP_SOCKET = "qmp.sock"
_LAUNCH_TIMEOUT = 60.0
# Inode tables and the journal are zeroed by the guest's kernel later, not written now.
_LAZY = "lazy_itable_init=1,lazy_journal_init=1"
_QUIT_TIMEOUT = 10.0


class MachineError(Exception):
    """QEMU could not be launched or controlled; the message carries QEMU's own words."""


class StopMode(StrEnum):
    """How a machine ended: the guest shut itself down, or QEMU was made to stop."""

    ACPI = "acpi"
    FORCED = "forced"
    NOT_RUNNING = "not-running"


@dataclass(frozen=True)
class Boot:
    """A direct kernel boot (the tiny image): no firmware, no boot loader."""

    kernel: Path
    initrd: Path
    cmdline: str


@dataclass(frozen=True)
class MachineSpec:
    """What one instance's QEMU is made of."""

    name: str
    vcpus: int
    memory_mib: int
    disk: Path
    ssh_port: int
    authorized_keys: str
    accelerator: Accelerator
    boot: Boot | None = None
    listen: str = "127.0.0.1"  # the host address the SSH port is forwarded from
    seed: Path | None = None  # a cloud image's NoCloud seed disk (seed.py), attached read-only
    guest_agent: bool = False  # a virtio-serial port for qemu-ga (guest_agent.py)


def create_overlay(base: Path, overlay: Path) -> None:
    """A copy-on-write qcow2 over `base`: the instance's writes land in `overlay` only."""
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(base.resolve()), "-F", "qcow2", str(overlay))


def create_disk(path: Path, size_mib: int) -> None:
    """An empty qcow2 disk (it takes room only as the guest writes)."""
    qemu_img("create", "-q", "-f", "qcow2", str(path), f"{size_mib}M")


def create_data_disk(path: Path, size_mib: int) -> None:
    """A qcow2 disk holding an empty ext4 filesystem, labelled "data": journaled, so that a
    snapshot of a running guest, or a crash, leaves it as a power cut would (the tiny
    guest's busybox can only make ext2). Made as a sparse raw file, then converted: only
    the filesystem's metadata takes room."""
    raw = path.with_name(f".{path.name}.raw")
    try:
        with raw.open("wb") as blank:
            blank.truncate(size_mib * 2**20)
        try:
            done = subprocess.run(
                ["mkfs.ext4", "-q", "-F", "-L", "data", "-E", _LAZY, str(raw)],
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError as missing:
            raise MachineError("mkfs.ext4 is not installed (e2fsprogs)") from missing
        if done.returncode != 0:
            raise MachineError(f"mkfs.ext4: {done.stderr.strip()}")
        qemu_img("convert", "-q", "-O", "qcow2", str(raw), str(path))
    finally:
        raw.unlink(missing_ok=True)


def launch(spec: MachineSpec, folder: Path) -> Machine:
    """Start the machine's QEMU and return once it runs (QEMU's errors are raised here)."""
    folder.mkdir(parents=True, exist_ok=True)
    machine = Machine(folder)
    if machine.running():
        raise MachineError(f"{spec.name} already runs as process {machine.pid}")
    machine.authorized_keys.write_text(spec.authorized_keys)
    machine.qmp_socket.unlink(missing_ok=True)
    machine.guest_agent_socket.unlink(missing_ok=True)
    errors = folder / "qemu.err"
    with errors.open("wb") as stderr:
        try:
            done = subprocess.run(
                qemu_command(spec, machine),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=folder,
                timeout=_LAUNCH_TIMEOUT,
                check=False,
            )
        except FileNotFoundError as missing:
            raise MachineError(f"{QEMU} is not installed (qemu-system-x86)") from missing
    if done.returncode != 0 or not machine.running():
        raise MachineError(f"{spec.name} did not start: {errors.read_text().strip()}")
    return machine


def qemu_command(spec: MachineSpec, machine: Machine) -> list[str]:
    """The QEMU command line for `spec`, its control files in the machine's folder."""
    forward = f"hostfwd=tcp:{spec.listen}:{spec.ssh_port}-:22"
    command = [
        QEMU,
        *("-name", spec.name, "-accel", spec.accelerator.option, "-cpu", spec.accelerator.cpu),
        *("-machine", "q35", "-smp", str(spec.vcpus), "-m", str(spec.memory_mib)),
        # No default devices (VGA, floppy, a NIC we did not ask for), no host config files.
        *("-nodefaults", "-no-user-config", "-display", "none"),
        *("-drive", f"file={spec.disk},if=none,id=disk0,format=qcow2,discard=unmap"),
        *("-device", "virtio-blk-pci,drive=disk0"),
        *("-netdev", f"user,id=net0,{forward}", "-device", "virtio-net-pci,netdev=net0"),
        # Entropy from the host, so the guest's host-key generation never waits for it.
        *("-device", "virtio-rng-pci"),
        *("-fw_cfg", f"name={FW_CFG_AUTHORIZED_KEYS},file={machine.authorized_keys}"),
        # Appended, so the log of earlier boots survives a stop and start.
        *("-chardev", f"file,id=serial0,path={machine.serial_log},append=on"),
        *("-serial", "chardev:serial0"),
        *("-qmp", f"unix:{QMP_SOCKET},server=on,wait=off"),  # in its folder, its cwd
        *("-pidfile", str(machine.pidfile), "-daemonize"),
        # A guest that powers itself off leaves QEMU waiting in the "shutdown" state rather
        # than gone: a shutdown the owner asked for inside the guest is told from a crash.
        "-no-shutdown",
    ]
    if spec.seed is not None:
        # After disk0, so the instance's disk stays the guest's first (/dev/vda).
        command += ["-drive", f"file={spec.seed},if=none,id=seed0,format=raw,readonly=on"]
        command += ["-device", "virtio-blk-pci,drive=seed0"]
    if spec.guest_agent:
        command += ["-chardev", f"socket,id=qga0,path={GUEST_AGENT_SOCKET},server=on,wait=off"]
        command += ["-device", "virtio-serial-pci,id=serial-ports"]
        command += ["-device", f"virtserialport,chardev=qga0,name={GUEST_AGENT_PORT}"]
    if spec.boot is not None:
        command += ["-kernel", str(spec.boot.kernel), "-initrd", str(spec.boot.initrd)]
        command += ["-append", spec.boot.cmdline]
    return command


class Machine:
    """A machine's QEMU process, known by its folder (pidfile, QMP socket, serial log)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pidfile = folder / "qemu.pid"
        self.qmp_socket = folder / QMP_SOCKET
        self.serial_log = folder / "serial.log"
        self.authorized_keys = folder / "authorized_keys"
        self.guest_agent_socket = folder / GUEST_AGENT_SOCKET

    @property
    def pid(self) -> int | None:
        """The process id QEMU wrote, if it did and the file is still there."""
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> bool:
        """Whether this folder's QEMU is alive.

        The pid alone could have been reused by another process since; the command line
        naming this folder's pidfile proves it is ours. A zombie counts as gone.
        """
        return self._alive(self.pid)

    def _alive(self, pid: int | None) -> bool:
        """Whether process ``pid`` is this folder's QEMU, and alive."""
        if pid is None:
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return str(self.pidfile).encode() in cmdline and state != "Z"

    def status(self) -> str:
        """QEMU's run state as QMP's query-status names it ("running", "paused", ...)."""
        with QmpClient(self.qmp_socket) as qmp:
            answer = qmp.execute("query-status")
        return str(answer["status"])

    def rss_bytes(self) -> int:
        """The QEMU process's resident memory."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise MachineError("no VmRSS for the QEMU process")

    def stop(self, timeout: float = 30.0) -> StopMode:
        """Press the ACPI power button and wait; past `timeout`, quit QEMU, then kill it."""
        if not self.running():
            return StopMode.NOT_RUNNING
        self.press_power_button()
        deadline = time.monotonic() + timeout
        while self.running() and not self.powered_off():
            if time.monotonic() >= deadline:
                self.kill()
                return StopMode.FORCED
            time.sleep(0.1)
        self.kill()  # the guest is off: QEMU waits (-no-shutdown) until told to quit
        return StopMode.ACPI

    def press_power_button(self) -> None:
        """ACPI's power button: the guest shuts down as it sees fit."""
        try:
            with QmpClient(self.qmp_socket) as qmp:
                qmp.execute("system_powerdown")
        except (OSError, QmpError):
            pass  # a wedged QMP still leaves the forced way

    def powered_off(self) -> bool:
        """Whether the guest shut itself down (QEMU runs on, in the "shutdown" state)."""
        try:
            return self.running() and self.status() == "shutdown"
        except (OSError, QmpError):
            return False

    def reset(self) -> None:
        """The reset button: the guest boots again at once."""
        with QmpClient(self.qmp_socket) as qmp:
            qmp.execute("system_reset")

    def kill(self) -> None:
        """Stop QEMU now: QMP quit (QEMU closes its disks cleanly), else SIGKILL; returns
        once the process is gone, not only its pidfile."""
        pid = self.pid  # read first: QEMU removes its pidfile as soon as it starts to quit
        try:
            with QmpClient(self.qmp_socket) as qmp:
                qmp.execute("quit")
        except (OSError, QmpError):
            pass  # QEMU answers quit by closing the socket, or was already unreachable
        if self._gone_within(pid, _QUIT_TIMEOUT):
            return
        if pid is not None and self._alive(pid):
            os.kill(pid, signal.SIGKILL)
        if not self._gone_within(pid, _QUIT_TIMEOUT):
            raise MachineError(f"QEMU process {pid} outlived SIGKILL")

    def _gone_within(self, pid: int | None, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


def qemu_img(*arguments: str) -> str:
    """Run ``qemu-img`` with ``arguments``; its output (MachineError with its words if it fails)."""
    try:
        done = subprocess.run([QEMU_IMG, *arguments], capture_output=True, text=True, check=False)
    except FileNotFoundError as missing:
        raise MachineError(f"{QEMU_IMG} is not installed (qemu-utils)") from missing
    if done.returncode != 0:
        raise MachineError(f"qemu-img {arguments[0]}: {done.stderr.strip()}")
    return done.stdout
