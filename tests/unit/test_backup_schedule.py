"""Daily backups' schedule and retention: when one is due, which go, and the copier acting
on both with a clock of the test's (a day passes in a line, not a day)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from nexq.app import SCHEMAS
from nexq.compute.copier import Copier, daily_backup
from nexq.compute.disk_copy import DAY, CopyStatus, DiskCopy, backup_due, check_keep, expired
from nexq.compute.host import Host
from nexq.compute.instance import Instance, Status
from nexq.compute.sql_disk_copies import SqlDiskCopies
from nexq.compute.sql_instances import SqlInstances
from nexq.core.db import Database
from nexq.core.errors import Invalid

NOW = 1_800_000_000.0


def instance(keep: int, status: Status = Status.STOPPED) -> Instance:
    return Instance(
        "vm-1", "acc-1", "web", "tiny", "nano", 1, 256, 1, "key-1", "laptop", "ssh-ed25519 AAAA",
        status, "", 12022, NOW, NOW, backup_keep=keep,
    )  # fmt: skip


def backup(at: float, keep: int = 3, status: CopyStatus = CopyStatus.AVAILABLE) -> DiskCopy:
    return replace(daily_backup(instance(keep), at), status=status)


def test_a_backup_is_due_a_day_after_the_last_one_even_a_failed_one() -> None:
    assert not backup_due(0, [], NOW)  # no schedule
    assert backup_due(3, [], NOW)  # never taken
    assert not backup_due(3, [backup(NOW - DAY + 60)], NOW)
    assert backup_due(3, [backup(NOW - DAY)], NOW)
    # A failed one is retried the next day, not at every pass.
    assert not backup_due(3, [backup(NOW - 60, status=CopyStatus.ERROR)], NOW)


def test_the_newest_keep_stay_and_an_instance_gone_keeps_them_until_they_expire() -> None:
    days = [backup(NOW - d * DAY, keep=3) for d in range(5)]  # today .. four days ago
    assert expired(3, days, NOW) == days[3:]  # beyond the newest 3
    assert expired(5, days, NOW) == []  # the schedule was raised: all stay
    creating = backup(NOW - 10 * DAY, status=CopyStatus.CREATING)
    assert expired(0, [creating], NOW) == []  # never while being taken
    failed = backup(NOW - 2.5 * DAY, status=CopyStatus.ERROR)
    assert expired(3, [failed, *days[:3]], NOW) == [failed]  # a newer one is there
    assert expired(3, [failed], NOW) == []  # the only trace of the schedule stays
    # The instance is gone (keep None): each goes when it expires, 3 days after it was taken.
    assert expired(None, days, NOW) == days[3:]
    assert expired(None, days[:3], NOW) == []


def test_keep_is_bounded() -> None:
    assert check_keep(0) == 0 and check_keep(90) == 90
    with pytest.raises(Invalid, match="keep: the number of daily backups kept, 0"):
        check_keep(91)


class Vault:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def put_file(self, key: str, path: Path) -> int:
        raise AssertionError("nothing is uploaded in this test")

    def get_file(self, key: str, path: Path) -> int:
        raise AssertionError("nothing is downloaded in this test")

    def delete(self, key: str) -> None:
        self.deleted.append(key)


def test_the_copier_takes_the_days_backup_and_deletes_the_oldest(tmp_path: Path) -> None:
    clock = [NOW]
    db = Database(tmp_path / "meta.db", SCHEMAS)
    instances, copies = SqlInstances(db), SqlDiskCopies(db, lambda: clock[0])
    instances.add(instance(2), None)
    vault = Vault()
    copier = Copier(copies, instances, Host(tmp_path / "compute"), lambda: vault, lambda: clock[0])
    kept = [backup(NOW - d * DAY - 60, keep=2) for d in (1, 2)]
    for copy in kept:
        copies.add(copy, None)

    copier.run_once()
    # Today's is made (and fails here: the instance has no disk on this host); the two
    # older ones stay, as the newest two available are kept.
    today = [c for c in copies.live() if c.id not in {k.id for k in kept}]
    assert len(today) == 1 and today[0].scheduled
    assert today[0].status == CopyStatus.ERROR and "has no disk yet" in today[0].reason
    assert today[0].expires_at == NOW + 2 * DAY
    copier.run_once()  # not again the same day
    assert len(copies.live()) == 3

    # Had today's worked, the oldest of three goes, from the vault too.
    copies.set_status(today[0].id, CopyStatus.AVAILABLE, size_bytes=10)
    copier.run_once()
    assert vault.deleted == [f"acc-1/vm-1/{kept[1].id}.qcow2"]
    assert {c.id for c in copies.live()} == {kept[0].id, today[0].id}

    # The instance is deleted: its backups stay until they expire, two days after each
    # was taken (its schedule kept two).
    instances.mark_deleted("vm-1")
    clock[0] = NOW + DAY
    copier.run_once()
    assert {c.id for c in copies.live()} == {today[0].id}
    clock[0] = NOW + 2 * DAY
    copier.run_once()
    assert copies.live() == []
    assert vault.deleted[1:] == [
        f"acc-1/vm-1/{kept[0].id}.qcow2",
        f"acc-1/vm-1/{today[0].id}.qcow2",
    ]
    db.close()
