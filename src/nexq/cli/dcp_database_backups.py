"""``dcp databases backups``: a database's backups, its recovery window (what ``dcp databases
restore`` can reach), and "Back up now"."""

from __future__ import annotations

from typing import Annotated

import typer

from nexq.cli.dcp_config import state
from nexq.cli.dcp_output import CliError, emit_fields, emit_json, emit_table, note, size
from nexq.cli.dcp_wait import Waiting, on_terminal
from nexq.client import BackupRequested, DatabaseBackup, DatabaseBackups, NexqClient

backups_app = typer.Typer(help="A database's backups and recovery window.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The database's name.")]
# A requested backup is taken within seconds; a big database takes longer, and then the
# deadline says so rather than leaving a script waiting for ever.
WAIT_SECONDS = 120.0
POLL_SECONDS = 1.0
FIELDS = ("label", "type", "taken_at", "size", "duration")  # of one backup, for people


@backups_app.command("list")
def backups_list(ctx: typer.Context, name: Name) -> None:
    """Its backups, then the recovery window: the times `dcp databases restore --to` takes."""
    st = state(ctx)
    with st.client() as api:
        found = api.database_backups(name)
        if st.json:
            emit_json(found)
            return
        window = found["recovery_window"]
        # The API answers the same empty window for both: people are told which it is.
        backups_off = window["oldest"] is None and not api.get_database(name)["backups"]
    emit_table(
        ["LABEL", "TYPE", "TAKEN", "SIZE", "DURATION"], [_values(b) for b in found["backups"]]
    )
    if backups_off:
        typer.echo("Recovery window: none (automated backups are off)")
    elif window["oldest"] is None or window["latest"] is None:
        typer.echo("Recovery window: none yet (the first full backup is on its way)")
    else:
        typer.echo(f"Recovery window: {window['oldest']} … {window['latest']}")


@backups_app.command("create")
def backups_create(
    ctx: typer.Context,
    name: Name,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help=f"Wait until the new full backup is taken (at most {WAIT_SECONDS:.0f} s).",
        ),
    ] = False,
) -> None:
    """Back up now: a full backup, taken within seconds."""
    st = state(ctx)
    with st.client() as api:
        requested = api.back_up_database(name)
        if not wait:
            if st.json:
                emit_json(requested)
            else:
                typer.echo(
                    f"Backup of {name} requested at {requested['requested_at']}: {_follow(name)}"
                )
            return
        if not st.json:
            note(f"Waiting for the backup of {name} …")
        taken = _wait_taken(api, name, requested, on_terminal(st.json))
    if st.json:
        emit_json(taken)
        return
    emit_fields(dict(zip(FIELDS, _values(taken), strict=True)))


def _wait_taken(
    api: NexqClient, name: str, requested: BackupRequested, shown: bool
) -> DatabaseBackup:
    """The first FULL backup that ended after the request: whether the request started it
    or it was already running, it holds everything committed before the request."""

    def taken() -> DatabaseBackup | None:
        for backup in _full(api.database_backups(name)):
            # Both are UTC ISO 8601 to the second (one format): their text sorts as they do.
            if backup["taken_at"] > requested["requested_at"]:
                return backup
        return None

    with Waiting(
        f"backup of {name}", seconds=WAIT_SECONDS, every=POLL_SECONDS, shown=shown
    ) as waiting:
        seen = waiting.until(
            taken,
            lambda backup: backup is not None,
            lambda backup: "taken" if backup is not None else "being taken",
            interruptible=True,
        )
    if seen.interrupted:
        raise CliError(f"stopped waiting for the backup of {name}: {_follow(name)}")
    if seen.last is None:
        raise CliError(f"no new full backup of {name} after {WAIT_SECONDS:.0f} s: {_follow(name)}")
    return seen.last


def _follow(name: str) -> str:
    return f"`dcp databases backups list {name}` shows it once taken"


def _full(found: DatabaseBackups) -> list[DatabaseBackup]:
    return [b for b in found["backups"] if b["type"] == "FULL"]


def _values(backup: DatabaseBackup) -> tuple[str, str, str, str | None, str | None]:
    # The WAL row says up to when WAL is archived; it has no size or duration of its own.
    full = backup["type"] == "FULL"
    return (
        backup["label"],
        backup["type"],
        backup["taken_at"],
        size(backup["size"]) if full else None,
        f"{backup['duration_seconds']:.1f} s" if full else None,
    )
