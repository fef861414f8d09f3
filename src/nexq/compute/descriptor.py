"""Compute as the platform sees it: its routes, pages, limits and guide."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexq.compute.copier import Copier
from nexq.compute.copies import Copies
from nexq.compute.departure import departure
from nexq.compute.disk_copy import CopyKind
from nexq.compute.instance import INSTANCES_LIMIT, MEMORY_LIMIT, VCPUS_LIMIT
from nexq.compute.instances import Instances
from nexq.compute.metering import ComputeMeter, meters
from nexq.compute.model import SSH_KEYS_LIMIT
from nexq.compute.provisioner import Provisioner
from nexq.compute.ssh_keys import SshKeys
from nexq.core.quotas import BYTES, COUNT, Limit
from nexq.platform import Job, Service
from nexq.web.console.layout import NavLink, NavSection
from nexq.web.guide.section import GuidePage, GuideSection

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexq.web.console.web import Pages
    from nexq.web.rest.security import Authorizer

NAVIGATION = NavSection(
    "Compute",
    (
        NavLink("Instances", "/compute/instances"),
        NavLink("Snapshots", "/compute/snapshots"),
        NavLink("Backups", "/compute/backups"),
        NavLink("SSH Keys", "/compute/ssh-keys"),
    ),
)
# How often the provisioner brings every instance to its state.
RECONCILE_SECONDS = 1.0
# Compute's user guide: src/nexq/compute/guide/<slug>.md, in reading order.
GUIDE = GuideSection(
    "Compute",
    "nexq.compute",
    (
        GuidePage("overview", "Compute overview"),
        GuidePage("manage-ssh-keys", "Manage SSH keys"),
        GuidePage("launch-instance", "Launch and manage instances"),
        GuidePage("connect-ssh", "Connect with SSH"),
        GuidePage("manage-snapshots", "Manage snapshots"),
        GuidePage("manage-backups", "Manage backups"),
    ),
)


def descriptor(
    ssh_keys: SshKeys,
    instances: Instances,
    provisioner: Provisioner,
    meter: ComputeMeter,
    copies: Copies,
    copier: Copier,
) -> Service:
    """Compute's descriptor."""

    def rest(auth: Authorizer) -> list[APIRouter]:
        from nexq.compute import api, api_copies, api_instances

        return [
            api.router(ssh_keys, auth),
            api_instances.router(instances, auth),
            api_copies.router(copies, instances, auth),
        ]

    def console(pages: Pages) -> list[APIRouter]:
        from nexq.compute import console, console_copies, console_instances

        return [
            console.router(ssh_keys, pages),
            console_instances.router(instances, ssh_keys, copies, pages),
            console_copies.router(copies, pages),
        ]

    return Service(
        name="compute",
        title="Compute",
        departure=departure(instances, copies, ssh_keys),
        rest=rest,
        console=console,
        built_on_first_request=("/v1/compute", "/compute"),
        templates="nexq.compute",
        navigation=NAVIGATION,
        guide=GUIDE,
        meters=meters(instances.sizes),
        meter_provider=meter,
        limits=(
            Limit(
                SSH_KEYS_LIMIT, "SSH keys", COUNT, "SSH public keys of the account", ssh_keys.count
            ),
            Limit(INSTANCES_LIMIT, "Instances", COUNT, "Instances of the account", instances.count),
            Limit(
                VCPUS_LIMIT,
                "Instance vCPUs",
                COUNT,
                "vCPUs of the account's instances together",
                instances.vcpus_of,
            ),
            Limit(
                MEMORY_LIMIT,
                "Instance memory",
                BYTES,
                "Memory of the account's instances together",
                instances.memory_of,
            ),
            *(
                Limit(
                    kind.limit,
                    f"{kind.title()}s",
                    COUNT,
                    f"{kind.title()}s of the account's instances (kept after an instance is "
                    "deleted)",
                    copies.count(kind),
                )
                for kind in CopyKind
            ),
        ),
        jobs=(
            # One process of the installation launches, stops and removes machines; a lane of
            # its own, as a launch takes a moment.
            Job(
                "compute-provisioner",
                RECONCILE_SECONDS,
                provisioner.run_once,
                lane="compute",
                once=True,
            ),
            # Snapshots and backups: exporting a disk takes a while, so a lane of its own.
            Job(
                "compute-copier",
                RECONCILE_SECONDS,
                copier.run_once,
                lane="compute-copies",
                once=True,
            ),
        ),
    )
