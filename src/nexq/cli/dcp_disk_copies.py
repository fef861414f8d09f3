"""``dcp compute snapshots …`` and ``dcp compute backups …``: point-in-time copies of an
instance's disk. Snapshots stay on the host and can be reverted to; backups go to Object
Storage, can be taken daily, and outlive their instance. Either can become a new instance
(``dcp compute instances launch NEW --from-snapshot NAME`` / ``--from-backup NAME``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from nexq.cli.dcp_config import state
from nexq.cli.dcp_output import (
    CliError,
    confirm_by_typing,
    emit_fields,
    emit_json,
    emit_table,
    size,
)
from nexq.cli.dcp_wait import Waiting, on_terminal
from nexq.client import DiskCopy, NexqClient

# Exporting a small disk takes seconds; a large one under load, minutes.
WAIT_SECONDS = 600.0
POLL_SECONDS = 0.5

Instance = Annotated[str, typer.Argument(metavar="INSTANCE", help="The instance's name.")]
Name = Annotated[str, typer.Argument(metavar="NAME", help="Its name (or ID).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")]
Wait = Annotated[bool, typer.Option("--wait", help="Wait until it is done.")]


def copies_app(kind: str) -> typer.Typer:
    """The commands of one kind ("snapshot" or "backup")."""
    plural = f"{kind}s"
    app = typer.Typer(help=f"Your instances' {plural}.", no_args_is_help=True)

    @app.command("list")
    def listed(ctx: typer.Context) -> None:
        st = state(ctx)
        with st.client() as api:
            found = api.list_copies(kind)
        if st.json:
            emit_json(found)
            return
        emit_table(
            ["NAME", "STATUS", "INSTANCE", "DISK", "SIZE", "CREATED"],
            [
                (
                    c["name"],
                    c["status"],
                    c["instance"],
                    f"{c['disk_gib']} GiB",
                    size(c["size_bytes"]) if c["status"] == "Available" else None,
                    c["created_at"],
                )
                for c in found
            ],
        )

    listed.__doc__ = f"Your {plural}."

    @app.command("create")
    def create(
        ctx: typer.Context,
        instance: Instance,
        name: Annotated[
            str | None, typer.Option(help="Default: the instance's name and the time.")
        ] = None,
        wait: Wait = False,
    ) -> None:
        st = state(ctx)
        with st.client() as api:
            made = api.take_copy(kind, instance, name)
            _show(
                st.json,
                _wait_for(api, kind, made, "Available", on_terminal(st.json)) if wait else made,
            )

    create.__doc__ = f"Take a {kind} of an instance's disk (running or stopped)."

    @app.command("show")
    def show(ctx: typer.Context, name: Name) -> None:
        st = state(ctx)
        with st.client() as api:
            _show(st.json, api.get_copy(kind, name))

    show.__doc__ = f"A {kind}: its state, instance and size."

    @app.command("delete")
    def delete(ctx: typer.Context, name: Name, yes: Yes = False, wait: Wait = False) -> None:
        st = state(ctx)
        with st.client() as api:
            found = api.get_copy(kind, name)  # a wrong name is said before anything is asked
            if not yes:
                confirm_by_typing(found["name"], f"The {kind} {found['name']} is deleted")
            deleting = api.delete_copy(kind, found["id"])
            if st.json:
                emit_json(deleting)
            else:
                typer.echo(f"Deleting {kind} {found['name']}")
            if wait and not _gone(api, kind, found, on_terminal(st.json)):
                raise CliError(f"{found['name']} is still being deleted after {WAIT_SECONDS:.0f} s")

    delete.__doc__ = f"Delete a {kind}."
    return app


snapshots_app = copies_app("snapshot")
backups_app = copies_app("backup")


@snapshots_app.command("revert")
def revert(ctx: typer.Context, name: Name, yes: Yes = False, wait: Wait = False) -> None:
    """Put a stopped instance's disk back to a snapshot (what it wrote since is lost)."""
    st = state(ctx)
    with st.client() as api:
        found = api.get_copy("snapshot", name)
        if not yes:
            confirm_by_typing(
                found["instance"],
                f"The disk of {found['instance']} is put back to {found['name']}, and what it "
                "wrote since is lost",
            )
        reverting = api.revert_to_snapshot(found["id"])
        if wait:
            reverting = _wait_for(api, "snapshot", found, "Available", on_terminal(st.json))
            instance = api.get_instance(found["instance"])
            if instance["status"] != "Stopped" or "failed" in instance["reason"]:
                raise CliError(f"{found['instance']}: {instance['reason'] or instance['status']}")
        _show(st.json, reverting)


@backups_app.command("schedule")
def schedule(
    ctx: typer.Context,
    instance: Instance,
    keep: Annotated[
        int | None,
        typer.Option(help="Daily backups kept (0 to 90); 0 turns them off."),
    ] = None,
) -> None:
    """An instance's daily backups: show them, or set how many are kept (--keep)."""
    st = state(ctx)
    with st.client() as api:
        found = (
            api.backup_schedule(instance)
            if keep is None
            else api.set_backup_schedule(instance, keep)
        )
    if st.json:
        emit_json(found)
        return
    kept = found["keep"]
    emit_fields(
        {
            "instance": found["instance"],
            "daily backups": f"on, the newest {kept} kept" if kept else "off",
        }
    )


def _show(as_json: bool, copy: DiskCopy) -> None:
    if as_json:
        emit_json(copy)
        return
    emit_fields(
        {
            "name": copy["name"],
            "id": copy["id"],
            "status": copy["status"],
            **({"reason": copy["reason"]} if copy["reason"] else {}),
            "instance": copy["instance"],
            "image": copy["image"],
            "disk": f"{copy['disk_gib']} GiB",
            "size": size(copy["size_bytes"]) if copy["status"] == "Available" else None,
            **({"expires": copy["expires_at"]} if copy["expires_at"] else {}),
            "created": copy["created_at"],
        }
    )


def _wait_for(api: NexqClient, kind: str, copy: DiskCopy, status: str, shown: bool) -> DiskCopy:
    with Waiting(copy["name"], seconds=WAIT_SECONDS, every=POLL_SECONDS, shown=shown) as waiting:
        return waiting.reach(lambda: api.get_copy(kind, copy["id"]), status)


def _gone(api: NexqClient, kind: str, copy: DiskCopy, shown: bool) -> bool:
    with Waiting(copy["name"], seconds=WAIT_SECONDS, every=POLL_SECONDS, shown=shown) as waiting:
        return waiting.gone(lambda: api.get_copy(kind, copy["id"]))
