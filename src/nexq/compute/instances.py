"""Use cases of an account's instances: launch (checked against the tier's limits), list,
stop, start, reboot, delete, and the serial console's last lines.

The use cases only write what the owner asked for (a state such as Stopping); the
provisioner on the host does the work and moves the instance on (see provisioner.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nexq.compute.errors import ImageNotReady, InstanceExists, NoSuchInstance, WrongState
from nexq.compute.instance import (
    DELETE_FROM,
    ID_PREFIX,
    INSTANCES_LIMIT,
    MEMORY_LIMIT,
    REBOOT_FROM,
    START_FROM,
    STOP_FROM,
    VCPUS_LIMIT,
    Instance,
    Size,
    Status,
    check_instance_name,
    count_refusal,
    image_of,
)
from nexq.compute.model import SshKey
from nexq.compute.port import SshKeyStore
from nexq.compute.sizes import SizeCatalog
from nexq.compute.sql_instances import SqlInstances
from nexq.core.errors import Invalid, QuotaExceeded
from nexq.core.identity import Principal
from nexq.core.ids import random_string
from nexq.core.quotas import NoQuotas, Quotas

MIB = 1024 * 1024
MAX_CONSOLE_LINES = 1000


class Instances:
    """The instances of each account."""

    def __init__(
        self,
        store: SqlInstances,
        ssh_keys: SshKeyStore,
        sizes: SizeCatalog,
        serial_tail: Callable[[str, int], list[str]],
        quotas: Quotas | None = None,
        clock: Callable[[], float] = time.time,
        endpoint: str = "localhost",
        image_ready: Callable[[str], bool] = lambda image_id: True,
    ) -> None:
        self.endpoint = endpoint  # the host users ssh to
        self._store = store
        self._ssh_keys = ssh_keys
        self.sizes = sizes
        self._serial_tail = serial_tail
        self._quotas: Quotas = quotas or NoQuotas()
        self._clock = clock
        self.image_ready = image_ready

    def launch(
        self,
        caller: Principal,
        name: str,
        image: str,
        size: str,
        ssh_key: str | None = None,
        source: str = "",
    ) -> Instance:
        """A new instance, Provisioning; ``ssh_key``: a key's id or name (default: the
        account's default key); ``source``: the snapshot or backup its disk is made from."""
        account_id = caller.account.id
        check_instance_name(name)
        chosen_image = image_of(image)
        if not self.image_ready(chosen_image.id):
            raise ImageNotReady(
                f"image: {chosen_image.id} is not built on this host yet; an operator builds "
                f"it with `nexq admin images build {chosen_image.id}`."
            )
        chosen = self.sizes.get(size)
        key = self._key(account_id, ssh_key)
        if self._store.named(account_id, name) is not None:  # said before any limit
            raise InstanceExists(f"name: the account has an instance named {name!r}.")
        self._check_limits(account_id, chosen)
        now = self._clock()
        instance = Instance(
            id=ID_PREFIX + random_string(12).lower(),
            account_id=account_id,
            name=name,
            image=chosen_image.id,
            size=chosen.id,
            vcpus=chosen.vcpus,
            memory_mib=chosen.memory_mib,
            disk_gib=chosen.disk_gib,
            ssh_key_id=key.id,
            ssh_key_name=key.name,
            public_key=key.public_key,
            status=Status.PROVISIONING,
            reason="",
            ssh_port=None,
            created_at=now,
            updated_at=now,
            source=source,
        )
        self._store.add(instance, self._quotas.limit(account_id, INSTANCES_LIMIT))
        return instance

    def listed(self, caller: Principal) -> list[Instance]:
        return self._store.of_account(caller.account.id)

    def get(self, caller: Principal, name: str) -> Instance:
        found = self._store.named(caller.account.id, name)
        if found is None:
            raise NoSuchInstance(f"The account has no instance named {name!r}.")
        return found

    def stop(self, caller: Principal, name: str) -> Instance:
        """ACPI shutdown (forced after a timeout): Stopping, then Stopped."""
        return self._move(caller, name, Status.STOPPING, STOP_FROM, "stopped")

    def start(self, caller: Principal, name: str) -> Instance:
        return self._move(caller, name, Status.STARTING, START_FROM, "started")

    def reboot(self, caller: Principal, name: str) -> Instance:
        return self._move(caller, name, Status.REBOOTING, REBOOT_FROM, "rebooted")

    def delete(self, caller: Principal, name: str) -> Instance:
        """Deleting: its machine is stopped and its disk removed within seconds."""
        return self._move(caller, name, Status.DELETING, DELETE_FROM, "deleted")

    def console(self, caller: Principal, name: str, lines: int = 100) -> list[str]:
        """The last ``lines`` lines of the instance's serial console."""
        if not 1 <= lines <= MAX_CONSOLE_LINES:
            raise Invalid(f"lines: 1 to {MAX_CONSOLE_LINES}.")
        return self._serial_tail(self.get(caller, name).id, lines)

    def ssh_command(self, instance: Instance) -> str | None:
        """The ready ``ssh`` line (None until the instance has its port)."""
        if instance.ssh_port is None:
            return None
        return f"ssh -p {instance.ssh_port} {instance.user}@{self.endpoint}"

    def count(self, account_id: str) -> int:
        return len(self._store.of_account(account_id))

    def vcpus_of(self, account_id: str) -> int:
        return sum(i.vcpus for i in self._store.of_account(account_id))

    def memory_of(self, account_id: str) -> int:
        return sum(i.memory_mib * MIB for i in self._store.of_account(account_id))

    def _move(
        self,
        caller: Principal,
        name: str,
        to: Status,
        allowed: tuple[Status, ...],
        done: str,
    ) -> Instance:
        instance = self.get(caller, name)
        if not self._store.set_status(instance.id, to, "", allowed):
            now = self.get(caller, name).status
            raise WrongState(
                f"Instance {name!r} is {now}; it can be {done} only when {' or '.join(allowed)}."
            )
        return self.get(caller, name)

    def _key(self, account_id: str, wanted: str | None) -> SshKey:
        keys = self._ssh_keys.list_ssh_keys(account_id)
        if not keys:
            raise Invalid(
                "ssh_key: the account has no SSH key; add your public key first "
                "(Compute → SSH Keys, or dcp compute ssh-keys add)."
            )
        if wanted is None:
            return next(k for k in keys if k.default)
        for key in keys:
            if wanted in (key.id, key.name):
                return key
        raise Invalid(
            f"ssh_key: the account has no SSH key {wanted!r}; its keys: "
            f"{', '.join(k.name for k in keys)}."
        )

    def _check_limits(self, account_id: str, size: Size) -> None:
        held = self._store.of_account(account_id)
        limit = self._quotas.limit(account_id, INSTANCES_LIMIT)
        if limit is not None and len(held) >= limit:  # checked again as the row is written
            raise QuotaExceeded(INSTANCES_LIMIT, count_refusal(len(held)))
        wanted = {
            VCPUS_LIMIT: (size.vcpus, [i.vcpus for i in held], "vCPUs", 1),
            MEMORY_LIMIT: (
                size.memory_mib * MIB,
                [i.memory_mib * MIB for i in held],
                "MiB of memory",
                MIB,
            ),
        }
        for name, (adding, each, what, unit) in wanted.items():
            limit = self._quotas.limit(account_id, name)
            used = sum(each)
            if limit is not None and used + adding > limit:
                raise QuotaExceeded(
                    name,
                    f"size: {size.id} needs {adding // unit} {what}; the account's instances "
                    f"hold {used // unit} of its limit of {limit // unit}. Choose a smaller size, "
                    "delete an instance or ask for a higher tier.",
                )
