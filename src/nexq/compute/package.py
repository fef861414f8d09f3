"""Compute, as the platform sees it before anything is built."""

from nexq.compute.schema import SCHEMA
from nexq.core.identity import Scope
from nexq.platform import Package

SCOPES = (
    Scope("compute:read", "List the account's SSH keys and instances, read their consoles."),
    Scope(
        "compute:write",
        "Add, edit, set as default and delete SSH keys; launch, stop, start, reboot and "
        "delete instances.",
    ),
)
PACKAGE: Package[object] = Package("compute", SCHEMA, SCOPES)
