"""Compute, as the platform sees it before anything is built."""

from nexq.compute.admin import Installation, commands
from nexq.compute.schema import SCHEMA
from nexq.core.identity import Scope
from nexq.platform import Package

SCOPES = (
    Scope(
        "compute:read",
        "List the account's SSH keys, instances, snapshots and backups, read their consoles.",
    ),
    Scope(
        "compute:write",
        "Add, edit, set as default and delete SSH keys; launch, stop, start, reboot and "
        "delete instances; take, revert to and delete snapshots and backups.",
    ),
)
PACKAGE: Package[Installation] = Package("compute", SCHEMA, SCOPES, commands)
