"""Snapshots and backups through the real dcp executable, on a real QEMU guest (TCG here):
a snapshot taken while the guest runs, reverted to after more writes; a backup kept in
Nexq's own Object Storage outlives its instance and is restored into a new one."""

from __future__ import annotations

import httpx

from tests.api.conftest import api
from tests.cli.conftest import Dcp
from tests.compute.conftest import customer
from tests.compute.keys import KeyPair, ssh_answer
from tests.live import LiveServer


def _port(user: Dcp, name: str) -> int:
    shown = user.json("compute", "instances", "show", name)
    return int(shown["ssh"]["port"])


def test_snapshot_revert_backup_restore_with_dcp(user: Dcp, pairs: list[KeyPair]) -> None:
    key = pairs[0].private
    user(
        "compute", "ssh-keys", "add", "--name", "laptop", "--public-key-file", str(pairs[0].public)
    )
    user("compute", "instances", "launch", "web", "--size", "nano", "--wait")
    port = _port(user, "web")
    ssh_answer(key, port, "echo one > /data/note && sync")

    # A snapshot of the running guest: it runs on, and answers, while the copy is made.
    snapshot = user.json("compute", "snapshots", "create", "web", "--name", "first", "--wait")
    assert (snapshot["status"], snapshot["instance"], snapshot["disk_gib"]) == (
        "Available",
        "web",
        1,
    )
    assert 0 < snapshot["size_bytes"] < 2**30  # compressed: a mostly empty disk is small
    assert ssh_answer(key, port, "cat /data/note").strip() == "one"

    # A backup (to Object Storage) after a second write, then a third write.
    ssh_answer(key, port, "echo two > /data/note && sync")
    backup = user.json("compute", "backups", "create", "web", "--wait")
    assert backup["status"] == "Available" and backup["name"].startswith("web-")
    assert backup["size_bytes"] > 0
    ssh_answer(key, port, "echo three > /data/note && sync")

    # Revert needs a stopped instance; then the disk is the snapshot's.
    refused = user("compute", "snapshots", "revert", "first", "--yes", code=5)
    assert "stop it before reverting it to a snapshot" in refused.stderr
    user("compute", "instances", "stop", "web", "--wait")
    user("compute", "snapshots", "revert", "first", "--yes", "--wait")
    shown = user.json("compute", "instances", "show", "web")
    assert (shown["status"], shown["reason"]) == ("Stopped", "Reverted to snapshot first.")
    user("compute", "instances", "start", "web", "--wait")
    assert ssh_answer(key, port, "cat /data/note").strip() == "one"

    # The instance goes; its backup stays, and becomes a new instance's disk.
    user("compute", "instances", "delete", "web", "--yes", "--wait")
    listed = user("compute", "backups", "list").stdout.splitlines()
    assert listed[0].split()[:4] == ["NAME", "STATUS", "INSTANCE", "DISK"]
    assert listed[1].split()[:3] == [backup["name"], "Available", "web"]
    restored = user.json(
        "compute", "instances", "launch", "restored", "--size", "nano",
        "--from-backup", backup["name"], "--wait",
    )  # fmt: skip
    assert restored["status"] == "Running"
    assert ssh_answer(key, _port(user, "restored"), "cat /data/note").strip() == "two"
    # And the snapshot too, though its instance is gone.
    user("compute", "instances", "delete", "restored", "--yes", "--wait")
    user("compute", "instances", "launch", "again", "--size", "nano", "--from-snapshot", "first",
         "--wait")  # fmt: skip
    assert ssh_answer(key, _port(user, "again"), "cat /data/note").strip() == "one"
    user("compute", "instances", "delete", "again", "--yes", "--wait")

    # Deleting: gone from the lists.
    user("compute", "snapshots", "delete", "first", "--yes", "--wait")
    user("compute", "backups", "delete", backup["name"], "--yes", "--wait")
    assert user.json("compute", "snapshots", "list") == []
    assert user.json("compute", "backups", "list") == []


def test_refusals_limits_and_isolation(
    server: LiveServer, client: httpx.Client, pairs: list[KeyPair]
) -> None:
    key = {"name": "laptop", "public_key": pairs[0].public_text}
    assert client.post("/v1/compute/ssh-keys", json=key).status_code == 201
    missing = client.post("/v1/compute/instances/nope/snapshots", json={})
    assert missing.status_code == 404 and "no instance named 'nope'" in missing.json()["detail"]
    assert client.get("/v1/compute/snapshots/nope").status_code == 404
    assert (
        client.put("/v1/compute/instances/nope/backup-schedule", json={"keep": 3}).status_code
        == 404
    )
    assert (
        client.post("/v1/compute/instances", json={"name": "a", "size": "nano"}).status_code == 201
    )
    bad = client.post("/v1/compute/instances/a/snapshots", json={"name": "Bad Name"})
    assert bad.status_code == 400 and "name: a snapshot name is 1 to 63" in bad.json()["detail"]
    too_many = client.put("/v1/compute/instances/a/backup-schedule", json={"keep": 91})
    assert too_many.status_code == 422
    schedule = client.put("/v1/compute/instances/a/backup-schedule", json={"keep": 3})
    assert schedule.json() == {"instance": "a", "keep": 3}
    with api(server, server.api_key(customer(server))) as other:
        assert other.post("/v1/compute/instances/a/snapshots", json={}).status_code == 404
        assert other.get("/v1/compute/instances/a/backup-schedule").status_code == 404
        assert other.get("/v1/compute/backups").json() == []
    assert client.delete("/v1/compute/instances/a").status_code == 202
