"""The Debian image's guest side: its packages, and the files Nexq writes into its tree.

The settings here are what make a debootstrap'd Debian a cloud guest that boots quickly
under TCG: cloud-init looks only for a NoCloud seed, runs only the modules an instance
uses, and the SSH host keys, machine id and hostname are made per instance, on first boot.
"""

from __future__ import annotations

from pathlib import Path

SUITE = "bookworm"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"

# Beyond minbase (Essential and apt): what boots (systemd, udev, the cloud kernel; dbus,
# without which logind does not start and the ACPI power button that stops an instance is
# not heard), what a cloud guest needs (cloud-init, ssh, sudo, resize2fs in e2fsprogs, the
# agent QEMU's snapshots may use) and its network (ifupdown and a DHCP client,
# cloud-init's renderer on bookworm). python3-cffi-backend is named because debootstrap
# follows only real packages: python3-cryptography depends on a name it provides.
# libpam-systemd is left out: it would start a systemd --user for each first login, seconds
# under emulation.
PACKAGES = (
    "systemd-sysv",
    "udev",
    "dbus",
    "linux-image-cloud-amd64",
    "cloud-init",
    "python3-cffi-backend",
    "openssh-server",
    "sudo",
    "e2fsprogs",
    "qemu-guest-agent",
    "ifupdown",
    "isc-dhcp-client",
    "netbase",
    "iproute2",
)

# The root filesystem is the first virtio disk, ext4 over the whole of it (no partitions).
KERNEL_COMMAND_LINE = "root=/dev/vda rw console=ttyS0"

# Units that cost boot time and do nothing for an instance: e2scrub_reap looks for LVM
# snapshots there are none of.
MASKED_UNITS = ("e2scrub_reap.service",)

# Made before debootstrap installs the kernel, whose package makes the initramfs: the
# drivers for the root disk only (virtio is built as modules in Debian's kernels; ext4 is
# built in), rather than "most", which is three times the size and slower to unpack. The
# root's type is named because the fsck hook would otherwise probe the build host's
# /dev/vda for it, and leave fsck out of the initramfs. gzip: zstd is not installed.
INITRAMFS_CONF = "MODULES=list\nFSTYPE=ext4\nCOMPRESS=gzip\n"
INITRAMFS_MODULES = "virtio_pci\nvirtio_blk\n"

CLOUD_CONFIG = """\
# Nexq: the seed is a NoCloud disk (label cidata), nothing else. Probing the other
# datasources' metadata URLs would cost minutes at every first boot.
datasource_list: [NoCloud, None]
users: [default]
disable_root: true
ssh_pwauth: false
# Ed25519 and ECDSA host keys only: an RSA key takes seconds to make under emulation, and
# every OpenSSH client of the last ten years speaks one of these.
ssh_genkeytypes: [ed25519, ecdsa]
resize_rootfs: true
# The hostname in /etc/hosts, so that sudo and others resolve it without DNS.
manage_etc_hosts: true
system_info:
  default_user:
    name: debian
    lock_passwd: true
    gecos: Debian
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
# Only the modules an instance uses: each one is Python to import at every boot.
cloud_init_modules:
  - seed_random
  - bootcmd
  - write-files
  - resizefs
  - set_hostname
  - update_hostname
  - update_etc_hosts
  - users-groups
  - ssh
cloud_config_modules:
  - apt-configure
  - timezone
  - runcmd
cloud_final_modules:
  - package-update-upgrade-install
  - write-files-deferred
  - scripts-vendor
  - scripts-per-once
  - scripts-per-boot
  - scripts-per-instance
  - scripts-user
  - keys-to-console
  - final-message
  - power-state-change
"""

# Keys only, whatever a user-data or a package's default says. The host keys are named
# because only these two are made (sshd would otherwise look for an RSA key at each start).
SSHD_CONFIG = """\
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
"""

FSTAB = "/dev/vda / ext4 rw,discard,errors=remount-ro 0 1\n"

HOSTS = """\
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
"""


def sources(mirror: str) -> str:
    """apt's sources in deb822 form: the build's mirror, with the updates and security suites."""
    return (
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {SECURITY_MIRROR}\nSuites: {SUITE}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def files() -> dict[str, str]:
    """The files Nexq writes into the tree, by path (the apt sources apart)."""
    return {
        "etc/initramfs-tools/conf.d/nexq.conf": INITRAMFS_CONF,
        "usr/share/initramfs-tools/modules.d/nexq": INITRAMFS_MODULES,
        "etc/cloud/cloud.cfg.d/90_nexq.cfg": CLOUD_CONFIG,
        "etc/ssh/sshd_config.d/nexq.conf": SSHD_CONFIG,
        "etc/fstab": FSTAB,
        "etc/hosts": HOSTS,
        "etc/hostname": "debian\n",
    }


# dpkg syncs every file it unpacks, which is most of a build's time on a busy disk. The
# tree is thrown away if the build fails and copied into the disk image if it succeeds, so
# its files need not be durable one by one. Removed once the tree is built.
UNSAFE_IO = "etc/dpkg/dpkg.cfg.d/nexq-unsafe-io"
_PRESEEDED = ("etc/initramfs-tools/conf.d/nexq.conf", "usr/share/initramfs-tools/modules.d/nexq")


def preseed(tree: Path) -> None:
    """Before debootstrap: what the packages' installation should already see."""
    tree.mkdir()
    tree.chmod(0o755)  # the guest's / ; mkdir's mode would be cut by the builder's umask
    for name in _PRESEEDED:
        _write(tree / name, files()[name])
    _write(tree / UNSAFE_IO, "force-unsafe-io\n")


def configure(tree: Path, mirror: str) -> None:
    """After debootstrap: make the tree a cloud image that every instance starts afresh."""
    for name, text in files().items():
        _write(tree / name, text)
    (tree / UNSAFE_IO).unlink()
    (tree / "etc/apt/sources.list").unlink(missing_ok=True)
    _write(tree / "etc/apt/sources.list.d/debian.sources", sources(mirror))
    # Made per instance on first boot: host keys by cloud-init, the machine id by systemd
    # (an empty file is its sign of a first boot), resolv.conf by the DHCP client. The
    # build host's own resolv.conf was copied in by debootstrap.
    for key in (tree / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (tree / "etc/machine-id").write_text("")
    (tree / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (tree / "etc/resolv.conf").unlink(missing_ok=True)
    for unit in MASKED_UNITS:
        masked = tree / "etc/systemd/system" / unit
        masked.unlink(missing_ok=True)
        masked.symlink_to("/dev/null")
    # The downloaded packages and the mirror's index: apt fetches a fresh index when used.
    for leftover in (tree / "var/cache/apt/archives").glob("*.deb"):
        leftover.unlink()
    for index in (tree / "var/lib/apt/lists").glob("*_*"):
        index.unlink()
    for cache in (tree / "var/cache/apt").glob("*.bin"):
        cache.unlink()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    # Whatever the builder's umask: /etc/hosts and the rest are read by every user.
    path.chmod(0o644)
