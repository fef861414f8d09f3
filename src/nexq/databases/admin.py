"""``nexq admin databases …``: the operator's view of every database on the host."""

from __future__ import annotations

from typing import Annotated, Protocol

import typer

from nexq.adminkit import Commands, DataDir, Opener, emit
from nexq.databases.errors import NoSuchDatabase
from nexq.databases.model import Status
from nexq.databases.provisioner import Provisioner
from nexq.databases.store import SqlDatabases


class Installation(Protocol):
    """What the commands need of a built installation."""

    database_store: SqlDatabases
    database_provisioner: Provisioner


def commands(open_installation: Opener[Installation]) -> Commands:
    """The ``databases`` group of ``nexq admin``; each prints JSON."""
    cli = typer.Typer(
        help="Databases: every account's clusters on this host.", no_args_is_help=True
    )

    @cli.command("list")
    def list_(data_dir: DataDir = None) -> None:
        """Every database that is not deleted, of every account."""
        with open_installation(data_dir) as nexq:
            found = nexq.database_store.live()
        emit(
            [
                {
                    "id": d.id,
                    "account_id": d.account_id,
                    "name": d.name,
                    "plan": d.plan,
                    "status": d.status,
                    "reason": d.reason,
                    "port": d.port,
                }
                for d in found
            ]
        )

    @cli.command("reconcile")
    def reconcile(data_dir: DataDir = None) -> None:
        """Bring every database to its state now (what the running server does each
        second): make new ones, start stopped ones, remove deleted ones."""
        with open_installation(data_dir) as nexq:
            nexq.database_provisioner.reconcile()
            found = nexq.database_store.live()
        emit({d.name: d.status for d in found})

    @cli.command("retry")
    def retry(
        database_id: Annotated[str, typer.Argument(metavar="DATABASE_ID")],
        data_dir: DataDir = None,
    ) -> None:
        """Try a database in Error again: start it (or make it, if it never ran)."""
        with open_installation(data_dir) as nexq:
            found = nexq.database_store.get(database_id)
            if found is None or found.status not in Status.LIVE:
                raise NoSuchDatabase(f"No database has the id {database_id!r}.")
            again = Status.RUNNING if found.running_since else Status.PROVISIONING
            nexq.database_store.set_status(database_id, again)
            nexq.database_provisioner.reconcile()
            after = nexq.database_store.get(database_id)
        emit({"id": database_id, "status": after.status if after else None})

    @cli.command("stop-all")
    def stop_all(data_dir: DataDir = None) -> None:
        """Stop every cluster on this host cleanly and unmount its volumes (before the host
        goes down); Nexq starts them again when it next runs."""
        with open_installation(data_dir) as nexq:
            stopped = nexq.database_provisioner.stop_all()
        emit({"stopped": stopped})

    return {"databases": cli}
