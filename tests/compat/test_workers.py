"""Several worker processes over one data dir: shared state, and revocation reaches them all."""

from __future__ import annotations

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
    import socket

    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", workers.s3_port), 1):
        pass
