"""Several ``nexq serve`` nodes on one PostgreSQL database and one RADOS namespace, behind
nginx: a :class:`LiveServer` whose endpoints are the balancer's, so every suite written for
one server runs against a cluster unchanged (``NEXQ_TEST_CLUSTER=1``)."""

from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.balancer import Balancer
from tests.live import LiveServer


@dataclass
class BalancedServer(LiveServer):
    """``count`` nodes (one worker each: this machine has two cores) and nginx in front.

    ``data_dir`` is the first node's: the command line run against it reaches the cluster
    through the same database, blobs and master key."""

    blobs_url: str = ""
    count: int = 3
    nodes: list[LiveServer] = field(default_factory=list)
    balancer: Balancer | None = None

    def __post_init__(self) -> None:
        assert self.database_url and self.blobs_url, "a cluster needs PostgreSQL and RADOS"
        env = {
            "NEXQ_BLOBS_URL": self.blobs_url,
            # Every node opens the secrets the others sealed: one master key for all.
            "NEXQ_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "NEXQ_NODES": str(self.count),
            **self.env,
        }
        self.env = env
        self.nodes = [
            LiveServer(
                self.data_dir if i == 0 else _beside(self.data_dir, i),
                database_url=self.database_url,
                env=env,
                extra=("--workers", "1", *self.extra),
                migrated=i > 0,  # one `nexq admin migrate` of the shared database is enough
            )
            for i in range(self.count)
        ]

    def start(self) -> None:
        """The first stopped node alone (the first start of all migrates the database and
        makes the operator's account), then the others at once: a node takes seconds to
        start, and the gate starts a cluster per module."""
        stopped = [node for node in self.nodes if node.process is None]
        if stopped:
            stopped[0].start()
        if stopped[1:]:
            with ThreadPoolExecutor(len(stopped) - 1) as starting:
                list(starting.map(LiveServer.start, stopped[1:]))
        if self.balancer is None:
            self.balancer = Balancer(
                [(node.s3_port, node.api_port, node.registry_port) for node in self.nodes]
            )
            self.s3_port = self.balancer.s3_port
            self.api_port = self.balancer.api_port
            self.registry_port = self.balancer.registry_port

    def pids(self) -> list[int]:
        return [pid for node in self.nodes for pid in node.pids()]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                node.kill()

    def close(self) -> None:
        """Stop the nodes and the balancer for good."""
        self.stop()
        if self.balancer is not None:
            self.balancer.stop()
            self.balancer = None


def _beside(data_dir: Path, number: int) -> Path:
    return data_dir.with_name(f"{data_dir.name}-node{number}")
