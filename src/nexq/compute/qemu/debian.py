"""The Debian 12 cloud image: debootstrap'd from Debian's packages, booted by cloud-init.

Made once into a folder named after its recipe and kept: a base qcow2 (ext4 over the whole
disk, no partition table) with the kernel and initramfs taken out of it for QEMU's direct
kernel boot, so there is no boot loader to install or to step through under TCG. Each
instance boots a copy-on-write overlay of the base, grown to its size; cloud-init's resizefs
grows the filesystem on first boot (with no partition table there is no partition to grow
first, which is why growpart is left out) and learns the hostname and SSH keys from the
NoCloud seed disk (seed.py).

Root is needed for debootstrap (it chroots, makes device nodes and sets file owners) and to
read the tree it made; the disk itself is made without root: `mkfs.ext4 -d` copies the tree
into a file, so there is no loop device, mount or partitioning tool.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nexq.compute.qemu import debian_guest as guest
from nexq.compute.qemu.machine import Boot, MachineError, create_overlay, qemu_img

IMAGE_ID = "debian-12"
# Bump when the build changes in a way the texts and lists hashed below do not show.
RECIPE = 2
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# The virtual size of the base: the smallest disk Nexq sells, so every size can boot it.
BASE_DISK_MIB = 1024
ROOT_LABEL = "nexq-root"
# debootstrap and mkfs live in sbin, which a non-root PATH may lack.
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TOOLS = {"debootstrap": "debootstrap", "mkfs.ext4": "e2fsprogs", "chroot": "coreutils"}
_BUILD_TIMEOUT = 3600.0
_OCTAL = re.compile(r"\\([0-7]{3})")


class DebianImageError(Exception):
    """The Debian image cannot be built on this host, or an instance disk made from it."""


@dataclass(frozen=True)
class DebianImage:
    """A built Debian image: its base disk and what QEMU's -kernel and -initrd take."""

    disk: Path
    kernel: Path
    initrd: Path
    kernel_release: str

    def boot(self, *, kernel_arguments: str = "") -> Boot:
        """How QEMU boots an instance of this image (its disk is the guest's first, vda)."""
        cmdline = f"{guest.KERNEL_COMMAND_LINE} {kernel_arguments}".strip()
        return Boot(self.kernel, self.initrd, cmdline)

    def instance_disk(self, path: Path, size_mib: int) -> None:
        """An instance's disk: an overlay of the base, its virtual size `size_mib`."""
        if size_mib < BASE_DISK_MIB:
            raise DebianImageError(
                f"a {IMAGE_ID} disk needs at least {BASE_DISK_MIB} MiB, not {size_mib}"
            )
        create_overlay(self.disk, path)
        qemu_img("resize", "-q", str(path), f"{size_mib}M")


def build_debian_image(
    images_dir: Path, *, mirror: str = DEFAULT_MIRROR, package_cache: Path | None = None
) -> DebianImage:
    """The Debian image under `images_dir`, built first if this recipe has none yet.

    `package_cache` keeps the downloaded .debs for the next build (debootstrap checks them
    against the mirror's signed index, so a stale or damaged one is fetched again).
    """
    built = built_debian_image(images_dir)
    if built is not None:
        return built
    folder = images_dir / f"{IMAGE_ID}-{recipe_digest()}"
    _check_host()
    images_dir.mkdir(parents=True, exist_ok=True)
    # Built aside and renamed into place, so a concurrent builder never sees half an image:
    # the first rename wins, the loser's copy is dropped.
    scratch = Path(tempfile.mkdtemp(prefix=f".{IMAGE_ID}-", dir=images_dir))
    scratch.chmod(0o755)  # mkdtemp makes it private; QEMU may run as another user
    tree = scratch / "tree"
    try:
        _debootstrap(tree, mirror, package_cache)
        guest.configure(tree, mirror)
        release = _kernel_release(tree)
        _hold_kernel(tree, release)
        for source, name in (
            (f"vmlinuz-{release}", "vmlinuz"),
            (f"initrd.img-{release}", "initrd.img"),
        ):
            shutil.copyfile(tree / "boot" / source, scratch / name)
            (scratch / name).chmod(0o644)  # QEMU may run as another user
        (scratch / "kernel-release").write_text(release + "\n")
        (scratch / "packages.txt").write_text(_manifest(tree))
        _make_disk(tree, scratch / "disk.qcow2")
        _remove_tree(tree)
        try:
            scratch.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        if tree.exists():
            _remove_tree(tree)
        shutil.rmtree(scratch, ignore_errors=True)
    return _image(folder)


def built_debian_image(images_dir: Path) -> DebianImage | None:
    """The Debian image of this recipe under `images_dir`, if it was built."""
    folder = images_dir / f"{IMAGE_ID}-{recipe_digest()}"
    return _image(folder) if folder.is_dir() else None


def recipe_digest() -> str:
    """What names the image's folder: the recipe's number, packages and guest settings."""
    recipe = hashlib.sha256(f"{RECIPE} {guest.SUITE} {BASE_DISK_MIB} {ROOT_LABEL}".encode())
    recipe.update(" ".join(guest.PACKAGES).encode())
    for name, text in sorted(guest.files().items()):
        recipe.update(f"{name}\0{text}\0".encode())
    recipe.update(" ".join(guest.MASKED_UNITS).encode())
    return recipe.hexdigest()[:12]


def _image(folder: Path) -> DebianImage:
    release = (folder / "kernel-release").read_text().strip()
    return DebianImage(folder / "disk.qcow2", folder / "vmlinuz", folder / "initrd.img", release)


def _check_host() -> None:
    if os.geteuid() != 0:
        raise DebianImageError(
            "building the Debian image needs root: debootstrap chroots, makes device nodes "
            "and sets file owners"
        )
    for tool, package in _TOOLS.items():
        if shutil.which(tool, path=_PATH) is None:
            raise DebianImageError(f"{tool} is not installed (apt-get install {package})")


def _run(command: list[str], what: str, timeout: float = _BUILD_TIMEOUT) -> str:
    environment = {"PATH": _PATH, "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=environment, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as slow:
        raise DebianImageError(f"{what} took more than {timeout:.0f} s") from slow
    if done.returncode != 0:
        # The end of the output is where debootstrap and mkfs say what went wrong.
        said = (done.stdout + done.stderr).strip()[-2000:]
        raise DebianImageError(f"{what} failed (exit {done.returncode}): {said}")
    return done.stdout


def _debootstrap(tree: Path, mirror: str, package_cache: Path | None) -> None:
    # The initramfs settings go in first: the kernel's package makes the initramfs as it is
    # installed, and making it again afterwards would cost as much once more.
    guest.preseed(tree)
    command = [
        "debootstrap",
        "--variant=minbase",  # Essential packages and apt; the rest is named in PACKAGES
        f"--include={','.join(guest.PACKAGES)}",
        "--components=main",
        "--merged-usr",
    ]
    if package_cache is not None:
        package_cache.mkdir(parents=True, exist_ok=True)
        command.append(f"--cache-dir={package_cache.resolve()}")
    _run([*command, guest.SUITE, str(tree), mirror], "debootstrap")


def _kernel_release(tree: Path) -> str:
    boot = tree / "boot"
    releases = [path.name.removeprefix("vmlinuz-") for path in boot.glob("vmlinuz-*")]
    if len(releases) != 1 or not (boot / f"initrd.img-{releases[0]}").is_file():
        found = ", ".join(sorted(path.name for path in boot.iterdir()))
        raise DebianImageError(f"expected one kernel and its initramfs in /boot, found: {found}")
    return releases[0]


def _hold_kernel(tree: Path, release: str) -> None:
    # QEMU boots the kernel kept beside the disk, not one from the guest's /boot, so the
    # guest's modules must stay those of that kernel: an upgrade to a newer kernel, then an
    # autoremove of this one, would leave it booting without its modules (no network).
    _run(
        [
            "chroot",
            str(tree),
            "apt-mark",
            "hold",
            "linux-image-cloud-amd64",
            f"linux-image-{release}",
        ],
        "holding the kernel's packages",
    )


def _manifest(tree: Path) -> str:
    # The image's package list, as cloud images publish it: what a security notice is
    # checked against.
    return _run(
        ["chroot", str(tree), "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
        "listing the image's packages",
    )


def _make_disk(tree: Path, disk: Path) -> None:
    raw = disk.with_suffix(".raw")
    with raw.open("wb") as out:
        out.truncate(BASE_DISK_MIB << 20)  # sparse: only what mkfs writes takes room
    try:
        _run(
            ["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-d", str(tree), str(raw)],
            f"making the root filesystem ({BASE_DISK_MIB} MiB)",
        )
        try:
            qemu_img("convert", "-O", "qcow2", str(raw), str(disk))
        except MachineError as failed:
            raise DebianImageError(str(failed)) from failed
    finally:
        raw.unlink(missing_ok=True)
    # Every instance's overlay reads the base: it must never be written again.
    disk.chmod(0o444)


def _remove_tree(tree: Path) -> None:
    """Delete a debootstrap tree, after unmounting whatever a killed debootstrap left
    mounted in it: deleting through a bind mount would delete the host's own files."""
    inside = [mount for mount in _mount_points() if mount == tree or tree in mount.parents]
    for mount in sorted(inside, key=lambda path: len(path.parts), reverse=True):
        subprocess.run(["umount", "--lazy", str(mount)], capture_output=True, check=False)
    if any(mount == tree or tree in mount.parents for mount in _mount_points()):
        raise DebianImageError(f"{tree} still has file systems mounted in it; left in place")
    shutil.rmtree(tree)


def _mount_points() -> list[Path]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        field = line.split()[4]
        # mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
        points.append(Path(_OCTAL.sub(lambda code: chr(int(code[1], 8)), field)))
    return points
