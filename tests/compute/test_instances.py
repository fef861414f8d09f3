"""Instances end to end below the API: the use cases write what the owner asks, the
provisioner makes real QEMU machines do it (TCG here), and a real OpenSSH client gets in
with the key chosen at launch."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nexq.app import SCHEMAS
from nexq.compute.errors import InstanceExists, NoSuchInstance, WrongState
from nexq.compute.host import Host
from nexq.compute.instance import Status
from nexq.compute.instances import Instances
from nexq.compute.provisioner import Capacity, Provisioner
from nexq.compute.sizes import load_sizes
from nexq.compute.sql_instances import SqlInstances
from nexq.compute.sql_ssh_keys import SqlSshKeys
from nexq.compute.ssh_keys import SshKeys
from nexq.core.db import Database
from nexq.core.errors import Invalid, QuotaExceeded
from nexq.core.identity import Account, Principal
from tests.compute.keys import KeyPair, keygen, ssh, ssh_answer
from tests.live import free_port

ADA = Principal(Account("acc-ada", "ada@example.com", "customer", "active", 0.0), frozenset())
BOB = Principal(Account("acc-bob", "bob@example.com", "customer", "active", 0.0), frozenset())
BOOT_SECONDS = 60  # TCG on a busy 2-core host; about 6 s when it is quiet


class Limits:
    def __init__(self, **limits: int) -> None:
        self.limits = limits

    def limit(self, account_id: str, name: str) -> int | None:
        return self.limits.get(name)


@dataclass
class Compute:
    instances: Instances
    provisioner: Provisioner
    host: Host
    store: SqlInstances
    pair: KeyPair

    def until(self, name: str, status: Status, seconds: float = BOOT_SECONDS) -> Any:
        """Run the provisioner until ``name`` is in ``status``; the instance."""
        return wait(
            lambda: self.provisioner.run_once() or _is(self.instances.get(ADA, name), status),
            seconds,
            f"{name} {status}",
        )


def _is(instance: Any, status: Status) -> Any:
    return instance if instance.status == status else None


def wait(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.2)
    return found


@pytest.fixture
def compute(tmp_path: Path) -> Iterator[Compute]:
    db = Database(tmp_path / "meta.db", SCHEMAS)
    host = Host(tmp_path / "compute")
    keys = SqlSshKeys(db)
    pair = keygen(tmp_path / "keys", "ed25519")
    SshKeys(keys).add(ADA, "laptop", pair.public_text)
    store = SqlInstances(db)
    instances = Instances(
        store, keys, load_sizes(None), host.serial_tail, Limits(instances=2, instance_vcpus=2)
    )
    ports = tuple(free_port() for _ in range(4))
    provisioner = Provisioner(store, host, Capacity(2, 1024, ports), stop_timeout=20)
    yield Compute(instances, provisioner, host, store, pair)
    for instance in store.live():
        host.remove(instance.id)
    db.close()


def ssh_answers(compute: Compute, port: int, command: str) -> str:
    return ssh_answer(compute.pair.private, port, command, BOOT_SECONDS)


def test_launch_connect_stop_start_reboot_delete(compute: Compute) -> None:
    made = compute.instances.launch(ADA, "web-1", "tiny", "nano")
    assert (made.status, made.ssh_key_name, made.user) == (Status.PROVISIONING, "laptop", "root")
    running = compute.until("web-1", Status.RUNNING)
    assert running.ssh_port is not None
    # The guest is named after the instance, and the key chosen at launch lets its owner in.
    assert ssh_answers(compute, running.ssh_port, "hostname").strip() == "web-1"
    assert any("Linux version" in line for line in compute.instances.console(ADA, "web-1", 1000))
    with pytest.raises(InstanceExists):
        compute.instances.launch(ADA, "web-1", "tiny", "nano")
    with pytest.raises(NoSuchInstance):  # another account's instance is not there for Bob
        compute.instances.stop(BOB, "web-1")

    # Stop: the ACPI power button; the guest shuts down cleanly, the machine is gone.
    assert compute.instances.stop(ADA, "web-1").status == Status.STOPPING
    compute.until("web-1", Status.STOPPED, 40)
    assert not compute.host.running(running.id)
    with pytest.raises(WrongState, match="is Stopped; it can be stopped only when Running"):
        compute.instances.stop(ADA, "web-1")
    # Start: the same disk and port; what was written before is still there.
    compute.instances.start(ADA, "web-1")
    again = compute.until("web-1", Status.RUNNING)
    assert again.ssh_port == running.ssh_port
    ssh_answers(compute, again.ssh_port, "echo kept > /data/note && sync && echo ok")
    # Reboot: the guest boots again (what was in its memory is gone) and keeps its disk.
    ssh_answers(compute, again.ssh_port, "touch /tmp/before-reboot && echo ok")
    pid = compute.host.machine(again.id).pid
    compute.instances.reboot(ADA, "web-1")
    compute.until("web-1", Status.RUNNING)
    assert compute.host.machine(again.id).pid == pid  # the same QEMU, reset
    probe = "test -e /tmp/before-reboot && echo same || echo rebooted"
    wait(
        lambda: "rebooted" in ssh(compute.pair.private, again.ssh_port, probe).stdout,
        BOOT_SECONDS,
        "reboot",
    )
    assert ssh_answers(compute, again.ssh_port, "cat /data/note").strip() == "kept"

    compute.instances.delete(ADA, "web-1")
    wait(
        lambda: compute.provisioner.run_once() or compute.store.get(again.id) is None,
        30,
        "deleted",
    )
    assert not compute.host.folder(again.id).exists()
    with pytest.raises(NoSuchInstance):
        compute.instances.get(ADA, "web-1")


def test_a_guest_that_powers_off_is_stopped_and_a_dead_machine_comes_back(
    compute: Compute,
) -> None:
    compute.instances.launch(ADA, "box", "tiny", "nano")
    running = compute.until("box", Status.RUNNING)
    ssh_answers(compute, running.ssh_port, "echo up")
    # QEMU killed -9 (a crash): the provisioner starts the machine again.
    old = compute.host.machine(running.id).pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    wait(
        lambda: compute.provisioner.run_once() or compute.host.machine(running.id).pid != old,
        30,
        "a new machine",
    )
    ssh_answers(compute, running.ssh_port, "echo up")
    # poweroff inside the guest: the instance is Stopped, as its owner asked from inside.
    ssh(compute.pair.private, running.ssh_port, "poweroff")
    stopped = compute.until("box", Status.STOPPED, 40)
    assert stopped.reason == "The guest shut itself down."
    assert not compute.host.running(running.id)


def test_a_stop_asked_while_the_guest_boots_is_heard_once_it_has(
    compute: Compute, caplog: pytest.LogCaptureFixture
) -> None:
    """The power button pressed before the guest listens for it is lost; the provisioner
    presses it again until the guest shuts down, rather than waiting out the timeout and
    pulling the plug."""
    compute.instances.launch(ADA, "early", "tiny", "nano")
    running = compute.until("early", Status.RUNNING)  # QEMU runs; the guest boots
    compute.instances.stop(ADA, "early")
    with caplog.at_level(logging.WARNING, logger="nexq.compute"):
        compute.until("early", Status.STOPPED, 40)
    assert not compute.host.running(running.id)
    assert not [r.message for r in caplog.records if "forced off" in r.message]


def test_launches_are_checked_and_wait_for_room(compute: Compute) -> None:
    with pytest.raises(Invalid, match="no SSH key"):
        compute.instances.launch(BOB, "b", "tiny", "nano")
    with pytest.raises(Invalid, match="no SSH key 'desktop'; its keys: laptop"):
        compute.instances.launch(ADA, "a", "tiny", "nano", ssh_key="desktop")
    with pytest.raises(Invalid, match="not an instance size; choose from nano, micro"):
        compute.instances.launch(ADA, "a", "tiny", "huge")
    with pytest.raises(Invalid, match="not an image"):
        compute.instances.launch(ADA, "a", "windows", "nano")
    with pytest.raises(Invalid, match="lowercase letters"):
        compute.instances.launch(ADA, "Web_1", "tiny", "nano")
    compute.instances.launch(ADA, "a", "tiny", "nano")
    with pytest.raises(QuotaExceeded, match="small needs 2 vCPUs; the account's instances hold 1"):
        compute.instances.launch(ADA, "b", "tiny", "small")
    compute.instances.launch(ADA, "b", "tiny", "nano")
    with pytest.raises(QuotaExceeded, match="has 2 instances, its instances limit"):
        compute.instances.launch(ADA, "c", "tiny", "nano")
    # A host with room for one vCPU: the second waits, Pending, until the first is deleted.
    small = Provisioner(compute.store, compute.host, Capacity(1, 1024, (free_port(), free_port())))
    small.run_once()
    assert compute.instances.get(ADA, "a").status in (Status.PROVISIONING, Status.RUNNING)
    waiting = compute.instances.get(ADA, "b")
    assert waiting.status == Status.PENDING
    assert waiting.reason == "Waiting for room on the host: 1 vCPUs wanted, 0 free."
    compute.instances.delete(ADA, "a")
    wait(
        lambda: small.run_once() or _is(compute.instances.get(ADA, "b"), Status.RUNNING),
        30,
        "b placed once a is gone",
    )
