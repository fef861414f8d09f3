"""The provisioner: brings every database on this host to the state its row asks for.

One process of the installation runs it every second (a job ``once``): it places new
databases on the host (a port, room in the host's capacity, else Pending), makes them,
starts again any that stopped (a crash, a reboot), removes deleted ones, and removes the
folders no database owns (a crash mid-delete). Each step can be repeated: after a crash of
Nexq at any point, the next pass finishes the work or starts it over, so no cluster is ever
left half-made and unowned.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nexq.core import sql
from nexq.core.port_ranges import parse_ports
from nexq.databases import tls
from nexq.databases.backups import Backups, backup_due
from nexq.databases.cluster import Cluster, check_programs
from nexq.databases.engine import Engine, EngineError, Restore, port_free
from nexq.databases.model import Database, Plan, Status, node_ports, ports_needed
from nexq.databases.plans import PlanCatalog, plan_of
from nexq.databases.service import Databases
from nexq.databases.store import SqlDatabases

log = logging.getLogger("nexq.databases")
MIB = 1024 * 1024
# Less free space than this on the data volume is full: a statement that extends a table
# by a few pages fails.
FULL_BYTES = MIB
CERTIFICATE_CHECK_SECONDS = 600.0
# A failure may move a database to Error from any state but these (its owner deleted it).
UNDELETED = (Status.PROVISIONING, Status.PENDING, Status.RUNNING, Status.ERROR)
STORAGE_FULL = (
    "Storage full: writes fail with 'No space left on device'. Transactions are read-only "
    "by default until usage falls below 90 % of the plan's storage; to clean up, run "
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE, then DELETE or DROP what you "
    "no longer need and VACUUM."
)


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the operator lets databases take of this host (docs/databases.md)."""

    vcpus: int
    memory_mib: int
    storage_mib: int
    ports: tuple[int, ...]

    @staticmethod
    def of_host(
        root: Path,
        vcpus: int,
        memory_mib: int,
        storage_gib: float,
        ports: str,
    ) -> Capacity:
        """The configured capacity; 0 means: four vCPUs per core, half the memory, and the
        disk that is free under ``root`` now, less a tenth."""
        if not vcpus:
            vcpus = 4 * (os.cpu_count() or 1)
        if not memory_mib:
            memory_mib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // MIB // 2
        if storage_gib:
            storage_mib = int(storage_gib * 1024)
        else:
            root.mkdir(parents=True, exist_ok=True)
            storage_mib = int(shutil.disk_usage(root).free * 0.9) // MIB
        return Capacity(vcpus, memory_mib, storage_mib, parse_ports(ports, "databases"))


class Provisioner:
    """Reconciles the databases' rows with the clusters on this host."""

    def __init__(
        self,
        store: SqlDatabases,
        databases: Databases,
        plans: PlanCatalog,
        engine: Engine,
        capacity: Capacity,
        listen: str,
        hosts: list[str],
        backups: Backups,
        backup_every: float = 86400.0,
    ) -> None:
        self._backups = backups
        self._backup_every = backup_every
        self._store = store
        self._databases = databases
        self._plans = plans
        self._engine = engine
        self._cluster = Cluster(engine)
        self._capacity = capacity
        self._listen = listen
        self._hosts = hosts
        self._lock = threading.Lock()
        # Held while a backup runs: pgBackRest cannot delete a stanza whose backup holds its
        # lock, so a deletion waits for the next pass rather than half-deleting the backups.
        self._backing_up = threading.Lock()
        self._certificates_checked: dict[str, float] = {}  # database id: next check (monotonic)

    def reconcile(self) -> None:
        """One pass over every database (the provisioner's job)."""
        with self._lock:
            live = self._store.live()
            for database in live:
                try:
                    self._reconcile(database, live)
                except Exception as exc:
                    log.exception("database %s: reconcile failed", database.id)
                    self._store.set_status(database.id, Status.ERROR, _reason(exc), UNDELETED)
            owned = {d.id for d in live}
            for folder in self._engine.database_ids():
                if folder not in owned:
                    log.info("removing %s: no database owns it", folder)
                    self._cluster.remove(folder)

    def _reconcile(self, database: Database, live: list[Database]) -> None:
        status = database.status
        if status == Status.DELETING:
            self._delete(database)
        elif status in (Status.PROVISIONING, Status.PENDING) and database.port is None:
            self._place(database, live)
        elif status == Status.PROVISIONING:
            self._make(database)
        elif status == Status.RUNNING and database.replicas:
            self._supervise(database)
        elif status == Status.RUNNING and self._engine.running(database.id):
            self._upkeep(database, database.id, database.port)
        elif status == Status.RUNNING and self._engine.exiting(database.id):
            pass  # started again once its old process is gone
        elif status == Status.RUNNING:
            log.warning("database %s stopped; starting it again", database.id)
            try:
                self._start(database)
            except EngineError as exc:
                self._store.set_status(
                    database.id,
                    Status.ERROR,
                    f"PostgreSQL stopped and did not start again: {exc}",
                    (Status.RUNNING,),
                )

    def _supervise(self, database: Database) -> None:
        """A highly available database: start again whatever of it stopped (Patroni fails
        over meanwhile), guard its primary's storage, renew its certificates."""
        if not self._cluster.running(database):
            self._cluster.start(database)
        primary = self._engine.primary(database.id)
        if primary is not None:
            self._cluster.seen_primary(database.id, primary[0])
            self._upkeep(database, primary[0], primary[1])

    def _upkeep(self, database: Database, server: str, port: int | None) -> None:
        """The storage guard and certificate renewal of a running database. Either may meet
        a server too busy to answer in time: that is tried again on the next round, not a
        reason to call a database that serves its clients broken."""
        try:
            self._guard_storage(database, server, port)
            self._renew_certificate(database)
        except sql.postgresql_errors(EngineError, OSError) as exc:
            log.warning("database %s: upkeep deferred to the next round: %s", database.id, exc)

    def _delete(self, database: Database) -> None:
        """Stop the server, delete its backups, then its files; while a backup runs, on the
        next pass."""
        if not self._backing_up.acquire(blocking=False):
            log.info("database %s: deleted once its running backup ends", database.id)
            return
        try:
            self._delete_now(database)
        finally:
            self._backing_up.release()

    def _delete_now(self, database: Database) -> None:
        if database.backups and self._backups.is_set_up(database.id):
            try:
                if database.replicas:
                    self._cluster.stop(database.id)
                else:
                    self._engine.stop(database.id)
                self._backups.remove(database.id)
            except EngineError:
                log.exception("database %s: its backups were not deleted", database.id)
        self._cluster.remove(database.id)
        self._store.set_status(database.id, Status.DELETED, expect=(Status.DELETING,))

    def _renew_certificate(self, database: Database) -> None:
        """A certificate that expires soon (or no longer names the host clients use) is
        replaced while the server runs: PostgreSQL reads it again on a reload."""
        now = time.monotonic()
        if now < self._certificates_checked.get(database.id, 0.0):
            return
        self._certificates_checked[database.id] = now + CERTIFICATE_CHECK_SECONDS
        current = self._engine.certificate_pem(database.id)
        if current is None or not tls.needs_renewal(current, self._hosts):
            return
        assert database.port is not None
        certificate = self._certificate(database)
        self._engine.write_certificate(self._engine.layout(database.id), certificate)
        if database.replicas:
            for server in self._engine.node_ids(database.id):
                self._engine.write_certificate(self._engine.layout(server), certificate)
            self._cluster.reload(database)
        else:
            self._engine.reload(database.id, database.port)
        log.info("database %s: its server certificate was renewed", database.id)

    def _guard_storage(self, database: Database, server: str, port: int | None) -> None:
        """A full data volume: release the reserve so that the owner can clean up, and make
        transactions read-only by default; once usage is back under 90 %, the reverse
        (``server``: the database, or the node of a highly available one that is primary:
        after a failover, the new primary's volume is guarded as it fills).

        The state is the database's stored reason, written last in each direction: a step
        that fails (a busy server refusing the connection) is taken again on the next round
        instead of leaving a reserve set aside beside a database still read-only."""
        assert port is not None
        plan = plan_of(self._plans, database)
        engine = self._engine
        if database.reason != STORAGE_FULL:
            if engine.free_bytes(server) >= FULL_BYTES:
                if not engine.has_reserve(server) and (
                    engine.used_bytes(server) < plan.storage_bytes * 0.9
                ):
                    engine.set_reserve(server, plan)  # lost in a crash: set aside again
                return
            engine.release_reserve(server)
            engine.set_read_only(server, port, True)
            self._store.update(database.id, reason=STORAGE_FULL)
            log.warning("database %s: storage full; read-only by default", database.id)
            return
        below = engine.used_bytes(server) < plan.storage_bytes * 0.9
        if below and engine.set_reserve(server, plan):
            engine.set_read_only(server, port, False)
            self._store.update(database.id, reason="")
            log.info("database %s: storage below 90 %%; writable again", database.id)

    def _place(self, database: Database, live: list[Database]) -> None:
        plan = plan_of(self._plans, database)
        try:
            self._engine.check_host()
            if database.replicas:
                check_programs()
        except EngineError as exc:
            self._store.set_status(database.id, Status.ERROR, str(exc), UNDELETED)
            return
        placed = [d for d in live if d.port is not None and d.id != database.id]
        short = self._short_of(plan, database.nodes, placed)
        taken = {d.port for d in placed if d.port is not None} | {
            int(p) for d in placed for p in d.node_ports.split(",") if p
        }
        ports = self._free_ports(taken, 1 + ports_needed(database.nodes))
        if short or ports is None:
            reason = short or "every port the operator gave databases is taken"
            if database.status != Status.PENDING or database.reason != reason:
                self._store.set_status(
                    database.id,
                    Status.PENDING,
                    f"Waiting for room on the host: {reason}.",
                    (Status.PROVISIONING, Status.PENDING),
                )
            return
        if self._store.place(database.id, ports[0], ports[1:]):
            found = self._store.get(database.id)
            if found is not None:
                self._make(found)

    def _short_of(self, plan: Plan, nodes: int, placed: list[Database]) -> str:
        """What the host lacks for ``plan`` beside the databases placed on it, if anything."""
        used_vcpus = used_memory = used_storage = 0
        for other in placed:
            used_vcpus += other.vcpus * other.nodes
            used_memory += other.memory_mib * other.nodes
            used_storage += other.storage_mib * other.nodes
        capacity = self._capacity
        if used_vcpus + plan.vcpus * nodes > capacity.vcpus:
            return f"{capacity.vcpus - used_vcpus} of the host's vCPUs are free"
        if used_memory + plan.memory_mib * nodes > capacity.memory_mib:
            return f"{capacity.memory_mib - used_memory} MiB of the host's memory are free"
        if used_storage + plan.storage_mib * nodes > capacity.storage_mib:
            return f"{capacity.storage_mib - used_storage} MiB of the host's storage are free"
        return ""

    def _free_ports(self, taken: set[int], count: int) -> list[int] | None:
        """``count`` ports no database takes and nothing listens on: the first is the
        database's own (on the listen address), the rest its nodes' (on 127.0.0.1)."""
        found: list[int] = []
        for port in self._capacity.ports:
            if port in taken:
                continue
            if port_free(self._listen if not found else "127.0.0.1", port):
                found.append(port)
                if len(found) == count:
                    return found
        return None

    def _make(self, database: Database) -> None:
        assert database.port is not None
        if self._engine.is_made(database.id):  # made before a crash, not marked Running
            self._start(database)
        elif database.replicas:
            self._cluster.make(
                database,
                plan_of(self._plans, database),
                self._listen,
                self._certificate(database),
                self._node_archive(database),
                before_start=self._backup_config(database),
                restore=self._restore(database, first_node=True),
            )
        else:
            port = database.port
            self._engine.make(
                database.id,
                plan_of(self._plans, database),
                port,
                self._listen,
                self._certificate(database),
                database.password_verifier,
                database.database,
                archive=self._backups.archive_settings(database.id, database.backups),
                before_start=self._backup_config(database),
                restore=self._restore(database),
            )
        # Deleted while it was being made: it stays Deleting, and the next pass removes it.
        self._store.set_status(database.id, Status.RUNNING, expect=(Status.PROVISIONING,))

    def _node_archive(self, database: Database) -> Callable[[int], dict[str, str]]:
        """What each node of a highly available database says of WAL archiving."""
        return lambda node: self._backups.archive_settings(database.id, database.backups, node)

    def _backup_config(self, database: Database) -> Callable[[], object] | None:
        if not database.backups or database.port is None:
            return None
        port = database.port
        days = self._databases.backup_days(database.account_id)
        servers = [
            (self._engine.layout(self._cluster.node_id(database.id, index)), ports.postgresql)
            for index, ports in enumerate(node_ports(database)[0])
        ]
        return lambda: self._backups.configure(
            database.id, port, retention_days=days, servers=servers or None
        )

    def _restore(self, database: Database, first_node: bool = False) -> Restore | None:
        """How a database restored from another's backups is filled (``first_node``: the
        first node of a highly available one, which the others clone)."""
        if database.restore_source is None:
            return None
        source = self._store.get(database.restore_source)
        if source is None:
            raise EngineError("the database to restore from is gone")
        if source.port is not None and self._serving(source):
            # What the source committed until now is archived, so the latest point is now.
            self._backups.switch_wal(source.id, source.port)
        server, port, target = database.id, database.port, database.restore_target
        if first_node:
            server = self._cluster.node_id(database.id, 0)
            port = node_ports(database)[0][0].postgresql
        assert port is not None
        return Restore(
            lambda: self._backups.restore(source.id, server, port, target), source.database
        )

    def _start(self, database: Database) -> None:
        assert database.port is not None
        if database.replicas:
            self._cluster.configure(
                database, plan_of(self._plans, database), self._listen, self._node_archive(database)
            )
            configure = self._backup_config(database)
            if configure is not None:
                configure()
            self._cluster.start(database)
            return
        layout = self._engine.layout(database.id)
        self._engine.mount(database.id)
        current = self._engine.certificate_pem(database.id)
        if current is None or tls.needs_renewal(current, self._hosts):
            self._engine.write_certificate(layout, self._certificate(database))
        self._engine.configure(
            database.id,
            plan_of(self._plans, database),
            database.port,
            self._listen,
            self._backups.archive_settings(database.id, database.backups),
        )
        configure = self._backup_config(database)
        if configure is not None:
            configure()
        self._engine.start(database.id)

    # backups ------------------------------------------------------------------------------

    def take_backups(self) -> None:
        """Each Running database with backups: its first full backup once made, then one a
        day (``backup_every``) and whenever its owner asks (the backups job)."""
        for database in self._store.live():
            if not (database.status == Status.RUNNING and database.backups and database.port):
                continue
            if not self._serving(database):
                continue
            with self._backing_up:
                self._take_backup(database.id)

    def _take_backup(self, database_id: str) -> None:
        """One database's backup when due, unless it was deleted meanwhile."""
        database = self._store.get(database_id)
        if database is None or database.status != Status.RUNNING:
            return
        started = time.monotonic()
        try:
            if not self._backups.is_set_up(database.id):
                what = "first full backup"
                self._backups.set_up(database.id)
            elif database.backup_requested_at is not None or backup_due(
                self._backups.last_full(database.id), self._backup_every
            ):
                what = "full backup"
                self._backups.back_up(database.id)
            else:
                return
        except (EngineError, OSError) as exc:
            log.warning(
                "database %s: backup failed after %.1f s: %s",
                database.id,
                time.monotonic() - started,
                exc,
            )
            return
        # How long backups take is what an operator sizes the backups lane by (one at a time).
        log.info("database %s: %s taken in %.1f s", database.id, what, time.monotonic() - started)
        if database.backup_requested_at is not None:
            self._store.update(database.id, backup_requested_at=None)

    def _serving(self, database: Database) -> bool:
        """Whether the database takes writes now (a highly available one: a node is primary)."""
        if database.replicas:
            return self._engine.primary(database.id) is not None
        return self._engine.running(database.id)

    def _certificate(self, database: Database) -> tls.ServerCertificate:
        return tls.issue_server(self._databases.authority(), self._hosts, database.name)

    # operators ----------------------------------------------------------------------------

    def stop_all(self) -> int:
        """Stop every running cluster cleanly and unmount its volumes (the host goes down);
        the next start of Nexq starts them again. How many were stopped."""
        stopped = 0
        with self._lock:
            for folder in self._engine.database_ids():
                if self._engine.node_ids(folder):
                    self._cluster.stop(folder)
                    stopped += 1
                    continue
                if self._engine.running(folder):
                    self._engine.stop(folder)
                    stopped += 1
                self._engine.unmount(folder)
        return stopped


def _reason(exc: Exception) -> str:
    return str(exc)[:500] or type(exc).__name__
