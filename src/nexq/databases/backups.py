"""Backups with pgBackRest: its repository is an S3 bucket (Nexq's own Object Storage by
default), each database a stanza of its own under ``/<database id>`` in it.

A database with backups on archives every WAL segment as it is filled (``archive_command``),
and at least once a minute (``archive_timeout``), so that it can be restored to any second
from its oldest full backup to a minute ago. Full backups are taken when the database is
made, then daily and on demand; pgBackRest expires those older than the retention (7 days),
with the WAL they alone needed.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nexq.databases.engine import Engine, EngineError
from nexq.databases.layout import Layout
from nexq.databases.model import Backup, BackupHistory

log = logging.getLogger("nexq.databases")
BACKUP_SECONDS = 3600  # the longest a backup may take here
ARCHIVE_TIMEOUT = 60  # seconds: the most a restore can miss of what was committed


@dataclass(frozen=True, slots=True)
class Repository:
    """Where backups go: an S3 bucket over HTTPS (pgBackRest refuses plain HTTP)."""

    host: str
    port: int
    bucket: str
    region: str
    key_id: str
    secret: str
    ca_pem: str  # the CA that signed the endpoint's certificate
    retention_days: int = 7


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


class Backups:
    """pgBackRest for the databases of ``engine``; ``repository`` says where backups go
    (made the first time it is asked: a bucket and a key)."""

    def __init__(self, engine: Engine, repository: Callable[[], Repository]) -> None:
        self._engine = engine
        self._repository = repository

    # configuration -----------------------------------------------------------------------

    def archive_settings(
        self, database_id: str, enabled: bool, node: int | None = None
    ) -> dict[str, str]:
        """What the server's configuration says of WAL archiving (``node``: the number of
        a highly available database's node)."""
        if not enabled:
            return {"archive_mode": "off"}
        layout = self._engine.layout(database_id)
        config = self._config(layout) if node is None else self._node_config(layout, node)
        return {
            "archive_mode": "on",
            "archive_command": (
                f"pgbackrest --config={config} --stanza={database_id} archive-push %p"
            ),
            "archive_timeout": str(ARCHIVE_TIMEOUT),
        }

    def configure(
        self,
        database_id: str,
        port: int,
        stanza: str | None = None,
        retention_days: int | None = None,
        servers: list[tuple[Layout, int]] | None = None,
    ) -> Path:
        """Write the database's pgBackRest configuration (the repository may have moved:
        written at every start); ``stanza`` names another database's backups, restored
        into this one's folder; ``retention_days`` is the account's tier's (default: the
        installation's); ``servers``: a highly available database's nodes (pgBackRest backs
        up from whichever is primary). Returns its path."""
        layout = self._engine.layout(database_id)
        servers = servers or [(layout, port)]
        repository = self._repository()
        days = retention_days or repository.retention_days
        for folder in (layout.root / "pgbackrest", layout.root / "pgbackrest" / "lock"):
            folder.mkdir(mode=0o700, exist_ok=True)
            self._engine.own(folder)
        ca = layout.root / "pgbackrest" / "repository-ca.pem"
        self._engine.write_owned(ca, repository.ca_pem, 0o644)
        text = f"""# Written by Nexq at each start of the database; edits are overwritten.
[global]
repo1-type=s3
repo1-path=/{stanza or database_id}
repo1-s3-bucket={repository.bucket}
repo1-s3-endpoint={repository.host}
repo1-storage-port={repository.port}
repo1-s3-region={repository.region}
repo1-s3-key={repository.key_id}
repo1-s3-key-secret={repository.secret}
repo1-s3-uri-style=path
repo1-storage-ca-file={ca}
repo1-retention-full-type=time
repo1-retention-full={days}
repo1-bundle=y
log-path={layout.logs}
lock-path={layout.root / "pgbackrest" / "lock"}
log-level-console=warn
log-level-stderr=error
log-level-file=info
start-fast=y
compress-type=lz4

[{stanza or database_id}]
"""
        path = (
            self._config(layout) if stanza is None else layout.root / "pgbackrest" / "restore.conf"
        )
        # The key's secret: readable by the postgres OS user alone, as pgBackRest needs it.
        self._engine.write_owned(path, text + _servers(servers), 0o600)
        if len(servers) > 1:
            # archive-push insists that pg1 is the server it runs for: each node archives
            # with a file of its own.
            for number, server in enumerate(servers, 1):
                node = self._node_config(layout, number)
                self._engine.write_owned(node, text + _servers([server]), 0o600)
        return path

    @staticmethod
    def _config(layout: Layout) -> Path:
        return layout.root / "pgbackrest" / "pgbackrest.conf"

    @staticmethod
    def _node_config(layout: Layout, number: int) -> Path:
        return layout.root / "pgbackrest" / f"node-{number}.conf"

    # backups -----------------------------------------------------------------------------

    def is_set_up(self, database_id: str) -> bool:
        return (self._engine.layout(database_id).root / "pgbackrest" / "stanza").exists()

    def set_up(self, database_id: str) -> None:
        """Create the stanza and take the first full backup (the start of the window)."""
        self._run(database_id, "stanza-create")
        self.back_up(database_id)
        layout = self._engine.layout(database_id)
        self._engine.write_owned(layout.root / "pgbackrest" / "stanza", f"{time.time()}\n", 0o644)

    def back_up(self, database_id: str) -> None:
        self._run(database_id, "backup", "--type=full")
        layout = self._engine.layout(database_id)
        self._engine.write_owned(
            layout.root / "pgbackrest" / "last-full", f"{time.time()}\n", 0o644
        )

    def last_full(self, database_id: str) -> float | None:
        path = self._engine.layout(database_id).root / "pgbackrest" / "last-full"
        try:
            return float(path.read_text())
        except (OSError, ValueError):
            return None

    def history(self, database_id: str, port: int | None) -> BackupHistory:
        """The backups in the repository, and the recovery window."""
        if not self.is_set_up(database_id):
            return BackupHistory([], None, None, 0)
        out = self._run(database_id, "info", "--output=json")
        stanzas = json.loads(out)
        if not stanzas:
            return BackupHistory([], None, None, 0)
        found = stanzas[0]
        backups = [
            Backup(
                label=b["label"],
                type="FULL",
                taken_at=float(b["timestamp"]["stop"]),
                size=int(b["info"]["repository"]["delta"]),
                duration=float(b["timestamp"]["stop"] - b["timestamp"]["start"]),
            )
            for b in found.get("backup", [])
        ]
        # pgBackRest keeps a backup's stop time to the second (cut down) and restores to a
        # target only from a backup that stopped in an earlier second: the window opens at
        # the next whole second.
        oldest = backups[0].taken_at + 1 if backups else None
        archived = self._last_archived(database_id, port)
        latest = (
            max([t for t in (archived, backups[-1].taken_at if backups else None) if t] or [0.0])
            or None
        )
        if archived is not None and backups:
            backups.append(Backup("continuous", "WAL", archived, 0, 0.0))
        size = sum(b.size for b in backups)
        return BackupHistory(backups, oldest, latest, size)

    def _last_archived(self, database_id: str, port: int | None) -> float | None:
        """When the server last archived a WAL segment: every commit before is restorable."""
        engine = self._engine
        if port is None or not (engine.running(database_id) or engine.node_ids(database_id)):
            return None
        try:
            with self._engine.connect(database_id, port) as conn:
                row = conn.execute(
                    "SELECT extract(epoch FROM last_archived_time) FROM pg_stat_archiver"
                ).fetchone()
        except Exception:  # a server restarting: no answer now, the window is still known
            return None
        return float(str(row[0])) if row and row[0] is not None else None

    def switch_wal(self, database_id: str, port: int, seconds: float = 60.0) -> float | None:
        """Close the current WAL segment and wait until it is archived, so that what was
        committed until now can be restored; the time it was archived."""
        with self._engine.connect(database_id, port) as conn:
            # A record first, as pgBackRest's `check` does: on an idle server the switch would
            # otherwise do nothing and name a segment archived before, which the archiver may
            # have followed with a backup history file (…03.00000028.backup) that sorts below
            # it; no later segment comes to end the wait.
            conn.execute("SELECT pg_create_restore_point('nexq: restore')")
            row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
            assert row is not None
            segment = str(row[0])
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                done = conn.execute(
                    "SELECT last_archived_wal, extract(epoch FROM last_archived_time) "
                    "FROM pg_stat_archiver"
                ).fetchone()
                if done and done[0] is not None and str(done[0])[:24] >= segment:
                    return float(str(done[1]))
                time.sleep(0.1)
        raise EngineError(f"WAL segment {segment} was not archived within {seconds:.0f} s")

    def restore(self, source_id: str, database_id: str, port: int, target: float | None) -> None:
        """Restore ``source_id``'s backups into ``database_id``'s empty data folder, to
        ``target`` (or the latest point); the server promotes itself once there."""
        config = self.configure(database_id, port, stanza=source_id)
        layout = self._engine.layout(database_id)
        for folder in (layout.pgdata, layout.waldir):
            folder.mkdir(mode=0o700, exist_ok=True)
            self._engine.own(folder)
        args = [
            f"--config={config}",
            f"--stanza={source_id}",
            f"--link-map=pg_wal={layout.waldir}",
        ]
        if target is not None:
            args += ["--type=time", f"--target={_when(target)}", "--target-action=promote"]
        else:
            # To the end of the archived WAL, where PostgreSQL promotes itself: pgBackRest
            # refuses a --target-action without a target.
            args += ["--type=default"]
        self._pgbackrest([*args, "restore"], "restore")

    def remove(self, database_id: str) -> None:
        """Delete the database's backups from the repository (the database is gone)."""
        if not self.is_set_up(database_id):
            return
        self._run(database_id, "stop")
        self._run(database_id, "stanza-delete", "--force")

    def _run(self, database_id: str, command: str, *args: str) -> str:
        config = self._config(self._engine.layout(database_id))
        return self._pgbackrest(
            [f"--config={config}", f"--stanza={database_id}", *args, command], command
        )

    def _pgbackrest(self, args: list[str], what: str) -> str:
        done = subprocess.run(
            ["pgbackrest", *args],
            capture_output=True,
            text=True,
            timeout=BACKUP_SECONDS,
            check=False,
            **self._engine.as_postgres(),
        )
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-2:]
            raise EngineError(f"pgbackrest {what} failed: {' '.join(detail)[-500:]}")
        return str(done.stdout)


def _servers(servers: list[tuple[Layout, int]]) -> str:
    """A stanza's servers: pgBackRest backs up from the one that is primary."""
    return "".join(
        f"pg{number}-path={server.pgdata}\n"
        f"pg{number}-port={port}\n"
        f"pg{number}-socket-path={server.sockets}\n"
        f"pg{number}-user=postgres\n"
        for number, (server, port) in enumerate(servers, 1)
    )


def backup_due(last: float | None, every: float, now: float | None = None) -> bool:
    return last is None or (now or time.time()) - last >= every
