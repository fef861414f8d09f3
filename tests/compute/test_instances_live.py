"""Instances through Nexq's own faces: REST and the real dcp executable launch a real QEMU
guest (TCG here), OpenSSH gets in with the key chosen at launch, stop/start keep the disk,
and another account sees none of it."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from nexq.compute.host import Host
from nexq.compute.instance import IMAGES
from tests.api.conftest import api
from tests.cli.conftest import Dcp
from tests.compute.conftest import customer
from tests.compute.keys import KeyPair, ssh, ssh_answer
from tests.live import LiveServer, nexq, nexq_json

BOOT_SECONDS = 90  # TCG on a busy 2-core host; about 6 s when it is quiet


def test_launch_connect_stop_start_delete_with_dcp(user: Dcp, pairs: list[KeyPair]) -> None:
    user(
        "compute", "ssh-keys", "add", "--name", "laptop", "--public-key-file", str(pairs[0].public)
    )
    sizes = user("compute", "instances", "sizes").stdout
    assert "nano    Nano    1      256 MiB   1 GiB\n" in sizes
    shown = user("compute", "instances", "launch", "web", "--size", "nano", "--wait").stdout
    assert "status:  Running\n" in shown and "ssh key: laptop\n" in shown
    line = re.search(r"^ssh:\s+(ssh -p (\d+) root@localhost)$", shown, re.M)
    assert line is not None, shown
    port = int(line.group(2))
    # The line shown works as written, with the key's private half.
    assert ssh_answer(pairs[0].private, port, "hostname").strip() == "web"
    assert ssh(pairs[1].private, port, "true").returncode != 0  # another key is refused
    console = user("compute", "instances", "console", "web", "-n", "1000").stdout
    assert "Linux version" in console
    # dcp compute ssh runs OpenSSH itself, remembering the host key per instance.
    done = user("compute", "ssh", "web", "-i", str(pairs[0].private), "--", "echo", "hi")
    assert done.stdout == "hi\n"

    ssh_answer(pairs[0].private, port, "echo kept > /data/note && sync && echo ok")
    stopped = user.json("compute", "instances", "stop", "web", "--wait")
    assert stopped["status"] == "Stopped"
    refused = user("compute", "instances", "stop", "web", code=5)  # a conflict
    assert "Instance 'web' is Stopped; it can be stopped only when Running" in refused.stderr
    user("compute", "instances", "start", "web", "--wait")
    assert ssh_answer(pairs[0].private, port, "cat /data/note").strip() == "kept"
    listed = user("compute", "instances", "list").stdout.splitlines()
    assert listed[0].split() == ["NAME", "STATUS", "IMAGE", "SIZE", "SSH", "CREATED"]
    assert listed[1].split()[:5] == ["web", "Running", "tiny", "nano", f"localhost:{port}"]

    user("compute", "instances", "delete", "web", "--yes", "--wait")
    assert user.json("compute", "instances", "list") == []
    gone = ssh(pairs[0].private, port, "true")
    assert gone.returncode != 0


def test_rest_refusals_and_isolation(server: LiveServer, client: httpx.Client) -> None:
    no_key = client.post("/v1/compute/instances", json={"name": "a", "size": "nano"})
    assert no_key.status_code == 400 and "no SSH key" in no_key.json()["detail"]
    bad_size = client.post("/v1/compute/instances", json={"name": "a", "size": "huge"})
    assert bad_size.status_code == 400
    assert "'huge' is not an instance size" in bad_size.json()["detail"]
    with api(server, server.api_key(customer(server))) as other:
        assert other.get("/v1/compute/instances/a").status_code == 404
        assert other.post("/v1/compute/instances/a/stop").status_code == 404
    images = client.get("/v1/compute/images").json()
    assert images == [
        {"id": "tiny", "title": IMAGES["tiny"].title, "user": "root", "ready": True},
        {"id": "debian-12", "title": IMAGES["debian-12"].title, "user": "debian", "ready": False},
    ]
    # Not built on this host: refused at launch, saying how the operator builds it.
    debian = client.post(
        "/v1/compute/instances", json={"name": "deb", "size": "nano", "image": "debian-12"}
    )
    assert debian.status_code == 409
    assert debian.json()["detail"] == (
        "image: debian-12 is not built on this host yet; an operator builds it with "
        "`nexq admin images build debian-12`."
    )
    assert client.get("/v1/compute/instances/deb").status_code == 404
    # The operator's side: which images are ready, and a wrong id said as such.
    listed = nexq_json("admin", "images", "list", data_dir=server.data_dir)
    assert [(i["id"], i["ready"]) for i in listed] == [("tiny", True), ("debian-12", False)]
    wrong = nexq("admin", "images", "build", "ubuntu", data_dir=server.data_dir, check=False)
    assert wrong.returncode != 0
    assert "'ubuntu' is not an image; choose from tiny, debian-12." in wrong.stderr


def test_instances_outlive_a_killed_nexq_and_are_found_again(
    tmp_path: Path, pairs: list[KeyPair]
) -> None:
    """kill -9 of `nexq serve`: the guest runs on, and the next server adopts it (the same
    QEMU process, the same port), then stops and deletes it."""
    server = LiveServer(tmp_path / "data")
    server.start()
    try:
        with api(server, server.api_key(customer(server))) as client:
            key = {"name": "laptop", "public_key": pairs[0].public_text}
            assert client.post("/v1/compute/ssh-keys", json=key).status_code == 201
            made = client.post("/v1/compute/instances", json={"name": "kept", "size": "nano"})
            assert made.status_code == 201, made.text
            running = wait_status(client, "kept", "Running")
            port = running["ssh"]["port"]
            ssh_answer(pairs[0].private, port, "echo up")
            machine = Host(tmp_path / "data" / "compute").machine(running["id"])
            pid = machine.pid
            server.kill()
            assert machine.running() and machine.pid == pid
            assert ssh_answer(pairs[0].private, port, "hostname").strip() == "kept"
            server.start()
            # Found again: Running on the same QEMU, which answers the new server's stop.
            assert wait_status(client, "kept", "Running")["ssh"]["port"] == port
            assert machine.pid == pid
            assert client.post("/v1/compute/instances/kept/stop").status_code == 202
            wait_status(client, "kept", "Stopped")
            assert not machine.running()
            assert client.delete("/v1/compute/instances/kept").status_code == 202
    finally:
        server.stop()


def wait_status(client: httpx.Client, name: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + BOOT_SECONDS
    while (found := client.get(f"/v1/compute/instances/{name}").json())["status"] != status:
        assert time.monotonic() < deadline, found
        time.sleep(0.2)
    return dict(found)
