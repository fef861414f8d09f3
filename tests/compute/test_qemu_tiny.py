"""The QEMU engine with the tiny image: built, booted to a real `ssh`, stopped over ACPI.

Real QEMU guests under whatever accelerator the host offers (TCG on the build machine).
The measured figures (image build, boot to ssh, QEMU's RSS) are printed; run with -s to
see them.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexq.compute.qemu.accel import Accelerator, choose_accelerator, kernel_boots
from nexq.compute.qemu.guest import POWER_BUTTON_LINE, READY_LINE
from nexq.compute.qemu.machine import (
    Machine,
    MachineError,
    MachineSpec,
    StopMode,
    create_disk,
    launch,
)
from nexq.compute.qemu.tiny import (
    TinyImage,
    TinyImageError,
    build_tiny_image,
    host_kernel,
    module_load_order,
)
from tests.compute.keys import ssh, ssh_answer
from tests.live import free_port

# Under TCG on a loaded 2-core machine; the guest is usually up in about 5 s.
BOOT_DEADLINE = 120.0


@pytest.fixture(scope="session")
def tiny_image(tmp_path_factory: pytest.TempPathFactory) -> TinyImage:
    cache = tmp_path_factory.mktemp("images")
    started = time.monotonic()
    image = build_tiny_image(cache)
    print(f"\ntiny image built in {time.monotonic() - started:.2f} s ({image.kernel_release})")
    again = time.monotonic()
    assert build_tiny_image(cache) == image
    assert time.monotonic() - again < 0.5, "a built image is reused, not rebuilt"
    return image


@pytest.fixture(scope="session")
def accelerator(tiny_image: TinyImage) -> Accelerator:
    chosen = choose_accelerator(tiny_image.kernel)
    print(f"\naccelerator: {chosen}")
    return chosen


@pytest.fixture
def machines() -> Iterator[list[Machine]]:
    """Machines a test launched; any still running at the end are killed."""
    launched: list[Machine] = []
    yield launched
    for machine in launched:
        if machine.running():
            machine.kill()


@pytest.fixture
def key(tmp_path: Path) -> Path:
    private = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tenant", "-f", str(private)],
        check=True,
    )
    return private


def test_tiny_guest_answers_ssh_and_powers_off_on_the_acpi_button(
    tiny_image: TinyImage,
    accelerator: Accelerator,
    machines: list[Machine],
    key: Path,
    tmp_path: Path,
) -> None:
    disk = tmp_path / "disk.qcow2"
    create_disk(disk, 64)
    spec = _spec("web-1", tiny_image, accelerator, disk, key)
    started = time.monotonic()
    machine = launch(spec, tmp_path / "web-1")
    machines.append(machine)

    answer = ssh_answer(key, spec.ssh_port, "uname -a", BOOT_DEADLINE)
    boot_to_ssh = time.monotonic() - started
    assert answer.startswith(f"Linux web-1 {tiny_image.kernel_release} ")
    log = machine.serial_log.read_text(errors="replace")
    assert "Linux version" in log and "Run /init as init process" in log
    assert READY_LINE in log
    # The data disk was formatted by the guest and mounted where instances keep data.
    assert "/data" in ssh(key, spec.ssh_port, "grep /dev/vda /proc/mounts").stdout

    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    refused = ssh(stranger, spec.ssh_port, "true")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr

    # Found again from its folder alone, as a restarted `nexq serve` would; in a session of
    # its own, so nothing aimed at ours (a closed terminal, a process group kill) reaches it.
    found = Machine(tmp_path / "web-1")
    assert found.running() and found.pid == machine.pid
    assert found.pid is not None and os.getsid(found.pid) != os.getsid(0)
    assert found.status() == "running"
    rss = found.rss_bytes()
    print(f"\nboot to ssh: {boot_to_ssh:.1f} s under {accelerator}; QEMU RSS {rss >> 20} MiB")

    pid = found.pid
    stopping = time.monotonic()
    assert found.stop(timeout=60) == StopMode.ACPI
    print(f"ACPI shutdown took {time.monotonic() - stopping:.1f} s")
    assert POWER_BUTTON_LINE in machine.serial_log.read_text(errors="replace")
    assert not found.running()
    assert not _alive(pid)
    assert found.stop() == StopMode.NOT_RUNNING


def test_a_killed_qemu_is_seen_as_gone_and_its_folder_launches_again(
    tiny_image: TinyImage,
    accelerator: Accelerator,
    machines: list[Machine],
    key: Path,
    tmp_path: Path,
) -> None:
    disk = tmp_path / "disk.qcow2"
    create_disk(disk, 16)
    spec = _spec("crash-1", tiny_image, accelerator, disk, key)
    machine = launch(spec, tmp_path / "crash-1")
    machines.append(machine)
    crashed = machine.pid
    assert crashed is not None
    os.kill(crashed, signal.SIGKILL)
    _wait_until_gone(crashed)
    # QEMU had no chance to remove its pidfile: the folder must not pass for a live one.
    assert machine.pidfile.exists()
    assert not machine.running()

    # The same folder (its pidfile, socket and disk); a port of its own, as the dead one's
    # may have been taken by another test's server in the meantime.
    again = launch(dataclasses.replace(spec, ssh_port=_free_port()), tmp_path / "crash-1")
    assert again.running() and again.pid != crashed
    again.kill()
    assert not again.running()


def test_a_guest_that_ignores_the_power_button_is_stopped_by_force(
    tiny_image: TinyImage,
    accelerator: Accelerator,
    machines: list[Machine],
    key: Path,
    tmp_path: Path,
) -> None:
    disk = tmp_path / "disk.qcow2"
    create_disk(disk, 16)
    # Without ACPI the kernel has no power button to hear.
    spec = _spec("deaf-1", tiny_image, accelerator, disk, key, kernel_arguments="acpi=off")
    machine = launch(spec, tmp_path / "deaf-1")
    machines.append(machine)
    _wait_for_line(machine, READY_LINE)
    pid = machine.pid

    started = time.monotonic()
    assert machine.stop(timeout=3) == StopMode.FORCED
    assert time.monotonic() - started < 3 + 10
    assert not machine.running()
    assert not _alive(pid)
    assert POWER_BUTTON_LINE not in machine.serial_log.read_text(errors="replace")


def test_a_taken_ssh_port_fails_the_launch_naming_the_forward(
    tiny_image: TinyImage, accelerator: Accelerator, key: Path, tmp_path: Path
) -> None:
    disk = tmp_path / "disk.qcow2"
    create_disk(disk, 16)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        spec = _spec("clash-1", tiny_image, accelerator, disk, key)
        spec = dataclasses.replace(spec, ssh_port=taken.getsockname()[1])
        with pytest.raises(MachineError, match=r"clash-1 did not start: .*host forwarding"):
            launch(spec, tmp_path / "clash-1")
    assert not Machine(tmp_path / "clash-1").running()


def test_the_kvm_probe_tells_a_booting_kernel_from_a_stuck_one(tiny_image: TinyImage) -> None:
    # The probe's yes and no, shown with TCG (which boots everywhere) and a deadline too
    # short for any kernel: KVM itself may or may not work on the host running this.
    assert kernel_boots(Accelerator.TCG, tiny_image.kernel, timeout=60)
    assert not kernel_boots(Accelerator.TCG, tiny_image.kernel, timeout=0.05)


def test_a_hostname_that_could_break_the_kernel_command_line_is_refused(
    tiny_image: TinyImage,
) -> None:
    with pytest.raises(TinyImageError, match="'web 1 init=/bin/sh' is not a hostname"):
        tiny_image.boot("web 1 init=/bin/sh")


def test_the_newest_cloud_kernel_is_chosen_and_one_without_modules_is_not(tmp_path: Path) -> None:
    boot, modules = tmp_path / "boot", tmp_path / "modules"
    boot.mkdir()
    for release in ("6.1.0-9-cloud-amd64", "6.1.0-57-cloud-amd64", "6.1.0-60-amd64"):
        (boot / f"vmlinuz-{release}").touch()
        (modules / release).mkdir(parents=True)
        (modules / release / "modules.dep").touch()
    (boot / "vmlinuz-6.1.0-99-cloud-amd64").touch()  # its modules package is gone
    assert host_kernel(boot, modules).release == "6.1.0-57-cloud-amd64"
    with pytest.raises(TinyImageError, match="install linux-image-cloud-amd64"):
        host_kernel(tmp_path / "empty", modules)


def test_modules_load_after_what_they_depend_on(tmp_path: Path) -> None:
    dep = tmp_path / "modules.dep"
    dep.write_text(
        "kernel/net/virtio_net.ko: kernel/net/net_failover.ko kernel/core/failover.ko "
        "kernel/virtio/virtio.ko kernel/virtio/virtio_ring.ko\n"
        "kernel/net/net_failover.ko: kernel/core/failover.ko\n"
        "kernel/core/failover.ko:\n"
        "kernel/virtio/virtio.ko: kernel/virtio/virtio_ring.ko\n"
        "kernel/virtio/virtio_ring.ko:\n"
        "kernel/char/virtio-rng.ko: kernel/virtio/virtio.ko kernel/virtio/virtio_ring.ko\n"
    )
    order = [Path(module).name for module in module_load_order(dep, ("virtio_net", "virtio_rng"))]
    assert order == [
        "failover.ko",
        "net_failover.ko",
        "virtio_ring.ko",
        "virtio.ko",
        "virtio_net.ko",
        "virtio-rng.ko",
    ]
    with pytest.raises(TinyImageError, match="kernel module evdev not found"):
        module_load_order(dep, ("evdev",))


def _spec(
    name: str,
    image: TinyImage,
    accelerator: Accelerator,
    disk: Path,
    key: Path,
    kernel_arguments: str = "",
) -> MachineSpec:
    return MachineSpec(
        name=name,
        vcpus=1,
        memory_mib=256,
        disk=disk,
        ssh_port=_free_port(),
        authorized_keys=key.with_suffix(".pub").read_text(),
        accelerator=accelerator,
        boot=image.boot(name, kernel_arguments=kernel_arguments),
    )


def _wait_for_line(machine: Machine, line: str) -> None:
    deadline = time.monotonic() + BOOT_DEADLINE
    while line not in machine.serial_log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{line!r} not in the serial log"
        time.sleep(0.2)


def _wait_until_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.05)


def _free_port() -> int:
    # Below the ephemeral range, in this worker's share: a port the kernel hands out for
    # outgoing connections could be taken between the probe and QEMU's bind.
    return free_port()


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_disk_that_holds_data_but_does_not_mount_is_never_formatted(
    tiny_image: TinyImage,
    accelerator: Accelerator,
    machines: list[Machine],
    key: Path,
    tmp_path: Path,
) -> None:
    """A customer's disk the guest cannot mount (not a filesystem it knows, or damaged) is
    left as it is: only a blank disk is formatted."""
    raw = tmp_path / "data.raw"
    payload = b"not a filesystem, but somebody's data\n" * 1000
    raw.write_bytes(payload + bytes(16 * 2**20 - len(payload)))
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(disk)], check=True)
    spec = _spec("kept-1", tiny_image, accelerator, disk, key)
    machine = launch(spec, tmp_path / "kept-1")
    machines.append(machine)
    ssh_answer(key, spec.ssh_port, "true", BOOT_DEADLINE)
    log = machine.serial_log.read_text(errors="replace")
    assert "/dev/vda does not mount; it is left unformatted" in log
    assert "formatting the blank disk" not in log
    assert machine.stop(timeout=60) == StopMode.ACPI
    back = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(disk), str(back)], check=True)
    assert back.read_bytes()[: len(payload)] == payload
