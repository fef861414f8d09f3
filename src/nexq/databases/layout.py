"""Where one PostgreSQL server's files are (``Layout``), the settings and client rules it
is started with, and the sizes of its volumes, all derived from its plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nexq.databases.model import Plan

SUPERUSER = "postgres"  # Nexq's own role in every cluster, reached on the Unix socket only

HBA = """\
# Written by Nexq. Nexq itself connects on the Unix socket as postgres; every client over
# TCP with TLS and a SCRAM password, never as postgres.
local   all   {superuser}   peer map=nexq
hostssl all   {superuser}   0.0.0.0/0   reject
hostssl all   {superuser}   ::/0        reject
hostssl all   all           0.0.0.0/0   scram-sha-256
hostssl all   all           ::/0        scram-sha-256
"""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one database's files are."""

    root: Path

    @property
    def data_image(self) -> Path:
        return self.root / "data.img"

    @property
    def wal_image(self) -> Path:
        return self.root / "wal.img"

    @property
    def data_mount(self) -> Path:
        return self.root / "data"

    @property
    def wal_mount(self) -> Path:
        return self.root / "wal"

    @property
    def pgdata(self) -> Path:
        return self.data_mount / "pgdata"

    @property
    def waldir(self) -> Path:
        return self.wal_mount / "pg_wal"

    @property
    def sockets(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def ready(self) -> Path:
        return self.root / "ready"


def settings_for(plan: Plan, port: int, listen: str, layout: Layout) -> dict[str, str]:
    """The server's configuration for ``plan``: memory split as PostgreSQL's docs advise
    (shared_buffers a quarter of memory, the cache estimate three quarters)."""
    memory = plan.memory_mib
    connections = max(20, min(500, memory // 8))
    max_wal = max_wal_mib(plan)
    return {
        "listen_addresses": listen,
        "port": str(port),
        "unix_socket_directories": str(layout.sockets),
        "max_connections": str(connections),
        "shared_buffers": f"{max(16, memory // 4)}MB",
        "effective_cache_size": f"{max(32, memory * 3 // 4)}MB",
        "work_mem": f"{max(1024, memory * 1024 // (connections * 4))}kB",
        "maintenance_work_mem": f"{max(16, memory // 16)}MB",
        "max_worker_processes": str(max(8, plan.vcpus * 2)),
        "max_parallel_workers": str(plan.vcpus),
        "max_parallel_workers_per_gather": str(max(0, plan.vcpus // 2)),
        "min_wal_size": "32MB",
        "max_wal_size": f"{max_wal}MB",
        # A query's temporary files stay well inside the volume.
        "temp_file_limit": f"{plan.storage_mib * 1024 // 4}kB",
        "password_encryption": "scram-sha-256",
        "ssl": "on",
        "ssl_cert_file": str(layout.tls / "server.crt"),
        "ssl_key_file": str(layout.tls / "server.key"),
        "ssl_min_protocol_version": "TLSv1.2",
        "logging_collector": "on",
        "log_directory": str(layout.logs),
        "log_filename": "postgresql-%a.log",
        "log_truncate_on_rotation": "on",
        "log_rotation_age": "1d",
        "log_rotation_size": "0",
        "log_connections": "off",
        "log_line_prefix": "%m [%p] %q%u@%d ",
        "huge_pages": "off",
    }


def reserve_bytes(plan: Plan) -> int:
    """The space set aside on the data volume for cleaning up a full one."""
    return max(4, plan.storage_mib // 20) * 1024 * 1024


def data_volume_mib(plan: Plan) -> int:
    """The data volume's size: the plan's storage usable, beside the reserve and what ext4
    keeps for itself (its journal and inode tables, about 6 %)."""
    return plan.storage_mib + reserve_bytes(plan) // (1024 * 1024) + max(8, plan.storage_mib // 16)


def max_wal_mib(plan: Plan) -> int:
    return max(64, min(1024, plan.storage_mib // 8))


def wal_volume_mib(plan: Plan) -> int:
    """Room for the WAL of ``plan``: under a heavy write load, the WAL grows past
    max_wal_size while a checkpoint is under way (PostgreSQL's docs), and a full WAL volume
    stops the server, so the volume has eight times max_wal_size, at least 512 MiB (sparse:
    the host only gives what is written)."""
    return max(512, 8 * max_wal_mib(plan))
