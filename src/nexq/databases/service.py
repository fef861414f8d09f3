"""Use cases of the Databases service: create, list, show, delete databases; reset the
owner's password; the connection details and the nodes of one.

Creating writes the row (Provisioning) and returns at once with the owner's password, shown
this once: the provisioner (provisioner.py) gives it room on the host and makes the cluster
within seconds. Nexq keeps the password's SCRAM verifier, never the password.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from nexq.core.crypto import SecretBox
from nexq.core.errors import Invalid, QuotaExceeded
from nexq.core.identity import Principal
from nexq.core.ids import random_string
from nexq.core.quotas import NoQuotas, Quotas
from nexq.databases import scram, tls
from nexq.databases.backups import Backups
from nexq.databases.cluster import Cluster
from nexq.databases.engine import ID_PREFIX, Engine, EngineError
from nexq.databases.errors import BackupsUnreadable, DatabaseExists, NoSuchDatabase, NotRunning
from nexq.databases.model import (
    MAX_REPLICAS,
    OWNER_ROLE,
    BackupHistory,
    Database,
    Node,
    Plan,
    Status,
    check_name,
    count_refusal,
    node_ports,
)
from nexq.databases.plans import PlanCatalog, plan_of
from nexq.databases.store import SEALED_CONTEXT, SqlDatabases

DATABASES_LIMIT = "databases"
VCPUS_LIMIT = "database_vcpus"
MEMORY_LIMIT = "database_memory_bytes"
STORAGE_LIMIT = "database_storage_bytes"
REPLICAS_LIMIT = "database_replicas"
BACKUP_DAYS_LIMIT = "database_backup_days"  # how long the tier keeps backups
MIB = 1024 * 1024
CA = "ca"  # the certificate authority's row among the service's secrets
BACKUP_KEY = "backup-key"  # the backup repository's bucket and access key


@dataclass(frozen=True, slots=True)
class Created:
    """A new database with its owner's password, which is shown this once."""

    database: Database
    password: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How a database is reached: host, port, database, user, and the ready-made lines."""

    host: str
    port: int | None
    database: str
    user: str
    nodes: tuple[int, ...] = ()  # a highly available database's nodes' own ports

    @property
    def uri(self) -> str:
        """The connection URI, without the password (the user adds it or is asked)."""
        port = "" if self.port is None else f":{self.port}"
        return self._uri(f"{self.host}{port}")

    @property
    def direct_uri(self) -> str:
        """For libpq's clients (psql, psycopg, pgbench...): every node, and libpq keeps the
        one that takes writes. No proxy is in the data path, so nothing costs more than a
        direct connection; the list is fixed for the database's life, as the endpoint is."""
        if not self.nodes:
            return self.uri
        hosts = ",".join(f"{self.host}:{port}" for port in self.nodes)
        return self._uri(hosts, "&target_session_attrs=read-write")

    def _uri(self, hosts: str, extra: str = "") -> str:
        return (
            f"postgresql://{quote(self.user)}@{hosts}/{quote(self.database)}"
            f"?sslmode=verify-full&sslrootcert=nexq-databases-ca.pem{extra}"
        )

    @property
    def psql(self) -> str:
        return f'psql "{self.uri}"'


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_password() -> str:
    return random_string(32)


class Databases:
    """The account's databases."""

    def __init__(
        self,
        store: SqlDatabases,
        plans: PlanCatalog,
        engine: Engine,
        box: SecretBox,
        host: str,
        backups: Backups,
        quotas: Quotas | None = None,
        clock: Callable[[], float] = time.time,
        default_backup_days: int = 7,
    ) -> None:
        self._default_backup_days = default_backup_days
        self._backups = backups
        self._store = store
        self._plans = plans
        self._engine = engine
        self._cluster = Cluster(engine)
        self._box = box
        self.host = host
        self._quotas: Quotas = quotas or NoQuotas()
        self._clock = clock

    @property
    def catalog(self) -> PlanCatalog:
        return self._plans

    @property
    def plans(self) -> list[Plan]:
        return list(self._plans.plans.values())

    def plan(self, plan_id: str) -> Plan:
        return self._plans.get(plan_id)

    def plan_of(self, database: Database) -> Plan:
        """The database's plan as it was made, under the plan's name today."""
        return plan_of(self._plans, database)

    # use cases ----------------------------------------------------------------------------

    def count_by_status(self) -> dict[str, int]:
        """Every account's databases not deleted, by status (the operator's metrics)."""
        counts = dict.fromkeys(Status.LIVE, 0)  # every state, so a dashboard shows zeros
        for instance in self._store.live():
            counts[instance.status] = counts.get(instance.status, 0) + 1
        return counts

    def create(
        self,
        principal: Principal,
        name: str,
        plan: str,
        replicas: int = 0,
        backups: bool = True,
        restore_from: str | None = None,
        restore_to: float | None = None,
        synchronous: bool = True,
    ) -> Created:
        """A new database; with ``restore_from``, made from that database's backups as it
        was at ``restore_to`` (any second of its recovery window; default: the latest)."""
        account_id = principal.account.id
        check_name(name)
        source = None
        if restore_from is not None:
            source = self._restorable(principal, restore_from, restore_to)
        elif restore_to is not None:
            raise Invalid("restore.source: give the database to restore from too.")
        chosen = self._plans.get(plan)
        if not 0 <= replicas <= MAX_REPLICAS:
            raise Invalid(f"replicas: 0 (no HA) to {MAX_REPLICAS}.")
        if self._store.named(account_id, name) is not None:
            raise DatabaseExists(f"name: the account has a database named {name!r}.")
        self._check_limits(account_id, chosen, replicas)
        password = new_password()
        database = Database(
            id=ID_PREFIX + random_string(12).lower(),
            account_id=account_id,
            name=name,
            plan=chosen.id,
            replicas=replicas,
            backups=backups,
            status=Status.PROVISIONING,
            reason="",
            port=None,
            password_verifier=scram.verifier(password),
            created_at=self._clock(),
            running_since=None,
            deleted_at=None,
            restore_source=source.id if source else None,
            restore_target=restore_to,
            vcpus=chosen.vcpus,
            memory_mib=chosen.memory_mib,
            storage_mib=chosen.storage_mib,
            synchronous=synchronous,
        )
        self._store.add(database, self._quotas.limit(account_id, DATABASES_LIMIT))
        return Created(database, password)

    def _restorable(self, principal: Principal, name: str, target: float | None) -> Database:
        source = self.get(principal, name)
        if not source.backups:
            raise Invalid(f"restore.source: {name!r} has no backups (automated backups are off).")
        history = self.backups(principal, name)
        if history.oldest is None or history.latest is None:
            raise Invalid(f"restore.source: {name!r} has no backup yet; its first is on its way.")
        if target is not None and not history.oldest <= target <= self._clock():
            raise Invalid(
                f"restore.target_time: {_iso(target)} is outside the recovery window of {name!r}, "
                f"{_iso(history.oldest)} to now."
            )
        return source

    def backups(self, principal: Principal, name: str) -> BackupHistory:
        """The database's backups and recovery window."""
        found = self.get(principal, name)
        if not found.backups:
            return BackupHistory([], None, None, 0)
        try:
            return self._backups.history(found.id, found.port)
        except EngineError as exc:
            raise BackupsUnreadable(f"The backups of {name!r} cannot be read now: {exc}") from None

    def request_backup(self, principal: Principal, name: str) -> float:
        """Back up now: the backups job takes a full backup within seconds."""
        found = self.get(principal, name)
        if not found.backups:
            raise Invalid(f"{name!r} has automated backups off.")
        if found.status != Status.RUNNING:
            raise NotRunning(
                f"The database {name!r} is {found.status}; it can be backed up once Running."
            )
        now = self._clock()
        self._store.update(found.id, backup_requested_at=now)
        return now

    def all(self, principal: Principal) -> list[Database]:
        return self._store.of_account(principal.account.id)

    def get(self, principal: Principal, name: str) -> Database:
        found = self._store.named(principal.account.id, name)
        if found is None:
            raise NoSuchDatabase(f"The account has no database named {name!r}.")
        return found

    def delete(self, principal: Principal, name: str) -> Database:
        """Mark the database Deleting; the provisioner stops it and removes its files."""
        found = self.get(principal, name)
        self._store.set_status(found.id, Status.DELETING)
        return self.get(principal, name)

    def reset_password(self, principal: Principal, name: str) -> str:
        """A new password for the owner; the old one stops working at once."""
        found = self.get(principal, name)
        if found.status != Status.RUNNING or found.port is None:
            raise NotRunning(
                f"The database {name!r} is {found.status}; its password can be reset once it "
                "is Running."
            )
        password = new_password()
        verifier = scram.verifier(password)
        try:
            self._engine.set_owner_password(found.id, found.port, verifier)
        except (EngineError, OSError) as exc:
            raise NotRunning(f"The database {name!r} did not answer: {exc}") from None
        self._store.update(found.id, password_verifier=verifier)
        return password

    def source_of(self, database: Database) -> str | None:
        """The name of the database it was restored from, if it was."""
        if database.restore_source is None:
            return None
        source = self._store.get(database.restore_source)
        return source.name if source else None

    def endpoint(self, database: Database) -> Endpoint:
        nodes, _ = node_ports(database)
        direct = tuple(n.postgresql for n in nodes) if database.port is not None else ()
        return Endpoint(self.host, database.port, database.database, OWNER_ROLE, direct)

    def nodes(self, principal: Principal, name: str) -> list[Node]:
        found = self.get(principal, name)
        if found.replicas and found.status == Status.RUNNING:
            return self._cluster.nodes(found)
        if found.status in (Status.PROVISIONING, Status.PENDING):
            status = "starting"
            if found.replicas:
                return [
                    Node(f"{found.name}-{i + 1}", "primary" if i == 0 else "replica", status, None)
                    for i in range(found.nodes)
                ]
        else:
            status = "running" if self._engine.running(found.id) else "stopped"
        return [Node(f"{found.name}-1", "primary", status, None)]

    def used_bytes(self, database: Database) -> int | None:
        if database.status != Status.RUNNING:
            return None
        if database.replicas:
            # Any node's volume: each holds the same data (a replica's lag is bytes).
            nodes = self._engine.node_ids(database.id)
            return self._engine.used_bytes(nodes[0]) if nodes else None
        return self._engine.used_bytes(database.id)

    def authority_pem(self) -> str:
        """The CA certificate clients verify the servers with."""
        return self.authority().certificate_pem

    def authority(self) -> tls.Authority:
        """The installation's CA, made the first time it is needed."""
        found = self._store.secret(CA)
        if found is None:
            made = tls.new_authority(random_string(8).lower())
            found = self._store.add_secret(
                CA, made.certificate_pem, self._box.seal(made.key_pem, SEALED_CONTEXT + CA)
            )
        certificate, sealed = found
        return tls.Authority(certificate, self._box.open(sealed, SEALED_CONTEXT + CA))

    def backup_days(self, account_id: str) -> int | None:
        """How many days the account's tier keeps backups (None: the installation's)."""
        days = self._quotas.limit(account_id, BACKUP_DAYS_LIMIT)
        return max(1, days) if days is not None else None

    def retention_days(self, account_id: str) -> int:
        """How many days the account's backups are kept."""
        return self.backup_days(account_id) or self._default_backup_days

    def backup_key(self, make: Callable[[], tuple[str, str, str]]) -> tuple[str, str, str]:
        """(bucket, key id, secret) of the backup repository: made once by ``make``, then
        kept with the secret sealed."""
        found = self._store.secret(BACKUP_KEY)
        if found is None:
            bucket, key_id, secret = make()
            found = self._store.add_secret(
                BACKUP_KEY,
                f"{bucket} {key_id}",
                self._box.seal(secret, SEALED_CONTEXT + BACKUP_KEY),
            )
        public, sealed = found
        bucket, key_id = public.split(" ")
        return bucket, key_id, self._box.open(sealed, SEALED_CONTEXT + BACKUP_KEY)

    # limits -------------------------------------------------------------------------------

    def _check_limits(self, account_id: str, plan: Plan, replicas: int) -> None:
        limit = self._quotas.limit(account_id, REPLICAS_LIMIT)
        if limit is not None and replicas > limit:
            raise QuotaExceeded(
                REPLICAS_LIMIT,
                f"replicas: the account's tier allows {limit} replicas per database.",
            )
        held = self._store.of_account(account_id)
        limit = self._quotas.limit(account_id, DATABASES_LIMIT)
        if limit is not None and len(held) >= limit:  # checked again as the row is written
            raise QuotaExceeded(DATABASES_LIMIT, count_refusal(len(held)))
        nodes = 1 + replicas
        wanted = {
            VCPUS_LIMIT: (plan.vcpus * nodes, "vCPUs", 1),
            MEMORY_LIMIT: (plan.memory_mib * MIB * nodes, "MiB of memory", MIB),
            STORAGE_LIMIT: (plan.storage_bytes * nodes, "MiB of storage", MIB),
        }
        for name, (adding, what, unit) in wanted.items():
            limit = self._quotas.limit(account_id, name)
            if limit is None:
                continue
            used = sum(self._resource(d, name) for d in held)
            if used + adding > limit:
                raise QuotaExceeded(
                    name,
                    f"plan: {plan.id} needs {adding // unit} {what}; the account's databases "
                    f"hold {used // unit} of its limit of {limit // unit}. Choose a smaller plan, "
                    "delete a database or ask for a higher tier.",
                )

    def _resource(self, database: Database, limit: str) -> int:
        per_node = {
            VCPUS_LIMIT: database.vcpus,
            MEMORY_LIMIT: database.memory_mib * MIB,
            STORAGE_LIMIT: database.storage_mib * MIB,
        }[limit]
        return per_node * database.nodes

    def databases_of(self, account_id: str) -> int:
        return len(self._store.of_account(account_id))

    def usage_of(self, limit: str) -> Callable[[str], int]:
        """How much of ``limit`` an account's databases hold (the Limits page's usage)."""
        return lambda account_id: sum(
            self._resource(d, limit) for d in self._store.of_account(account_id)
        )
