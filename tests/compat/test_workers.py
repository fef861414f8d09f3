"""Several worker processes over one data dir: shared state, and revocation reaches them all."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.live import LiveServer, nexq


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "data", extra=("--workers", "2"))
    live.data_dir.mkdir()
    live.start()
    yield live
    live.stop()


def test_two_workers_share_state_and_revocation(workers: LiveServer) -> None:
    account = workers.account("workers@example.com")
    key = workers.key(account)
    # Fresh connections each time, so requests land on both processes.
    clients = [workers.client(key, max_pool_connections=1) for _ in range(8)]
    clients[0].create_bucket(Bucket="shared-bucket")
    for i, client in enumerate(clients):
        client.put_object(Bucket="shared-bucket", Key=f"k{i}", Body=f"v{i}".encode())
    for client in clients:
        listed = client.list_objects_v2(Bucket="shared-bucket")["Contents"]
        assert len(listed) == len(clients)
    nexq(
        "admin",
        "access-key",
        "revoke",
        "--account",
        account,
        key.access_key_id,
        data_dir=workers.data_dir,
    )
    for client in clients:
        with pytest.raises(ClientError) as exc:
            client.list_objects_v2(Bucket="shared-bucket")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_ctrl_c_stops_every_worker(workers: LiveServer) -> None:
    assert workers.process is not None
    workers.stop()
    assert workers.process is None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", workers.s3_port), 1):
        pass


def _worker_pids(parent: int) -> list[int]:
    """The two workers, once forked (the port answers as soon as the first one is)."""
    deadline = time.monotonic() + 20
    while len(found := _children(parent)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return sorted(found)


def _server_sides(port: int, client_ports: set[int]) -> set[int]:
    """The socket inodes of the server's ends of the connections from ``client_ports``."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":"), fields[2].split(":")
        if int(local[1], 16) == port and int(remote[1], 16) in client_ports:
            inodes.add(int(fields[9]))
    return inodes


def _held_by(pid: int, inodes: set[int]) -> int:
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                held += 1
    return held


@pytest.mark.parametrize("plane", ["s3", "registry"])
def test_connections_opened_at_once_are_spread_over_the_workers(
    workers: LiveServer, plane: str
) -> None:
    """On one shared socket, the worker that woke first accepted a whole burst (libuv takes
    every pending connection) and 16 clients were served by one worker."""
    assert workers.process is not None
    pids = _worker_pids(workers.process.pid)
    assert len(pids) == 2
    port = workers.s3_port if plane == "s3" else workers.registry_port
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:
        ports = {c.getsockname()[1] for c in conns}
        deadline = time.monotonic() + 10
        while True:  # until both workers have accepted what the kernel queued for them
            # (a connection not accepted yet has no socket inode: 0)
            inodes = _server_sides(port, ports) - {0}
            held = [_held_by(pid, inodes) for pid in pids]
            if sum(held) == 32 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert sum(held) == 32, held
        # Spread by a hash of each connection: fewer than 4 of 32 on one has odds of 3 in
        # a million.
        assert min(held) >= 4, held
    finally:
        for conn in conns:
            conn.close()


def test_a_dead_workers_share_of_connections_goes_to_the_others(workers: LiveServer) -> None:
    assert workers.process is not None
    key = workers.key(workers.account("survivor@example.com"))
    client = workers.client(key, max_pool_connections=1)
    client.create_bucket(Bucket="survivor")
    dead = _worker_pids(workers.process.pid)[-1]
    os.kill(dead, signal.SIGKILL)
    # Gone once a zombie (its parent reaps it at the stop): its sockets are closed by then.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{dead}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the killed worker did not die"
        time.sleep(0.01)
    # Each request on a new connection, none retried: none may land on a socket that
    # nobody accepts on (it would wait for its answer until the read timeout).
    for i in range(16):
        fresh = workers.client(key, max_pool_connections=1, read_timeout=10)
        fresh.put_object(Bucket="survivor", Key=f"k{i}", Body=b"x")
    assert client.list_objects_v2(Bucket="survivor")["KeyCount"] == 16


def test_the_control_planes_worker_dying_stops_the_server(workers: LiveServer) -> None:
    """Only the first worker serves the API, on a port the parent holds too: if that worker
    ends on its own, the server stops (for its supervisor to start it again) instead of
    leaving a port whose connections nobody answers."""
    assert workers.process is not None
    control_plane = min(_worker_pids(workers.process.pid), key=_started)  # forked first
    os.kill(control_plane, signal.SIGKILL)
    assert workers.process.wait(30) == 1
    log = (workers.data_dir.parent / f"server-{workers.s3_port}.log").read_text()
    assert "the control plane's worker stopped" in log
    workers.process = None


def _started(pid: int) -> int:
    """When the process started, in clock ticks since boot (pids may wrap; this does not)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
