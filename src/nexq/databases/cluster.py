"""High availability: a database of several PostgreSQL servers run by Patroni, reached
through one endpoint that always leads to the primary.

A highly available database ``db-x`` keeps, beside its own folder's ``tls/``, ``log/`` and
``pgbackrest/``:

- ``node-1/``, ``node-2/``, …: one server each, laid out as a single database is (its own
  volumes, socket folder, certificate and logs), with ``patroni.json`` (its Patroni's
  configuration, readable by the postgres OS user alone: the replication and REST passwords
  are in it, as Patroni needs them in clear) and ``raft/`` (its vote in the cluster).
- ``witness/``: a two-node database's third Raft voter (``patroni_raft_controller``), so
  that a majority remains when either node dies.
- ``haproxy.cfg``: the endpoint, on the database's own port. It forwards each connection
  to the node whose Patroni answers ``GET /primary`` with 200, and drops the connections
  of a node that stops being primary; TLS passes through (PostgreSQL negotiates it inside
  its own protocol), so clients verify the servers' certificates as with a single server.

Patroni (Debian's ``patroni`` with its built-in Raft, no etcd to run) elects the primary,
promotes a replica when the primary is gone for ``TTL`` seconds, and makes the old primary
a replica again when it comes back (pg_rewind). With synchronous mode, a commit is only
acknowledged once a replica has it, so a failover loses no acknowledged commit.

Every process runs as the postgres OS user in a session of its own, so databases outlive
``nexq serve``; the provisioner starts again whatever stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nexq.databases.cluster_config import (
    REPLICATION_ROLE,
    REWIND_ROLE,
    haproxy_config,
    patroni_config,
)
from nexq.databases.engine import Engine, EngineError, Restore, alive
from nexq.databases.model import Database, Node, Plan, node_ports
from nexq.databases.takeover import Member, awaits_takeover
from nexq.databases.tls import ServerCertificate

log = logging.getLogger("nexq.databases")
MAKE_SECONDS = 180.0
REWIND_FUNCTIONS = (
    "pg_ls_dir(text, boolean, boolean)",
    "pg_stat_file(text, boolean)",
    "pg_read_binary_file(text)",
    "pg_read_binary_file(text, bigint, bigint, boolean)",
)
PATRONI = "patroni"
WITNESS = "patroni_raft_controller"


class Cluster:
    """The Patroni clusters and endpoints of the highly available databases of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._down_since: dict[str, float] = {}  # a node's id: when it was first seen down
        self._leaders: dict[str, str] = {}  # a database's id: the node last seen primary

    # where things are --------------------------------------------------------------------

    def node_id(self, database_id: str, index: int) -> str:
        return f"{database_id}/node-{index + 1}"

    def _file(self, database_id: str, name: str) -> Path:
        return self._engine.layout(database_id).root / name

    # making ------------------------------------------------------------------------------

    def make(
        self,
        database: Database,
        plan: Plan,
        listen: str,
        certificate: ServerCertificate,
        archive: Callable[[int], dict[str, str]],
        before_start: Callable[[], object] | None = None,
        restore: Restore | None = None,
    ) -> None:
        """Make every node (whatever a crash left is removed first), start Patroni on each
        and the endpoint, wait for a primary, create the owner, then wait for the replicas;
        ``ready`` is written last. ``restore`` fills the first node from a backup (see
        ``_restore_first_node``); the others clone it."""
        engine = self._engine
        engine.check_host()
        self.remove(database.id)
        root = engine.layout(database.id)
        root.root.mkdir(mode=0o711)
        for folder in (root.logs, root.tls, root.sockets):
            folder.mkdir(mode=0o700)
            engine.own(folder)
        engine.write_certificate(root, certificate)
        passwords = {
            REPLICATION_ROLE: secrets.token_urlsafe(24),
            REWIND_ROLE: secrets.token_urlsafe(24),
            "rest": secrets.token_urlsafe(24),
        }
        nodes = node_ports(database)[0]
        for index in range(database.nodes):
            if index == 0 and restore is not None:
                self._restore_first_node(database, plan, certificate, restore, passwords)
            else:
                engine.prepare(self.node_id(database.id, index), plan, certificate)
        self.configure(database, plan, listen, archive, passwords)
        if before_start is not None:
            before_start()
        # Every node at once: Raft needs a majority of its voters to elect anything, and
        # whichever node wins the race to bootstrap is the first primary.
        self.start(database)
        primary = self.wait_until_serving(database, MAKE_SECONDS)
        if restore is None:
            engine.create_owner(
                primary,
                nodes[_index(primary)].postgresql,
                database.password_verifier,
                database.database,
            )
        self._wait_for_replicas(database, MAKE_SECONDS)
        engine.write_owned(root.ready, f"{time.time()}\n", 0o644)

    def _restore_first_node(
        self,
        database: Database,
        plan: Plan,
        certificate: ServerCertificate,
        restore: Restore,
        passwords: dict[str, str],
    ) -> None:
        """A restored database's first node: restored and recovered as a single server is
        (the owner and database adopted), given the roles Patroni's nodes replicate and
        rewind with, then stopped cleanly. Patroni takes over a data folder it finds made
        (the first node becomes primary with this data); the other nodes, which have no
        bootstrap section, wait for it and clone it."""
        engine = self._engine
        server = self.node_id(database.id, 0)
        port = node_ports(database)[0][0].postgresql
        engine.make(
            server,
            plan,
            port,
            "127.0.0.1",
            certificate,
            database.password_verifier,
            database.database,
            archive={"archive_mode": "off"},
            restore=restore,
        )
        from psycopg import sql

        with engine.connect(server, port) as conn:
            for role, options in ((REPLICATION_ROLE, "REPLICATION"), (REWIND_ROLE, "")):
                exists = conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
                ).fetchone()
                conn.execute(
                    sql.SQL("{} ROLE {} WITH LOGIN {} PASSWORD {}").format(
                        sql.SQL("ALTER" if exists else "CREATE"),
                        sql.Identifier(role),
                        sql.SQL(options),
                        sql.Literal(passwords[role]),
                    )
                )
            # pg_rewind reads the old primary's files through these (as Patroni grants them
            # when it makes a cluster itself).
            for function in REWIND_FUNCTIONS:
                conn.execute(
                    sql.SQL("GRANT EXECUTE ON FUNCTION pg_catalog.{} TO {}").format(
                        sql.SQL(function), sql.Identifier(REWIND_ROLE)
                    )
                )
            # pgBackRest left its recovery target in postgresql.auto.conf, which outranks
            # Patroni's settings: a node that later follows another would stop at it.
            conn.execute("ALTER SYSTEM RESET ALL")
        engine.stop(server)
        layout = engine.layout(server)
        layout.ready.unlink(missing_ok=True)
        # Patroni keeps the postgresql.conf it finds as the base its own includes: the
        # single server's settings must not linger there.
        engine.write_owned(
            layout.pgdata / "postgresql.conf", "# Patroni's settings are in its own file.\n", 0o600
        )

    def configure(
        self,
        database: Database,
        plan: Plan,
        listen: str,
        archive: Callable[[int], dict[str, str]],
        passwords: dict[str, str] | None = None,
    ) -> None:
        """(Re)write every node's Patroni configuration, the witness's and the endpoint's
        (the passwords are kept from the files already written when not given)."""
        engine = self._engine
        nodes, witness = node_ports(database)
        if passwords is None:
            passwords = self._passwords(database.id)
        raft_peers = [f"127.0.0.1:{n.raft}" for n in nodes]
        if witness is not None:
            raft_peers.append(f"127.0.0.1:{witness}")
        for index, ports in enumerate(nodes):
            server = self.node_id(database.id, index)
            layout = engine.layout(server)
            raft = layout.root / "raft"
            raft.mkdir(mode=0o700, exist_ok=True)
            engine.own(raft)
            config = patroni_config(
                database,
                index,
                ports,
                [p for p in raft_peers if p != f"127.0.0.1:{ports.raft}"],
                layout,
                plan,
                archive(index + 1),
                passwords,
                engine.bindir,
                listen,
            )
            engine.write_owned(layout.root / "patroni.json", json.dumps(config, indent=1), 0o600)
        if witness is not None:
            folder = self._file(database.id, "witness")
            folder.mkdir(mode=0o700, exist_ok=True)
            engine.own(folder)
            config = {
                "raft": {
                    "data_dir": str(folder),
                    "self_addr": f"127.0.0.1:{witness}",
                    "partner_addrs": [f"127.0.0.1:{n.raft}" for n in nodes],
                }
            }
            engine.write_owned(folder / "witness.json", json.dumps(config, indent=1), 0o600)
        engine.write_owned(
            self._file(database.id, "haproxy.cfg"), haproxy_config(database, listen), 0o600
        )

    def _passwords(self, database_id: str) -> dict[str, str]:
        config = json.loads(
            (self._engine.layout(self.node_id(database_id, 0)).root / "patroni.json").read_text()
        )
        auth = config["postgresql"]["authentication"]
        return {
            REPLICATION_ROLE: auth["replication"]["password"],
            REWIND_ROLE: auth["rewind"]["password"],
            "rest": config["restapi"]["authentication"]["password"],
        }

    # running -----------------------------------------------------------------------------

    def start(self, database: Database) -> None:
        """Start whatever of the database is not running: the witness, each node's Patroni
        (which starts its PostgreSQL), the endpoint. A node whose server died while it was
        primary waits while another node can take over (see :func:`awaits_takeover`)."""
        engine = self._engine
        nodes, witness = node_ports(database)
        if witness is not None:
            folder = self._file(database.id, "witness")
            self._spawn(folder / "witness.pid", WITNESS, folder / "witness.json", folder / "log")
        members = self.members(database)
        leader = next((m.name for m in members if m.role == "leader"), None)
        if leader is not None:
            self._leaders[database.id] = leader
        servers = [self.node_id(database.id, index) for index in range(len(nodes))]
        running = [_running(engine.layout(server).root / "patroni.pid") for server in servers]
        for index, server in enumerate(servers):
            layout = engine.layout(server)
            pidfile = layout.root / "patroni.pid"
            if running[index]:
                self._down_since.pop(server, None)
                continue
            down = time.monotonic() - self._down_since.setdefault(server, time.monotonic())
            others = any(up for other, up in enumerate(running) if other != index)
            if awaits_takeover(
                f"node-{index + 1}",
                members,
                database.synchronous,
                down,
                others,
                self._leaders.get(database.id),
            ):
                continue
            if others:  # a node died in a running cluster (not a make, not a host restart)
                log.warning(
                    "database %s: node %d stopped; starting it again", database.id, index + 1
                )
            engine.mount(server)
            _clear_lock(engine, server)
            self._spawn(pidfile, PATRONI, layout.root / "patroni.json", layout.logs / "patroni.log")
            self._down_since.pop(server, None)  # its next death is timed from then on
        self._spawn(
            self._file(database.id, "run/haproxy.pid"),
            "haproxy",
            self._file(database.id, "haproxy.cfg"),
            None,
        )

    def seen_primary(self, database_id: str, server_id: str) -> None:
        """The supervisor saw node ``server_id`` take writes: should it die, a takeover from
        it is awaited (see :func:`awaits_takeover`)."""
        self._leaders[database_id] = f"node-{_index(server_id) + 1}"

    def running(self, database: Database) -> bool:
        """Whether every process of the database runs."""
        pidfiles = [
            self._engine.layout(self.node_id(database.id, i)).root / "patroni.pid"
            for i in range(database.nodes)
        ]
        pidfiles.append(self._file(database.id, "run/haproxy.pid"))
        if node_ports(database)[1] is not None:
            pidfiles.append(self._file(database.id, "witness") / "witness.pid")
        return all(_running(p) for p in pidfiles)

    def _spawn(self, pidfile: Path, program: str, config: Path, logfile: Path | None) -> None:
        """Start ``program`` as the postgres OS user, detached (adopted by init, so no zombie
        of it is left in Nexq), unless it runs; its process id goes to ``pidfile``."""
        if _running(pidfile):
            return
        if program == "haproxy":
            # HAProxy forks into the background itself and writes its own pidfile.
            args = [_program("haproxy"), "-D", "-q", "-f", str(config), "-p", str(pidfile)]
            done = subprocess.run(
                args, capture_output=True, text=True, check=False, **self._engine.as_postgres()
            )
            if done.returncode != 0:
                raise EngineError(f"haproxy did not start: {done.stderr.strip()[-300:]}")
            return
        assert logfile is not None
        done = subprocess.run(
            [
                "/bin/sh",
                "-c",
                '"$0" "$1" >>"$2" 2>&1 </dev/null & echo $!',
                _program(program),
                str(config),
                str(logfile),
            ],
            capture_output=True,
            text=True,
            check=False,
            **self._engine.as_postgres(),
        )
        if done.returncode != 0 or not done.stdout.strip().isdigit():
            raise EngineError(f"{program} did not start: {done.stderr.strip()[-300:]}")
        self._engine.write_owned(pidfile, done.stdout.strip() + "\n", 0o644)

    def members(self, database: Database) -> list[Member]:
        """The nodes as Patroni sees them (none if no Patroni answers)."""
        for ports in node_ports(database)[0]:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{ports.rest}/cluster", timeout=2
                ) as answer:
                    found = json.load(answer)
            except (OSError, ValueError, urllib.error.URLError):
                continue
            return [
                Member(
                    str(m.get("name")),
                    str(m.get("role", "")),
                    str(m.get("state", "")),
                    _lag(m.get("lag")),
                )
                for m in found.get("members", [])
            ]
        return []

    def nodes(self, database: Database) -> list[Node]:
        """Its nodes for the nodes table: the primary first."""
        members = {m.name: m for m in self.members(database)}
        found = []
        for index in range(database.nodes):
            name = f"node-{index + 1}"
            member = members.get(name)
            if member is None:
                found.append(Node(f"{database.name}-{index + 1}", "replica", "stopped", None))
                continue
            role = "primary" if member.role in ("leader", "master", "primary") else "replica"
            status = "running" if member.state in ("running", "streaming") else member.state
            lag = None if role == "primary" else member.lag
            synchronous = member.role == "sync_standby"
            found.append(Node(f"{database.name}-{index + 1}", role, status, lag, synchronous))
        return sorted(found, key=lambda n: (n.role != "primary", n.id))

    def wait_until_serving(self, database: Database, seconds: float) -> str:
        """Wait until a node is primary and takes writes; which one."""
        deadline = time.monotonic() + seconds
        while True:
            found = self._engine.primary(database.id)
            if found is not None:
                return found[0]
            if time.monotonic() > deadline or not self._any_patroni(database):
                raise EngineError(f"no node became primary: {self._last_log(database)}")
            time.sleep(0.2)

    def _any_patroni(self, database: Database) -> bool:
        return any(
            _running(self._engine.layout(self.node_id(database.id, i)).root / "patroni.pid")
            for i in range(database.nodes)
        )

    def _wait_for_replicas(self, database: Database, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            members = self.members(database)
            streaming = [
                m for m in members if m.role != "leader" and m.state in ("running", "streaming")
            ]
            synchronous = any(m.role == "sync_standby" for m in streaming)
            # Running means what it promises: with synchronous commits, a replica is
            # named synchronous before the first commit is acknowledged.
            if len(streaming) >= database.replicas and (synchronous or not database.synchronous):
                return
            if time.monotonic() > deadline:
                raise EngineError(f"the replicas did not start: {self._last_log(database)}")
            time.sleep(0.2)

    def _last_log(self, database: Database) -> str:
        texts = []
        for index in range(database.nodes):
            server = self.node_id(database.id, index)
            path = self._engine.layout(server).logs / "patroni.log"
            with contextlib.suppress(OSError):
                lines = [x for x in path.read_text(errors="replace").splitlines() if x]
                if lines:
                    texts.append(f"node-{index + 1}: {lines[-1][-200:]}")
        return " ".join(texts) or "no log"

    # stopping ----------------------------------------------------------------------------

    def kill_node(self, database: Database, index: int) -> None:
        """Kill one node at once, Patroni and PostgreSQL (kill -9: a host that died)."""
        server = self.node_id(database.id, index)
        pidfile = self._engine.layout(server).root / "patroni.pid"
        postmaster = self._engine.pid(server)
        for pid in (_pid(pidfile), postmaster):
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for pid in (_pid(pidfile), postmaster):
            if pid is not None:
                _wait_gone(pid)

    def stop(self, database_id: str) -> None:
        """Stop the endpoint, every Patroni (which stops its server cleanly) and the
        witness; unmount the nodes' volumes."""
        engine = self._engine
        for pidfile in [
            self._file(database_id, "run/haproxy.pid"),
            *(engine.layout(n).root / "patroni.pid" for n in engine.node_ids(database_id)),
            self._file(database_id, "witness") / "witness.pid",
        ]:
            pid = _pid(pidfile)
            if pid is not None and alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                _wait_gone(pid, 60)
        for server in engine.node_ids(database_id):
            engine.stop(server)
            engine.unmount(server)

    def remove(self, database_id: str) -> None:
        """Stop every process of the database at once and delete its files."""
        engine = self._engine
        pidfiles = [
            self._file(database_id, "run/haproxy.pid"),
            self._file(database_id, "witness") / "witness.pid",
            *(engine.layout(n).root / "patroni.pid" for n in engine.node_ids(database_id)),
        ]
        for pidfile in pidfiles:
            pid = _pid(pidfile)
            if pid is not None and alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_gone(pid)
        for server in engine.node_ids(database_id):
            engine.remove(server)
        engine.remove(database_id)

    def reload(self, database: Database) -> None:
        """Have every running node read its certificate and settings again."""
        for server in self._engine.node_ids(database.id):
            port = self._engine.server_port(server)
            if port is not None:
                with contextlib.suppress(EngineError, OSError):
                    self._engine.reload(server, port)


PACKAGES = {"haproxy": "haproxy", PATRONI: "patroni python3-pysyncobj", WITNESS: "patroni"}


def _program(name: str) -> str:
    """Where a program of high availability is (Debian's packages)."""
    found = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise EngineError(
            f"High availability needs {name} on this host (apt-get install {PACKAGES[name]})."
        )
    return found


def check_programs() -> None:
    for name in PACKAGES:
        _program(name)


def _index(server_id: str) -> int:
    return int(server_id.rsplit("-", 1)[1]) - 1


def _lag(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    return None


def _pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _running(pidfile: Path) -> bool:
    pid = _pid(pidfile)
    return pid is not None and alive(pid)


def _clear_lock(engine: Engine, server: str) -> None:
    """A killed server's lock file names a process that is gone; PostgreSQL starts over it,
    but a zombie of it must be reaped first (engine.exiting)."""
    deadline = time.monotonic() + 30
    while engine.exiting(server) and time.monotonic() < deadline:
        time.sleep(0.1)


def _wait_gone(pid: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
