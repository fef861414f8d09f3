"""The Databases service's types, states and naming rules."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nexq.core.errors import Invalid

# A database's name: unique among the account's databases; also the name of the database
# inside the cluster and part of the host's paths, hence letters, digits and hyphens only.
NAME = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
ENGINE = "PostgreSQL 15"  # the only engine (engine.MAJOR): Debian's postgresql-15
# The customer's role in the cluster: every right of a database owner, none of the OS.
OWNER_ROLE = "dbadmin"
MAX_REPLICAS = 2
# Names that would clash: routes (/v1/databases/plans, the console's /databases/new) and the
# databases every PostgreSQL cluster has.
RESERVED = frozenset({"plans", "new", "postgres", "template0", "template1"})


class Status:
    """A database's states, as the console shows them."""

    PROVISIONING = "Provisioning"
    PENDING = "Pending"  # waiting for room on the host
    RUNNING = "Running"
    DELETING = "Deleting"
    ERROR = "Error"
    DELETED = "Deleted"  # kept for metering; never listed

    LIVE = (PROVISIONING, PENDING, RUNNING, DELETING, ERROR)


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise Invalid(
            f"name {name!r}: 3 to 63 lowercase letters, digits and hyphens, starting with a "
            "letter and ending with a letter or digit."
        )
    if name in RESERVED or database_name(name) in RESERVED:
        raise Invalid(f"name {name!r} is reserved; choose another.")
    return name


def count_refusal(count: int) -> str:
    """Why a database over the account's databases limit is refused."""
    held = "1 database" if count == 1 else f"{count} databases"
    return f"The account has {held}, its databases limit; delete one or ask for a higher tier."


def database_name(name: str) -> str:
    """The name of the database inside the cluster (an identifier psql needs no quotes for)."""
    return name.replace("-", "_")


@dataclass(frozen=True, slots=True)
class Plan:
    """A size a database is created with, from the operator's tiers.toml."""

    id: str
    name: str
    vcpus: int
    memory_mib: int
    storage_mib: int

    @property
    def storage_bytes(self) -> int:
        return self.storage_mib * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Database:
    """A managed PostgreSQL cluster of one account."""

    id: str
    account_id: str
    name: str
    plan: str
    replicas: int  # 0 without HA
    backups: bool
    status: str
    reason: str  # why it is Pending or in Error; "" otherwise
    port: int | None  # given when it is placed on the host
    password_verifier: str  # SCRAM-SHA-256 verifier of the owner's password, never the password
    created_at: float
    running_since: float | None  # first time it was Running (metering starts there)
    deleted_at: float | None
    restore_source: str | None = None  # the database (id) it is restored from
    restore_target: float | None = None  # the time restored to; None: the latest
    backup_requested_at: float | None = None  # "Back up now", until the backup is taken
    # Its plan's sizes when it was made: editing or retiring a plan changes no database.
    vcpus: int = 0
    memory_mib: int = 0
    storage_mib: int = 0
    # High availability: the ports of its nodes (see NodePorts), placed with it; whether a
    # commit waits until a replica has it too (no acknowledged commit is lost in a failover).
    node_ports: str = ""
    synchronous: bool = True

    @property
    def nodes(self) -> int:
        return 1 + self.replicas

    def sizes(self, name: str) -> Plan:
        """Its plan as it was made (``name``: the plan's name now, or its id)."""
        return Plan(self.plan, name, self.vcpus, self.memory_mib, self.storage_mib)

    @property
    def database(self) -> str:
        return database_name(self.name)


@dataclass(frozen=True, slots=True)
class NodePorts:
    """The ports one node of a highly available database listens on (127.0.0.1 only:
    clients reach the primary through the database's own port)."""

    postgresql: int
    rest: int  # Patroni's REST API: the endpoint's health check asks it who is primary
    raft: int  # Patroni's Raft peer


def node_ports(database: Database) -> tuple[list[NodePorts], int | None]:
    """Its nodes' ports, and its Raft witness's (two nodes need a third voter)."""
    numbers = [int(p) for p in database.node_ports.split(",") if p]
    if not numbers:
        return [], None
    nodes = [NodePorts(*numbers[i : i + 3]) for i in range(0, 3 * database.nodes, 3)]
    witness = numbers[3 * database.nodes] if len(numbers) > 3 * database.nodes else None
    return nodes, witness


def ports_needed(nodes: int) -> int:
    """How many ports beside its own a database of ``nodes`` nodes takes."""
    if nodes == 1:
        return 0
    return 3 * nodes + (1 if nodes == 2 else 0)


@dataclass(frozen=True, slots=True)
class Node:
    """One PostgreSQL server of a database: the primary, or a replica."""

    id: str
    role: str  # primary | replica
    status: str  # running | stopped | starting
    lag_bytes: int | None  # a replica's replay lag behind the primary
    # The replica that confirms each commit before it is acknowledged (synchronous mode):
    # the one a failover may promote.
    synchronous: bool = False


@dataclass(frozen=True, slots=True)
class Backup:
    """One backup in a database's history: a FULL copy, or the WAL archived since."""

    label: str
    type: str  # FULL | WAL
    taken_at: float
    size: int  # bytes in the repository
    duration: float  # seconds


@dataclass(frozen=True, slots=True)
class BackupHistory:
    """A database's backups and the window it can be restored to any second of."""

    backups: list[Backup]
    oldest: float | None  # the oldest recovery point
    latest: float | None  # the latest: everything committed before it is archived
    size: int  # bytes the database's backups take in the repository
