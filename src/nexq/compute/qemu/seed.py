"""The NoCloud seed disk: how a cloud image's cloud-init learns its hostname and SSH keys.

cloud-init's NoCloud datasource reads `meta-data` and `user-data` from a filesystem labelled
"cidata". The seed is an ISO 9660 image made by xorriso: the format cloud-init's own
documentation and cloud-localds use, written by a tool Debian keeps current (genisoimage's
cdrkit has had no upstream release since 2010), and read-only by nature, which suits a disk
the guest must not write to. xorriso's mkisofs emulation takes the same options as
genisoimage, so either reads the same.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

XORRISO = "xorriso"
SEED_LABEL = "cidata"  # the volume label NoCloud looks for (case-insensitive)
_HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TIMEOUT = 60.0


class SeedError(Exception):
    """The seed cannot be made: bad hostname, id or key, or xorriso failed."""


def meta_data(instance_id: str, hostname: str) -> str:
    """NoCloud's meta-data: a new instance-id is what makes cloud-init run its first boot."""
    if not _INSTANCE_ID.fullmatch(instance_id):
        raise SeedError(f"{instance_id!r} is not an instance id (letters, digits, . _ -)")
    if not _HOSTNAME.fullmatch(hostname):
        raise SeedError(f"{hostname!r} is not a hostname (a-z, 0-9 and -, 63 at most)")
    return f"instance-id: {instance_id}\nlocal-hostname: {hostname}\n"


def user_data(authorized_keys: str) -> str:
    """#cloud-config giving the image's default user (debian) these keys, one a line.

    Each key is written as a JSON string, which YAML reads as a double-quoted scalar: a
    comment in a key line cannot turn into YAML of its own.
    """
    keys = [line.strip() for line in authorized_keys.splitlines()]
    keys = [key for key in keys if key and not key.startswith("#")]
    if not keys:
        raise SeedError("no SSH public key for the instance")
    for key in keys:
        if any(ord(char) < 0x20 for char in key):
            raise SeedError(f"an SSH public key holds a control character: {key[:40]!r}")
    lines = ["#cloud-config", "ssh_authorized_keys:"]
    lines += [f"  - {json.dumps(key)}" for key in keys]
    return "\n".join(lines) + "\n"


def write_seed(path: Path, *, instance_id: str, hostname: str, authorized_keys: str) -> None:
    """Write the seed disk image (raw ISO 9660, labelled "cidata") to `path`."""
    files = {
        "meta-data": meta_data(instance_id, hostname),
        "user-data": user_data(authorized_keys),
    }
    with tempfile.TemporaryDirectory(prefix=".seed-", dir=path.parent) as folder:
        for name, text in files.items():
            (Path(folder) / name).write_text(text)
        scratch = Path(folder) / "seed.iso"
        command = [
            XORRISO,
            *("-as", "mkisofs", "-quiet", "-output", str(scratch), "-volid", SEED_LABEL),
            # Rock Ridge and Joliet keep the names as written ("meta-data"), not 8.3 upper case.
            *("-joliet", "-rock", *(str(Path(folder) / name) for name in files)),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=_TIMEOUT, check=False
            )
        except FileNotFoundError as missing:
            raise SeedError(f"{XORRISO} is not installed (xorriso)") from missing
        if done.returncode != 0:
            raise SeedError(f"xorriso could not write the seed: {done.stderr.strip()}")
        scratch.replace(path)
