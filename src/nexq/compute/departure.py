"""Compute's part in deleting an account: instances, snapshots and backups block it; SSH
keys go along (public keys: nothing of the holder's is lost with them)."""

from __future__ import annotations

from nexq.compute.copies import Copies
from nexq.compute.disk_copy import CopyKind
from nexq.compute.instances import Instances
from nexq.compute.ssh_keys import SshKeys
from nexq.core.holdings import Departure, Held, held_of
from nexq.core.identity import Principal


def departure(instances: Instances, copies: Copies, ssh_keys: SshKeys) -> Departure:
    def held(owner: Principal) -> list[Held]:
        return [
            *held_of("instance", "instances", [i.name for i in instances.listed(owner)]),
            *held_of(
                "snapshot", "snapshots", [c.name for c in copies.listed(owner, CopyKind.SNAPSHOT)]
            ),
            *held_of("backup", "backups", [c.name for c in copies.listed(owner, CopyKind.BACKUP)]),
        ]

    def settle(owner: Principal) -> None:
        for key in ssh_keys.all(owner):
            ssh_keys.delete(owner, key.id)

    return Departure(held, settle)
