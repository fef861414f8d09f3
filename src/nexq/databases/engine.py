"""The PostgreSQL engine: one cluster per database, made, started and stopped on this host.

Each database gets a folder ``<databases dir>/<id>/`` holding:

- ``data.img`` and ``wal.img``: two ext4 images, loop-mounted on ``data/`` and ``wal/``.
  The data volume has the plan's size, so a database that fills it gets PostgreSQL's own
  "could not extend file ... No space left on device" on the statement that wrote too much,
  and the host's disk is untouched. WAL lives on its own volume, sized from max_wal_size:
  were it on the data volume, a full disk would stop the WAL, and PostgreSQL panics there.
- ``tls/``: the server's certificate and key; ``run/``: its Unix socket (only Nexq, as the
  ``postgres`` role through peer authentication, connects there); ``log/``: its server log.
- ``data/reserve``: space set aside on the data volume (5 %, at least 4 MiB). A volume that
  is full refuses even DELETE and VACUUM (they write visibility maps), so when the volume
  fills, the provisioner releases the reserve and makes transactions read-only by default
  until usage falls again (see Provisioner._guard_storage).
- ``ready``: written last, once the cluster was made and its owner created. A folder without
  it was left by a crash mid-provisioning and is made again from nothing.

The servers run as the ``postgres`` OS user when Nexq runs as root (PostgreSQL refuses root),
else as Nexq's own user; each in a session of its own, so they outlive ``nexq serve``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexq.databases import roles
from nexq.databases.layout import (
    HBA,
    SUPERUSER,
    Layout,
    data_volume_mib,
    reserve_bytes,
    settings_for,
    wal_volume_mib,
)
from nexq.databases.model import OWNER_ROLE, Plan
from nexq.databases.tls import ServerCertificate

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("nexq.databases")
START_SECONDS = 60
MAJOR = 15  # the engine's version, as the console shows it (model.ENGINE)
ID_PREFIX = "db-"  # every database's id, and so its folder, starts so
NODE_PREFIX = "node-"  # a highly available database's servers, in folders of its own
VOLUMES = ("loop", "directory")


@dataclass(frozen=True, slots=True)
class Restore:
    """How a restored database's data folder is filled, and the database in it to adopt."""

    fill: Callable[[], None]
    database: str  # the source's database, renamed to the new one's


class EngineError(Exception):
    """PostgreSQL could not be made or started; the message says why, for the owner."""


def find_bindir() -> Path:
    """PostgreSQL 15's programs, as Debian's postgresql-15 installs them."""
    found = Path(f"/usr/lib/postgresql/{MAJOR}/bin")
    if not (found / "initdb").exists():
        raise EngineError(
            f"PostgreSQL {MAJOR} is not installed on this host "
            f"(apt-get install postgresql-{MAJOR})."
        )
    return found


class Engine:
    """Runs PostgreSQL clusters under ``root`` with the programs of ``bindir``."""

    def __init__(self, root: Path, bindir: Path | None = None, volumes: str = "loop") -> None:
        if volumes not in VOLUMES:
            raise ValueError(f"volumes: {volumes!r} is not one of {', '.join(VOLUMES)}")
        self.root = root
        self._bindir = bindir
        self.volumes = volumes
        self._as_root = os.geteuid() == 0
        self._version_checked = False

    @property
    def bindir(self) -> Path:
        """Found when first needed: a host without PostgreSQL runs every other service."""
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    @property
    def _user(self) -> pwd.struct_passwd:
        """The OS user the servers run as."""
        if not self._as_root:
            return pwd.getpwuid(os.geteuid())
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise EngineError(
                "The host has no postgres OS user (apt-get install postgresql makes it)."
            ) from None

    def _check_version(self) -> None:
        if self._version_checked:
            return
        done = subprocess.run(
            [str(self.bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        words = done.stdout.split()
        if done.returncode != 0 or not words or not words[-1].startswith(f"{MAJOR}."):
            raise EngineError(
                f"{self.bindir} holds {done.stdout.strip() or 'no PostgreSQL'}; databases are "
                f"PostgreSQL {MAJOR} (NEXQ_POSTGRES_BINDIR)."
            )
        self._version_checked = True

    def layout(self, database_id: str) -> Layout:
        return Layout(self.root / database_id)

    # making -------------------------------------------------------------------------------

    def check_host(self) -> None:
        """Why no database can run on this host, if none can (raised as EngineError)."""
        self._check_version()
        if self.volumes == "loop" and not self._as_root:
            raise EngineError(
                "Databases' storage volumes are loop-mounted, which needs Nexq to run as root; "
                "run it as root, or set NEXQ_DATABASES_VOLUMES=directory (no size enforced)."
            )
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            for folder in (self.root, *self.root.parents):
                if not os.stat(folder).st_mode & 0o001:
                    raise EngineError(
                        f"The postgres OS user cannot reach {self.root}: {folder} is not "
                        "searchable by others (chmod o+x), or set NEXQ_DATABASES_DIR elsewhere."
                    )

    def make(
        self,
        database_id: str,
        plan: Plan,
        port: int,
        listen: str,
        certificate: ServerCertificate,
        owner_verifier: str,
        database: str,
        archive: dict[str, str] | None = None,
        before_start: Callable[[], object] | None = None,
        restore: Restore | None = None,
    ) -> None:
        """Make the cluster from nothing (whatever a crash left is removed first), start it
        and create the owner's role and database; ``ready`` is written last. ``restore``
        fills the data folder from a backup instead of initdb: the server then recovers,
        promotes itself, and the source's database and owner are adopted (renamed, given
        the new password)."""
        self.check_host()
        layout = self.layout(database_id)
        self.remove(database_id)
        self.prepare(database_id, plan, certificate)
        if restore is None:
            self._initdb(layout)
        else:
            restore.fill()
        self.configure(database_id, plan, port, listen, archive)
        if before_start is not None:
            before_start()
        self.start(database_id)
        if restore is not None:
            self._adopt(database_id, port, restore.database, database, owner_verifier)
            self.write_owned(layout.ready, f"{time.time()}\n", 0o644)
            return
        self.create_owner(database_id, port, owner_verifier, database)
        self.write_owned(layout.ready, f"{time.time()}\n", 0o644)

    def prepare(self, server_id: str, plan: Plan, certificate: ServerCertificate) -> Layout:
        """A server's folder, volumes, reserve and certificate, its data folder still empty
        (``server_id``: a database, or one node of a highly available one)."""
        layout = self.layout(server_id)
        layout.root.mkdir(mode=0o711)
        for folder in (layout.sockets, layout.logs, layout.tls):
            folder.mkdir(mode=0o700)
            self.own(folder)
        self._make_volume(layout.data_image, layout.data_mount, data_volume_mib(plan))
        self._make_volume(layout.wal_image, layout.wal_mount, wal_volume_mib(plan))
        self.set_reserve(server_id, plan)
        self.write_certificate(layout, certificate)
        return layout

    def create_owner(self, server_id: str, port: int, owner_verifier: str, database: str) -> None:
        """The owner's role and database in a new cluster, and the functions it manages its
        roles with."""
        from psycopg import sql

        with self.connect(server_id, port) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(OWNER_ROLE), sql.Literal(owner_verifier)
                )
            )
            # Every right a database owner needs, none that reaches the host (superuser,
            # pg_execute_server_program, pg_read/write_server_files are never given).
            conn.execute(
                sql.SQL(
                    "GRANT pg_read_all_data, pg_write_all_data, pg_monitor, pg_signal_backend TO {}"
                ).format(sql.Identifier(OWNER_ROLE))
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                )
            )
        with self.connect(server_id, port, database) as conn:
            conn.execute(roles.functions(OWNER_ROLE))

    def _initdb(self, layout: Layout) -> None:
        self._run(
            [
                str(self.bindir / "initdb"),
                "--pgdata",
                str(layout.pgdata),
                "--waldir",
                str(layout.waldir),
                "--username",
                SUPERUSER,
                "--auth-local",
                "peer",
                "--auth-host",
                "reject",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--data-checksums",
            ],
            "initdb",
        )

    def _adopt(
        self, database_id: str, port: int, source: str, database: str, owner_verifier: str
    ) -> None:
        """A restored cluster: wait until it has promoted itself, then name its database as
        the new one is named and give the owner the new password."""
        import psycopg
        from psycopg import sql

        deadline = time.monotonic() + START_SECONDS * 5
        while True:
            try:
                with self.connect(database_id, port) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    if row is not None and not row[0]:
                        break
            except psycopg.OperationalError:
                pass  # still replaying the WAL
            if time.monotonic() > deadline:
                raise EngineError(
                    f"the restored server did not finish recovery: {self.last_log(database_id)}"
                )
            time.sleep(0.2)
        with self.connect(database_id, port) as conn:
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
            if source in names and source != database:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(source), sql.Identifier(database)
                    )
                )
            elif database not in names:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                    )
                )
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(OWNER_ROLE), sql.Literal(owner_verifier)
                )
            )

    def is_made(self, database_id: str) -> bool:
        return self.layout(database_id).ready.exists()

    def configure(
        self,
        database_id: str,
        plan: Plan,
        port: int,
        listen: str,
        archive: dict[str, str] | None = None,
    ) -> None:
        """(Re)write the server's settings, its client rules and who may be postgres."""
        layout = self.layout(database_id)
        values = {
            **settings_for(plan, port, listen, layout),
            **(archive or {"archive_mode": "off"}),
        }
        lines = ["# Written by Nexq from the database's plan; edits are overwritten."]
        lines += [f"{name} = '{value}'" for name, value in values.items()]
        self.write_owned(layout.pgdata / "nexq.conf", "\n".join(lines) + "\n", 0o600)
        main = layout.pgdata / "postgresql.conf"
        base = layout.pgdata / "postgresql.base.conf"
        if base.exists():
            # Restored from a highly available database: Patroni's postgresql.conf names
            # the source node's files and synchronous standbys (a commit here would wait for
            # a replica that never comes); the server's own configuration is its base.
            os.replace(base, main)
        text = main.read_text()
        if "include = 'nexq.conf'" not in text:
            self.write_owned(main, text + "\ninclude = 'nexq.conf'\n", 0o600)
        self.write_owned(layout.pgdata / "pg_hba.conf", HBA.format(superuser=SUPERUSER), 0o600)
        nexq_user = pwd.getpwuid(os.geteuid()).pw_name
        ident = "".join(
            f"nexq {user} {SUPERUSER}\n" for user in dict.fromkeys(("root", nexq_user, SUPERUSER))
        )
        self.write_owned(layout.pgdata / "pg_ident.conf", ident, 0o600)

    def write_certificate(self, layout: Layout, certificate: ServerCertificate) -> None:
        self.write_owned(layout.tls / "server.crt", certificate.certificate_pem, 0o644)
        self.write_owned(layout.tls / "server.key", certificate.key_pem, 0o600)

    def certificate_pem(self, database_id: str) -> str | None:
        path = self.layout(database_id).tls / "server.crt"
        return path.read_text() if path.exists() else None

    # running ------------------------------------------------------------------------------

    def mount(self, database_id: str) -> None:
        """Mount the volumes again (after a reboot, they are not)."""
        layout = self.layout(database_id)
        if self.volumes != "loop":
            return
        for image, mountpoint in (
            (layout.data_image, layout.data_mount),
            (layout.wal_image, layout.wal_mount),
        ):
            if not os.path.ismount(mountpoint):
                _command(["mount", "-o", "loop,nodev,nosuid,noexec", str(image), str(mountpoint)])

    def pid(self, database_id: str) -> int | None:
        """The postmaster's process id, if it runs."""
        path = self.layout(database_id).pgdata / "postmaster.pid"
        try:
            pid = int(path.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def exiting(self, database_id: str) -> bool:
        """Whether the last server exited but is not reaped yet (a zombie): PostgreSQL will
        not start while the process its lock file names still exists."""
        path = self.layout(database_id).pgdata / "postmaster.pid"
        try:
            pid = int(path.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return False
        return not alive(pid) and os.path.exists(f"/proc/{pid}")

    def running(self, database_id: str) -> bool:
        return self.pid(database_id) is not None

    def start(self, database_id: str) -> None:
        layout = self.layout(database_id)
        self.mount(database_id)
        if self.running(database_id):
            return
        startup = layout.logs / "startup.log"
        try:
            self._run(
                [
                    str(self.bindir / "pg_ctl"),
                    "start",
                    "--pgdata",
                    str(layout.pgdata),
                    "--wait",
                    "--timeout",
                    str(START_SECONDS),
                    "--log",
                    str(startup),
                    "--silent",
                ],
                "start",
            )
        except EngineError:
            raise EngineError(f"PostgreSQL did not start: {self.last_log(database_id)}") from None

    def stop(self, database_id: str, mode: str = "fast") -> None:
        layout = self.layout(database_id)
        if not self.running(database_id):
            return
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "stop",
                "--pgdata",
                str(layout.pgdata),
                "--mode",
                mode,
                "--wait",
                "--timeout",
                str(START_SECONDS),
                "--silent",
            ],
            "stop",
        )

    def kill(self, database_id: str) -> None:
        """Stop the server at once (SIGQUIT: no shutdown checkpoint; recovery on start)."""
        pid = self.pid(database_id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
            _wait_gone(pid)

    def remove(self, database_id: str) -> None:
        """Stop the server, unmount its volumes and delete every file of the database."""
        layout = self.layout(database_id)
        if not layout.root.exists():
            return
        if layout.pgdata.exists():
            pid = self.pid(database_id)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGQUIT)
                _wait_gone(pid)
        self.unmount(database_id)
        shutil.rmtree(layout.root)

    def unmount(self, database_id: str) -> None:
        """Unmount the volumes; the server's last processes may hold them a moment after
        it exited."""
        layout = self.layout(database_id)
        for mountpoint in (layout.data_mount, layout.wal_mount):
            deadline = time.monotonic() + 30
            while os.path.ismount(mountpoint):
                try:
                    _command(["umount", str(mountpoint)])
                except EngineError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def database_ids(self) -> list[str]:
        """Every database folder on the host, made or not."""
        if not self.root.exists():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and p.name.startswith(ID_PREFIX)
        )

    @contextlib.contextmanager
    def connect(
        self, database_id: str, port: int, dbname: str = "postgres"
    ) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """Nexq's own session in the cluster (the Unix socket, as postgres): in a highly
        available database, its primary's."""
        # Imported here, as everywhere psycopg is: only what reaches a PostgreSQL server loads
        # it, not every `nexq` command (about 0.1 s of each start).
        import psycopg

        server_id = database_id
        if not self.layout(database_id).pgdata.exists():
            found = self.primary(database_id)
            if found is None:
                raise EngineError("no node of the database is primary now")
            server_id, port = found
        conn = psycopg.connect(
            host=str(self.layout(server_id).sockets),
            port=port,
            user=SUPERUSER,
            dbname=dbname,
            autocommit=True,
            connect_timeout=10,
        )
        try:
            yield conn
        finally:
            conn.close()

    def node_ids(self, database_id: str) -> list[str]:
        """The servers of a highly available database (none for a single server)."""
        root = self.layout(database_id).root
        if not root.exists():
            return []
        return sorted(
            f"{database_id}/{p.name}"
            for p in root.iterdir()
            if p.is_dir() and p.name.startswith(NODE_PREFIX)
        )

    def server_port(self, server_id: str) -> int | None:
        """The port a running server listens on, as its lock file says."""
        if self.pid(server_id) is None:
            return None
        lines = (self.layout(server_id).pgdata / "postmaster.pid").read_text().split("\n")
        try:
            return int(lines[3])
        except (IndexError, ValueError):
            return None

    def primary(self, database_id: str) -> tuple[str, int] | None:
        """The node of a highly available database that takes writes now, and its port."""
        import psycopg

        for server_id in self.node_ids(database_id):
            port = self.server_port(server_id)
            if port is None:
                continue
            try:
                with self.connect(server_id, port) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            except psycopg.Error:
                continue
            if row is not None and not row[0]:
                return server_id, port
        return None

    def set_owner_password(self, database_id: str, port: int, verifier: str) -> None:
        from psycopg import sql

        with self.connect(database_id, port) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(OWNER_ROLE), sql.Literal(verifier)
                )
            )

    # the storage guard -------------------------------------------------------------------

    def reserve_path(self, database_id: str) -> Path:
        return self.layout(database_id).data_mount / "reserve"

    def set_reserve(self, database_id: str, plan: Plan) -> bool:
        """Set the reserve aside again (allocated, not sparse); False if there is no room."""
        path = self.reserve_path(database_id)
        if self.volumes != "loop" or path.exists():
            return True
        size = reserve_bytes(plan)
        if self.free_bytes(database_id) < size + 1024 * 1024:
            return False
        descriptor = os.open(path.with_name("reserve.new"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(descriptor, 0, size)
            os.fsync(descriptor)
        except OSError:
            os.close(descriptor)
            path.with_name("reserve.new").unlink()
            return False
        os.close(descriptor)
        os.replace(path.with_name("reserve.new"), path)
        return True

    def release_reserve(self, database_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.reserve_path(database_id).unlink()

    def has_reserve(self, database_id: str) -> bool:
        return self.volumes != "loop" or self.reserve_path(database_id).exists()

    def free_bytes(self, database_id: str) -> int:
        stat = os.statvfs(self.layout(database_id).data_mount)
        return stat.f_bavail * stat.f_frsize

    def reload(self, database_id: str, port: int) -> None:
        """Have the server read its configuration and certificate files again."""
        with self.connect(database_id, port) as conn:
            conn.execute("SELECT pg_reload_conf()")

    def set_read_only(self, database_id: str, port: int, read_only: bool) -> None:
        """Make transactions read-only by default (a session may still ask for READ WRITE:
        that is how a full database is cleaned up), or writable again."""
        with self.connect(database_id, port) as conn:
            if read_only:
                conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            else:
                conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
            conn.execute("SELECT pg_reload_conf()")

    def used_bytes(self, database_id: str) -> int:
        """Bytes in use on the data volume."""
        layout = self.layout(database_id)
        try:
            stat = os.statvfs(layout.data_mount)
        except OSError:
            return 0
        if self.volumes == "loop":
            reserve = self.reserve_path(database_id)
            held = reserve.stat().st_size if reserve.exists() else 0
            return (stat.f_blocks - stat.f_bfree) * stat.f_frsize - held
        return sum(f.stat().st_size for f in layout.pgdata.rglob("*") if f.is_file())

    def last_log(self, database_id: str, lines: int = 5) -> str:
        """The last lines the server logged (why it did not start)."""
        logs = sorted(self.layout(database_id).logs.glob("*.log"), key=lambda p: p.stat().st_mtime)
        for path in reversed(logs):
            text = [line for line in path.read_text(errors="replace").splitlines() if line]
            if text:
                return " ".join(text[-lines:])[-600:]
        return "no log"

    # helpers ------------------------------------------------------------------------------

    def _make_volume(self, image: Path, mountpoint: Path, size_mib: int) -> None:
        mountpoint.mkdir(mode=0o700)
        if self.volumes == "directory":
            self.own(mountpoint)
            return
        with open(image, "wb") as file:
            file.truncate(size_mib * 1024 * 1024)
        os.chmod(image, 0o600)
        owner = f"{self._user.pw_uid}:{self._user.pw_gid}"
        _command(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", f"root_owner={owner}", str(image)])
        _command(["mount", "-o", "loop,nodev,nosuid,noexec", str(image), str(mountpoint)])
        lost = mountpoint / "lost+found"
        if lost.exists():
            lost.rmdir()
        os.chmod(mountpoint, 0o700)

    def own(self, path: Path) -> None:
        if self._as_root:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def write_owned(self, path: Path, text: str, mode: int) -> None:
        temporary = path.with_name(path.name + ".new")
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        self.own(temporary)
        os.replace(temporary, path)

    def as_postgres(self) -> dict[str, Any]:
        """How a program is run as the servers' OS user, in a session of its own."""
        return {
            "user": self._user.pw_uid if self._as_root else None,
            "group": self._user.pw_gid if self._as_root else None,
            "extra_groups": [] if self._as_root else None,
            "cwd": "/",
            "env": {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self._user.pw_dir},
            "start_new_session": True,
        }

    def _run(self, args: Sequence[str], what: str) -> None:
        """Run a PostgreSQL program as the servers' OS user."""
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=START_SECONDS + 30,
            check=False,
            **self.as_postgres(),
        )
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise EngineError(f"{what} failed: {' '.join(detail) or done.returncode}")


def _command(args: Sequence[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise EngineError(f"{args[0]} failed: {done.stderr.strip()[-300:]}")


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs. A server that exited stays a zombie until whoever
    adopted it (the init process: pg_ctl leaves it behind) reaps it, which can take a
    while in a container: a zombie is not running."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_gone(pid: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def port_free(listen: str, port: int) -> bool:
    """Whether nothing listens on ``port`` (a database's port is taken when it is placed)."""
    host = "127.0.0.1" if listen in ("*", "0.0.0.0", "") else listen.split(",")[0].strip()  # noqa: S104
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True
