"""Which accelerator QEMU can use on this host: KVM where it really works, TCG otherwise.

A readable /dev/kvm is not enough: under some nested hypervisors KVM runs the firmware yet
hangs (or aborts on an MSR) once a stock kernel starts. So the probe boots the real kernel
with KVM, without an initramfs, and expects the panic at "cannot mount root" quickly;
anything else means software emulation.
"""

from __future__ import annotations

import os
import subprocess
from enum import StrEnum
from pathlib import Path

QEMU = "qemu-system-x86_64"
# A working KVM reaches the root-mount panic in about a second; TCG here takes about two.
PROBE_TIMEOUT = 6.0


class Accelerator(StrEnum):
    """QEMU's -accel value, with the CPU model that goes with it."""

    KVM = "kvm"
    TCG = "tcg"

    @property
    def option(self) -> str:
        """The -accel argument. Under TCG, a translation cache of 128 MiB: QEMU's default
        (1 GiB on 64-bit hosts) let a guest's QEMU grow to about twice the guest's memory,
        which a cache this size halves at no speed seen (a Debian guest booted as fast)."""
        return "tcg,tb-size=128" if self is Accelerator.TCG else self.value

    @property
    def cpu(self) -> str:
        """The -cpu model: the host's own under KVM; QEMU's default model under TCG, whose
        emulation of fewer features is the faster one."""
        return "host" if self is Accelerator.KVM else "qemu64"


def choose_accelerator(kernel: Path, kvm_device: Path = Path("/dev/kvm")) -> Accelerator:
    """KVM if this host boots `kernel` under it, else TCG."""
    if not os.access(kvm_device, os.R_OK | os.W_OK):
        return Accelerator.TCG
    return Accelerator.KVM if kernel_boots(Accelerator.KVM, kernel) else Accelerator.TCG


def kernel_boots(accelerator: Accelerator, kernel: Path, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether `kernel` boots to its root-mount panic under `accelerator` within `timeout`."""
    command = [
        QEMU,
        *("-accel", accelerator.value, "-cpu", accelerator.cpu, "-machine", "q35"),
        *("-nodefaults", "-no-user-config", "-display", "none", "-m", "128"),
        *("-kernel", str(kernel), "-append", "console=ttyS0 panic=-1"),
        *("-serial", "stdio", "-no-reboot"),
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False
    return b"Kernel panic" in done.stdout
