"""Compute's domain errors; each protocol maps them."""

from nexq.core.errors import Conflict, NotFound


class NoSuchSshKey(NotFound):
    """The SSH key does not exist (or belongs to another account)."""


class SshKeyNameTaken(Conflict):
    """The account has an SSH key of that name already."""


class SshKeyAdded(Conflict):
    """The account has this public key already, under another name."""


class NoSuchInstance(NotFound):
    """The instance does not exist (or belongs to another account)."""


class InstanceExists(Conflict):
    """The account has an instance of that name already."""


class WrongState(Conflict):
    """The instance's state does not allow the action now (stop a stopped one, ...)."""


class NoSuchCopy(NotFound):
    """The snapshot or backup does not exist (or belongs to another account)."""


class CopyExists(Conflict):
    """The account has a snapshot (or backup) of that name already."""


class CopyBusy(Conflict):
    """The snapshot or backup is not Available (still being made, reverted to, deleted)."""


class ImageNotReady(Conflict):
    """The image exists but is not built on this host yet (the operator builds it)."""
