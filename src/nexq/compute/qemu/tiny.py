"""The tiny image: Debian's stock kernel and an initramfs with busybox and dropbear.

Made once from packages installed on the host (linux-image-cloud-amd64, busybox-static,
dropbear-bin) into a folder named after its inputs, and reused by every instance: a kernel
upgrade or a change to the guest scripts gives a new folder rather than a stale image.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nexq.compute.qemu import guest
from nexq.compute.qemu.cpio import CpioWriter
from nexq.compute.qemu.machine import Boot

# Bump when the image's layout changes in a way the guest scripts' text does not show.
RECIPE = 1
BUSYBOX = Path("/bin/busybox")
DROPBEAR = Path("/usr/sbin/dropbear")
DROPBEARKEY = Path("/usr/bin/dropbearkey")
# The drivers the guest needs that Debian's kernels build as modules: disk, network and
# entropy on virtio, fw_cfg for the key, the ACPI button and evdev for acpid.
MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "virtio-rng", "qemu_fw_cfg", "button", "evdev")
_LDD_PATH = re.compile(r"(/\S+)")
_HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class TinyImageError(Exception):
    """The tiny image cannot be made on this host, or booted as asked."""


@dataclass(frozen=True)
class TinyImage:
    """A built tiny image: what QEMU's -kernel and -initrd take."""

    kernel: Path
    initrd: Path
    kernel_release: str

    def boot(self, hostname: str, *, kernel_arguments: str = "") -> Boot:
        """How QEMU boots this image for one instance; its hostname rides on the command line."""
        if not _HOSTNAME.fullmatch(hostname):
            raise TinyImageError(f"{hostname!r} is not a hostname (a-z, 0-9 and -, 63 at most)")
        cmdline = f"console=ttyS0 nexq.hostname={hostname} {kernel_arguments}".strip()
        return Boot(self.kernel, self.initrd, cmdline)


@dataclass(frozen=True)
class HostKernel:
    """An installed Debian kernel: its image and its modules folder."""

    release: str
    vmlinuz: Path
    modules: Path


def host_kernel(boot: Path = Path("/boot"), modules: Path = Path("/lib/modules")) -> HostKernel:
    """The installed kernel to boot guests with, the cloud flavour first (smaller, boots faster)."""
    newest_first = sorted(boot.glob("vmlinuz-*"), key=_release_order, reverse=True)
    found = sorted(newest_first, key=lambda path: "-cloud-" not in path.name)
    for vmlinuz in found:
        release = vmlinuz.name.removeprefix("vmlinuz-")
        if (modules / release / "modules.dep").is_file():
            return HostKernel(release, vmlinuz, modules / release)
    raise TinyImageError(
        f"no kernel with modules under {boot} and {modules}: install linux-image-cloud-amd64"
    )


def _release_order(vmlinuz: Path) -> list[tuple[int, str]]:
    # 6.1.0-57 is newer than 6.1.0-9: numbers compare as numbers.
    return [
        (int(part), "") if part.isdigit() else (-1, part)
        for part in re.split(r"(\d+)", vmlinuz.name)
    ]


def build_tiny_image(cache: Path, kernel: HostKernel | None = None) -> TinyImage:
    """The tiny image under `cache`, built first if this kernel and recipe have none yet."""
    kernel = kernel or host_kernel()
    for tool in (BUSYBOX, DROPBEAR, DROPBEARKEY):
        if not tool.is_file():
            raise TinyImageError(f"{tool} is missing: install busybox-static and dropbear-bin")
    folder = cache / f"tiny-{kernel.release}-{_recipe_digest()}"
    image = TinyImage(folder / "vmlinuz", folder / "initrd.gz", kernel.release)
    if folder.is_dir():
        return image
    cache.mkdir(parents=True, exist_ok=True)
    # Built aside and renamed into place, so a concurrent builder (another test worker)
    # never sees half an image: the first rename wins, the loser's copy is dropped.
    scratch = Path(tempfile.mkdtemp(prefix=".tiny-", dir=cache))
    scratch.chmod(0o755)  # mkdtemp makes it private; QEMU may run as another user
    try:
        shutil.copyfile(kernel.vmlinuz, scratch / "vmlinuz")
        with (
            (scratch / "initrd.gz").open("wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out,
        ):
            _write_initramfs(CpioWriter(out), kernel)
        try:
            scratch.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return image


def module_load_order(modules_dep: Path, wanted: tuple[str, ...]) -> list[str]:
    """The module files to insmod, each after the modules it depends on (per modules.dep)."""
    depends: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in modules_dep.read_text().splitlines():
        module, _, deps = line.partition(":")
        depends[module] = deps.split()
        by_name[_module_name(module)] = module
    order: list[str] = []

    def visit(module: str) -> None:
        if module in order:
            return
        for dependency in depends.get(module, []):
            visit(dependency)
        order.append(module)

    for name in wanted:
        found = by_name.get(_module_name(name))
        if found is None:
            raise TinyImageError(f"kernel module {name} not found in {modules_dep}")
        visit(found)
    return order


def _module_name(path: str) -> str:
    # modprobe treats - and _ alike in module names; so does this lookup.
    return Path(path).name.removesuffix(".ko").replace("-", "_")


def _write_initramfs(archive: CpioWriter, kernel: HostKernel) -> None:
    for folder in ("bin", "dev", "etc/dropbear", "proc", "sys", "tmp", "run"):
        archive.directory(folder)
    archive.directory("root", 0o700)
    archive.char_device("dev/console", 5, 1)
    archive.char_device("dev/null", 1, 3, 0o666)
    archive.file("init", guest.INIT.encode(), 0o755)
    archive.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    archive.file("etc/inittab", guest.INITTAB.encode())
    archive.file("etc/acpi/PWRF/00000080", guest.POWER_BUTTON.encode(), 0o755)
    archive.file("etc/udhcpc.script", guest.UDHCPC_SCRIPT.encode(), 0o755)
    archive.file("etc/passwd", guest.USERS.encode())
    archive.file("etc/group", guest.GROUP.encode())
    archive.file("etc/shells", guest.SHELLS.encode())
    archive.file("etc/nsswitch.conf", guest.NSSWITCH.encode())
    _add_dynamic_binaries(archive, (DROPBEAR, DROPBEARKEY))
    order = module_load_order(kernel.modules / "modules.dep", MODULES)
    for module in order:
        archive.file(f"lib/modules/{Path(module).name}", (kernel.modules / module).read_bytes())
    archive.file("lib/modules/load-order", "".join(f"{Path(m).name}\n" for m in order).encode())
    archive.close()


def _add_dynamic_binaries(archive: CpioWriter, binaries: tuple[Path, ...]) -> None:
    # Debian ships no static dropbear: copy it with the shared libraries ldd names, at the
    # paths ldd names them, so the guest's loader finds them where the host's does.
    needed: dict[str, Path] = {}
    for binary in binaries:
        needed[str(binary)] = binary
        listing = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, check=True
        ).stdout
        for line in listing.splitlines():
            match = _LDD_PATH.search(line.split("=>")[-1])
            if match:
                needed[match.group(1)] = Path(match.group(1))
    for path, source in sorted(needed.items()):
        archive.file(path, source.resolve().read_bytes(), 0o755)


def _recipe_digest() -> str:
    recipe = hashlib.sha256(str(RECIPE).encode())
    for text in (guest.INIT, guest.INITTAB, guest.POWER_BUTTON, guest.UDHCPC_SCRIPT, guest.USERS):
        recipe.update(text.encode())
    recipe.update(" ".join(MODULES).encode())
    for tool in (BUSYBOX, DROPBEAR):
        recipe.update(str(tool.stat().st_size).encode())
    return recipe.hexdigest()[:12]
