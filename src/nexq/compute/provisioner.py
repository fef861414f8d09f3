"""The provisioner: brings every instance on this host to the state its row asks for.

One process of the installation runs it every second (a job ``once``). It places new
instances (an SSH port, room in the host's vCPUs and memory, else Pending), launches them,
presses the power button of those asked to stop (forcing them off after a timeout), resets
those asked to reboot, starts those asked to start, deletes those asked to be deleted, and
starts again a machine that died under a Running instance (a crash of QEMU, a reboot of the
host). A guest that powered itself off is Stopped, as the owner asked from inside it. Each
step can be repeated, so a crash of Nexq at any point is finished by the next pass.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace

from nexq.compute.host import DiskNotReady, Host, HostError, port_free
from nexq.compute.instance import DELETE_FROM, Instance, Status
from nexq.compute.sql_instances import SqlInstances
from nexq.core.port_ranges import parse_ports

log = logging.getLogger("nexq.compute")
# How long a guest has to shut down after the power button before it is forced off.
STOP_TIMEOUT = 30.0
# How often the button is pressed again meanwhile.
PRESS_AGAIN_SECONDS = 3.0
# Instances whose machine runs, or is about to: what they hold of the host.
HOLDING = (Status.PROVISIONING, Status.RUNNING, Status.STARTING, Status.STOPPING, Status.REBOOTING)


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the operator lets instances take of this host (docs/compute.md)."""

    vcpus: int
    memory_mib: int
    ports: tuple[int, ...]

    @staticmethod
    def of_host(vcpus: int, memory_mib: int, ports: str) -> Capacity:
        """The configured capacity; 0 means two vCPUs per core, and half the memory."""
        if not vcpus:
            vcpus = 2 * (os.cpu_count() or 1)
        if not memory_mib:
            memory_mib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20 // 2
        return Capacity(vcpus, memory_mib, parse_ports(ports, "compute"))


class Provisioner:
    """Instances' machines on this host, reconciled with their rows."""

    def __init__(
        self,
        store: SqlInstances,
        host: Host,
        capacity: Capacity,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self._store = store
        self._host = host
        self._capacity = capacity
        self._stop_timeout = stop_timeout
        self._stopping_since: dict[str, float] = {}
        self._pressed_at: dict[str, float] = {}

    def run_once(self) -> None:
        """One pass over every instance (the provisioner's job)."""
        if not self._store.live() and not self._host.instance_ids():
            return  # nothing to do: an installation that never used Compute gets no folder
        with self._host.exclusive():
            live = self._store.live()
            for instance in live:
                try:
                    self._reconcile(instance)
                except Exception as exc:
                    if not isinstance(exc, HostError):
                        log.exception("instance %s: reconcile failed", instance.id)
                    reason = str(exc)[:500] or type(exc).__name__
                    log.warning("instance %s: Error: %s", instance.id, reason)
                    self._store.set_status(instance.id, Status.ERROR, reason, DELETE_FROM)
            owned = {i.id for i in live}
            for folder in self._host.instance_ids():
                if folder not in owned:
                    log.info("removing instance folder %s: no instance owns it", folder)
                    self._host.remove(folder)

    def _reconcile(self, instance: Instance) -> None:
        status, machine = instance.status, self._host.machine(instance.id)
        if status == Status.DELETING:
            self._host.remove(instance.id)
            self._store.mark_deleted(instance.id)
            log.info("instance %s deleted", instance.id)
        elif status in (Status.PROVISIONING, Status.PENDING, Status.STARTING):
            if machine.running():
                self._store.set_status(instance.id, Status.RUNNING, "", (status,))
                return
            placed = self._place(instance)
            if placed is None:
                return
            try:
                self._host.launch(placed)
            except DiskNotReady as waiting:  # the copier is fetching its backup
                if instance.reason != str(waiting) or instance.status != placed.status:
                    self._store.set_status(
                        instance.id, placed.status, str(waiting), (placed.status,)
                    )
                return
            self._store.set_status(instance.id, Status.RUNNING, "", (placed.status,))
        elif status == Status.STOPPING:
            self._stop(instance)
        elif status == Status.REBOOTING:
            if machine.running():
                machine.reset()
            else:
                self._host.launch(instance)
            self._store.set_status(instance.id, Status.RUNNING, "", (Status.REBOOTING,))
        elif status == Status.RUNNING and machine.powered_off():
            machine.kill()
            self._store.set_status(
                instance.id, Status.STOPPED, "The guest shut itself down.", (Status.RUNNING,)
            )
        elif status == Status.RUNNING and not machine.running():
            log.warning("instance %s: its machine stopped; starting it again", instance.id)
            self._host.launch(instance)
        elif status == Status.RUNNING:
            self._host.trim_serial_log(instance.id)
        elif status in (Status.STOPPED, Status.ERROR) and machine.running():
            machine.kill()  # e.g. a machine left over from before a crash of Nexq

    def _stop(self, instance: Instance) -> None:
        """The power button, pressed again every few seconds (a guest still booting has
        nothing listening for it yet, and the press is lost); forced off past the timeout."""
        machine = self._host.machine(instance.id)
        if machine.running() and not machine.powered_off():
            now = time.monotonic()
            since = self._stopping_since.get(instance.id)
            if since is None:
                machine.press_power_button()
                self._stopping_since[instance.id] = now
                self._pressed_at[instance.id] = now
                return
            if now - since < self._stop_timeout:
                if now - self._pressed_at.get(instance.id, since) >= PRESS_AGAIN_SECONDS:
                    machine.press_power_button()
                    self._pressed_at[instance.id] = now
                return
            log.warning(
                "instance %s: no shutdown within %.0f s; forced off",
                instance.id,
                self._stop_timeout,
            )
        if machine.running():
            machine.kill()
        self._stopping_since.pop(instance.id, None)
        self._pressed_at.pop(instance.id, None)
        self._store.set_status(instance.id, Status.STOPPED, "", (Status.STOPPING,))

    def _place(self, instance: Instance) -> Instance | None:
        """The instance with its SSH port, when the host has room for it to run (a new
        one, or a stopped one started again); else None, and it waits Pending."""
        # Read again, not the pass's list: an instance placed earlier in this pass counts.
        others = [i for i in self._store.live() if i.id != instance.id]
        holding = [i for i in others if i.ssh_port is not None and i.status in HOLDING]
        vcpus = sum(i.vcpus for i in holding)
        memory = sum(i.memory_mib for i in holding)
        short = ""
        if vcpus + instance.vcpus > self._capacity.vcpus:
            short = f"{instance.vcpus} vCPUs wanted, {self._capacity.vcpus - vcpus} free"
        elif memory + instance.memory_mib > self._capacity.memory_mib:
            free = self._capacity.memory_mib - memory
            short = f"{instance.memory_mib} MiB wanted, {free} MiB free"
        port = instance.ssh_port  # kept while the instance exists: its ssh line stays
        if port is None:
            taken = {i.ssh_port for i in others}
            port = next(
                (
                    p
                    for p in self._capacity.ports
                    if p not in taken and port_free(self._host.listen, p)
                ),
                None,
            )
        waiting = (Status.PROVISIONING, Status.PENDING, Status.STARTING)
        if short or port is None:
            reason = f"Waiting for room on the host: {short or 'every SSH port is taken'}."
            if instance.status != Status.PENDING or instance.reason != reason:
                self._store.set_status(instance.id, Status.PENDING, reason, waiting)
            return None
        if instance.ssh_port is None:
            self._store.set_port(instance.id, port)
        status = Status.PROVISIONING if instance.status == Status.PENDING else instance.status
        if status != instance.status and not self._store.set_status(
            instance.id, status, "", waiting
        ):
            return None  # its owner asked for something else meanwhile
        return replace(instance, ssh_port=port, status=status, reason="")
