"""Snapshots and backups through the real dcp executable, on a real QEMU guest (TCG here):
a snapshot taken while the guest runs, reverted to after more writes; a backup kept in
Nexq's own Object Storage outlives its instance and is restored into a new one. Along the
way, the refusals the guide's troubleshooting tables quote are provoked for real (the names
are the guide's)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.api.conftest import api
from tests.cli.conftest import Dcp
from tests.compute.conftest import customer
from tests.compute.keys import KeyPair, ssh_answer
from tests.live import LiveServer

GUIDE = Path(__file__).resolve().parents[2] / "src" / "nexq" / "compute" / "guide"


def _port(user: Dcp, name: str) -> int:
    shown = user.json("compute", "instances", "show", name)
    return int(shown["ssh"]["port"])


def quoted(page: str) -> list[str]:
    """The messages a page's troubleshooting table quotes (its first column's code spans)."""
    table = (GUIDE / page).read_text().split("## Troubleshooting", 1)[1]
    return [m.rstrip("…") for m in re.findall(r"^\| `([^`]+)`", table, re.M)]


def test_snapshot_revert_backup_restore_with_dcp(user: Dcp, pairs: list[KeyPair]) -> None:
    key = pairs[0].private
    said: list[str] = []
    user(
        "compute", "ssh-keys", "add", "--name", "laptop", "--public-key-file", str(pairs[0].public)
    )
    user("compute", "instances", "launch", "web-1", "--size", "nano", "--wait")
    port = _port(user, "web-1")
    ssh_answer(key, port, "echo one > /data/note && sync")

    # A snapshot of the running guest: it runs on, and answers, while the copy is made.
    snapshot = user.json(
        "compute", "snapshots", "create", "web-1", "--name", "before-upgrade", "--wait"
    )
    assert (snapshot["status"], snapshot["instance"], snapshot["disk_gib"]) == (
        "Available",
        "web-1",
        1,
    )
    assert 0 < snapshot["size_bytes"] < 2**30  # compressed: a mostly empty disk is small
    assert ssh_answer(key, port, "cat /data/note").strip() == "one"
    said.append(user("compute", "snapshots", "create", "web-1", "--name", "before-upgrade",
                     code=5).stderr)  # fmt: skip

    # A backup (to Object Storage) after a second write, then a third write.
    ssh_answer(key, port, "echo two > /data/note && sync")
    backup = user.json("compute", "backups", "create", "web-1", "--name", "web-1-first", "--wait")
    assert backup["status"] == "Available" and backup["size_bytes"] > 0
    ssh_answer(key, port, "echo three > /data/note && sync")

    # Revert needs a stopped instance; then the disk is the snapshot's.
    said.append(user("compute", "snapshots", "revert", "before-upgrade", "--yes", code=5).stderr)
    user("compute", "instances", "stop", "web-1", "--wait")
    user("compute", "snapshots", "revert", "before-upgrade", "--yes", "--wait")
    shown = user.json("compute", "instances", "show", "web-1")
    assert (shown["status"], shown["reason"]) == ("Stopped", "Reverted to snapshot before-upgrade.")

    # The tier's limits (two of each here), said at the action; a stopped disk copies too.
    user("compute", "snapshots", "create", "web-1", "--name", "second", "--wait")
    said.append(user("compute", "snapshots", "create", "web-1", code=3).stderr)  # 403
    user("compute", "backups", "create", "web-1", "--name", "web-1-second", "--wait")
    said.append(user("compute", "backups", "create", "web-1", code=3).stderr)
    said.append(user("compute", "backups", "schedule", "web-1", "--keep", "91", code=6).stderr)
    user("compute", "snapshots", "delete", "second", "--yes", "--wait")
    user("compute", "backups", "delete", "web-1-second", "--yes", "--wait")
    user("compute", "instances", "start", "web-1", "--wait")
    assert ssh_answer(key, port, "cat /data/note").strip() == "one"

    # The instance goes; its backup stays, and becomes a new instance's disk.
    user("compute", "instances", "delete", "web-1", "--yes", "--wait")
    listed = user("compute", "backups", "list").stdout.splitlines()
    assert listed[0].split()[:4] == ["NAME", "STATUS", "INSTANCE", "DISK"]
    assert listed[1].split()[:3] == ["web-1-first", "Available", "web-1"]
    restored = user.json(
        "compute", "instances", "launch", "web-2", "--size", "nano",
        "--from-backup", "web-1-first", "--wait",
    )  # fmt: skip
    assert restored["status"] == "Running"
    assert ssh_answer(key, _port(user, "web-2"), "cat /data/note").strip() == "two"
    # And the snapshot too, though its instance is gone.
    user("compute", "instances", "delete", "web-2", "--yes", "--wait")
    user("compute", "instances", "launch", "web-3", "--size", "nano",
         "--from-snapshot", "before-upgrade", "--wait")  # fmt: skip
    assert ssh_answer(key, _port(user, "web-3"), "cat /data/note").strip() == "one"
    user("compute", "instances", "delete", "web-3", "--yes", "--wait")

    # Deleting: gone from the lists.
    user("compute", "snapshots", "delete", "before-upgrade", "--yes", "--wait")
    user("compute", "backups", "delete", "web-1-first", "--yes", "--wait")
    assert user.json("compute", "snapshots", "list") == []
    assert user.json("compute", "backups", "list") == []

    everything = "\n".join(said)
    for page in ("manage-snapshots.md", "manage-backups.md"):
        for message in quoted(page):
            assert message in everything, f"Nexq never says {message!r}:\n{everything}"


def test_refusals_and_isolation(
    server: LiveServer, client: httpx.Client, pairs: list[KeyPair]
) -> None:
    key = {"name": "laptop", "public_key": pairs[0].public_text}
    assert client.post("/v1/compute/ssh-keys", json=key).status_code == 201
    missing = client.post("/v1/compute/instances/nope/snapshots", json={})
    assert missing.status_code == 404 and "no instance named 'nope'" in missing.json()["detail"]
    assert client.get("/v1/compute/snapshots/nope").status_code == 404
    schedule = client.put("/v1/compute/instances/nope/backup-schedule", json={"keep": 3})
    assert schedule.status_code == 404
    made = client.post("/v1/compute/instances", json={"name": "a", "size": "nano"})
    assert made.status_code == 201
    bad = client.post("/v1/compute/instances/a/snapshots", json={"name": "Bad Name"})
    assert bad.status_code == 400 and "name: a snapshot name is 1 to 63" in bad.json()["detail"]
    too_many = client.put("/v1/compute/instances/a/backup-schedule", json={"keep": 91})
    assert too_many.status_code == 400
    assert too_many.json()["detail"].startswith("keep: the number of daily backups kept, 0")
    schedule = client.put("/v1/compute/instances/a/backup-schedule", json={"keep": 3})
    assert schedule.json() == {"instance": "a", "keep": 3}
    with api(server, server.api_key(customer(server))) as other:
        assert other.post("/v1/compute/instances/a/snapshots", json={}).status_code == 404
        assert other.get("/v1/compute/instances/a/backup-schedule").status_code == 404
        assert other.get("/v1/compute/backups").json() == []
    assert client.delete("/v1/compute/instances/a").status_code == 202
