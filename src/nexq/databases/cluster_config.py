"""What a highly available database's processes are configured with: each node's Patroni
(its PostgreSQL settings, replication roles, Raft peers) and the endpoint's HAProxy.
Written by ``cluster.Cluster`` at each start, so that a changed plan or listen address
reaches every node."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

from nexq.databases.layout import HBA, SUPERUSER, Layout, settings_for
from nexq.databases.model import Database, NodePorts, Plan, node_ports

# Patroni's timing: the primary's lock lasts TTL seconds, renewed every LOOP seconds; a
# replica takes over once it lapses (a dead primary is replaced in about TTL + LOOP).
TTL = 15
LOOP = 2
RETRY = 5
REPLICATION_ROLE = "replicator"
REWIND_ROLE = "rewinder"
# Settings Patroni takes from the cluster's shared configuration only (the same on every
# node), not from a node's own.
SHARED = frozenset(
    {
        "max_connections",
        "max_worker_processes",
        "max_wal_senders",
        "max_replication_slots",
        "max_locks_per_transaction",
        "max_prepared_transactions",
        "wal_level",
        "wal_log_hints",
        "track_commit_timestamp",
    }
)


def patroni_config(
    database: Database,
    index: int,
    ports: NodePorts,
    partners: list[str],
    layout: Layout,
    plan: Plan,
    archive: dict[str, str] | None,
    passwords: dict[str, str],
    bindir: Path,
    listen: str,
) -> dict[str, Any]:
    """One node's Patroni configuration (JSON is YAML). A restored database's nodes but
    the first have no bootstrap section: they never make a cluster of their own, they wait
    for the first (which holds the restored data) and clone it."""
    settings = settings_for(plan, ports.postgresql, "127.0.0.1", layout)
    for name in ("listen_addresses", "port"):
        settings.pop(name)
    settings.update(archive or {"archive_mode": "off"})
    shared = {k: v for k, v in settings.items() if k in SHARED}
    local = {k: v for k, v in settings.items() if k not in SHARED}
    shared.update(
        {
            "wal_level": "replica",
            "hot_standby": "on",
            "max_wal_senders": "10",
            "max_replication_slots": "10",
            "wal_keep_size": "128MB",
        }
    )
    hba = [line for line in HBA.format(superuser=SUPERUSER).splitlines() if line and line[0] != "#"]
    hba.insert(1, f"hostssl replication {REPLICATION_ROLE} 127.0.0.1/32 scram-sha-256")
    nexq_user = pwd.getpwuid(os.geteuid()).pw_name
    ident = [f"nexq {u} {SUPERUSER}" for u in dict.fromkeys(("root", nexq_user, SUPERUSER))]
    config: dict[str, Any] = {
        "scope": database.id,
        "name": f"node-{index + 1}",
        "log": {"level": "INFO", "dir": str(layout.logs), "file_size": 10_000_000, "file_num": 2},
        "restapi": {
            "listen": f"127.0.0.1:{ports.rest}",
            "connect_address": f"127.0.0.1:{ports.rest}",
            "authentication": {"username": "nexq", "password": passwords["rest"]},
        },
        "raft": {
            "data_dir": str(layout.root / "raft"),
            "self_addr": f"127.0.0.1:{ports.raft}",
            "partner_addrs": partners,
        },
        "bootstrap": {
            "dcs": {
                "ttl": TTL,
                "loop_wait": LOOP,
                "retry_timeout": RETRY,
                "maximum_lag_on_failover": 16 * 1024 * 1024,
                "synchronous_mode": database.synchronous,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": shared,
                },
            },
            "initdb": [
                {"encoding": "UTF8"},
                {"locale": "C.UTF-8"},
                "data-checksums",
                {"waldir": str(layout.waldir)},
                {"auth-local": "peer"},
                {"auth-host": "reject"},
            ],
        },
        "postgresql": {
            "listen": f"{_node_listen(listen)}:{ports.postgresql}",
            "connect_address": f"127.0.0.1:{ports.postgresql}",
            "data_dir": str(layout.pgdata),
            "bin_dir": str(bindir),
            "pgpass": str(layout.sockets / "pgpass"),
            "use_unix_socket": True,
            "authentication": {
                "superuser": {"username": SUPERUSER},
                "replication": {
                    "username": REPLICATION_ROLE,
                    "password": passwords[REPLICATION_ROLE],
                    "sslmode": "require",
                },
                "rewind": {
                    "username": REWIND_ROLE,
                    "password": passwords[REWIND_ROLE],
                    "sslmode": "require",
                },
            },
            "parameters": local,
            "pg_hba": hba,
            "pg_ident": ident,
            "basebackup": [{"waldir": str(layout.waldir)}, {"checkpoint": "fast"}],
        },
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": False, "noloadbalance": False},
    }
    if index > 0 and database.restore_source is not None:
        del config["bootstrap"]
    return config


def _node_listen(listen: str) -> str:
    """Where a node's PostgreSQL listens: 127.0.0.1 for its peers and the endpoint, and the
    operator's addresses for clients that list every node (libpq's multi-host strings)."""
    addresses = [a.strip() for a in listen.split(",")]
    if any(a in ("*", "", "0.0.0.0") for a in addresses):  # noqa: S104 - the operator's setting
        return "*"
    return ",".join(dict.fromkeys(["127.0.0.1", *addresses]))


def haproxy_config(database: Database, listen: str) -> str:
    """The endpoint: the database's port, forwarded to whichever node is primary."""
    nodes, _ = node_ports(database)
    binds = []
    for address in listen.split(","):
        address = address.strip()
        if address in ("*", "", "0.0.0.0"):  # noqa: S104 - the operator's listen setting
            binds.append(f"    bind :{database.port}")
        else:
            host = f"[{address}]" if ":" in address else address
            binds.append(f"    bind {host}:{database.port}")
    servers = [
        f"    server node-{i + 1} 127.0.0.1:{n.postgresql} check port {n.rest}"
        for i, n in enumerate(nodes)
    ]
    return "\n".join(
        [
            f"# Written by Nexq: the endpoint of database {database.id}; edits are overwritten.",
            "global",
            "    maxconn 2000",
            "    nbthread 1",
            "defaults",
            "    mode tcp",
            "    option tcp-smart-accept",
            "    option tcp-smart-connect",
            "    timeout connect 5s",
            "    timeout client 24h",
            "    timeout server 24h",
            "    timeout check 2s",
            "listen primary",
            *binds,
            "    option httpchk",
            "    http-check send meth OPTIONS uri /primary",
            "    http-check expect status 200",
            "    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions",
            *servers,
            "",
        ]
    )
