"""Compute's instances: their states, sizes and images, and the rules on their names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from nexq.core.errors import Invalid

INSTANCES_LIMIT = "instances"
VCPUS_LIMIT = "instance_vcpus"
MEMORY_LIMIT = "instance_memory_bytes"
ID_PREFIX = "vm-"
_NAME = re.compile(r"[a-z][a-z0-9-]{0,61}[a-z0-9]|[a-z]")


class Status(StrEnum):
    """An instance's state, as the console shows it."""

    PENDING = "Pending"  # waiting for room on the host (the reason says which)
    PROVISIONING = "Provisioning"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    STARTING = "Starting"
    REBOOTING = "Rebooting"
    DELETING = "Deleting"
    REVERTING = "Reverting"  # its disk is being put back to a snapshot (it was Stopped)
    ERROR = "Error"  # the reason says what failed


# What each action asks of an instance in each state: the state it moves to.
# One waiting for room (or being launched) may be stopped too: it stops waiting.
STOP_FROM = (Status.RUNNING, Status.STARTING, Status.REBOOTING, Status.PENDING, Status.PROVISIONING)
START_FROM = (Status.STOPPED, Status.ERROR)
REBOOT_FROM = (Status.RUNNING,)
# Every state but Deleting: an owner may delete an instance whatever it is doing.
DELETE_FROM = tuple(s for s in Status if s != Status.DELETING)


@dataclass(frozen=True, slots=True)
class Image:
    """What an instance boots: its login user and how the SSH key reaches it."""

    id: str
    title: str
    user: str


TINY = "tiny"
DEBIAN_12 = "debian-12"
IMAGES = {
    TINY: Image(TINY, "Tiny (a Linux kernel, busybox and dropbear; boots in seconds)", "root"),
    DEBIAN_12: Image(
        DEBIAN_12, "Debian 12 (bookworm): a cloud image with cloud-init and apt", "debian"
    ),
}


@dataclass(frozen=True, slots=True)
class Size:
    """An instance size: what the guest gets."""

    id: str
    name: str
    vcpus: int
    memory_mib: int
    disk_gib: int


@dataclass(frozen=True, slots=True)
class Instance:
    """A virtual machine of an account."""

    id: str
    account_id: str
    name: str
    image: str
    size: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    ssh_key_id: str
    ssh_key_name: str
    public_key: str  # the key as it was at launch: deleting the key leaves the guest as is
    status: Status
    reason: str
    ssh_port: int | None
    created_at: float
    updated_at: float
    source: str = ""  # the snapshot or backup its disk was made from, if any
    backup_keep: int = 0  # daily backups kept (0: none taken)

    @property
    def user(self) -> str:
        """The user to log in as."""
        image = IMAGES.get(self.image)
        return image.user if image else "root"


def count_refusal(count: int) -> str:
    """Why one more instance is refused at the account's instances limit."""
    return (
        f"The account has {count} instances, its {INSTANCES_LIMIT} limit; delete one it no "
        "longer uses or ask for a higher tier."
    )


def check_instance_name(name: str) -> str:
    """An instance's name: a DNS label (it becomes the guest's host name)."""
    if not _NAME.fullmatch(name):
        raise Invalid(
            "name: 1 to 63 lowercase letters, digits and hyphens, starting with a letter and "
            f"not ending with a hyphen (e.g. web-1); got {name!r}."
        )
    return name


def image_of(image_id: str) -> Image:
    try:
        return IMAGES[image_id]
    except KeyError:
        raise Invalid(
            f"image: {image_id!r} is not an image; choose from {', '.join(IMAGES)}."
        ) from None
