"""``dcp compute ssh-keys …``: the account's SSH keys.

A key is named by its name or its ID. ``add`` reads the public key from a file and refuses
to send a private key: it never leaves the computer.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from nexq.cli.dcp_config import state
from nexq.cli.dcp_disk_copies import backups_app, snapshots_app
from nexq.cli.dcp_instances import instances_app, ssh
from nexq.cli.dcp_output import (
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    CliError,
    confirm_by_typing,
    emit_fields,
    emit_json,
    emit_table,
)
from nexq.client import NexqClient, SshKey

compute_app = typer.Typer(
    help="Compute: SSH keys, instances, snapshots and backups.", no_args_is_help=True
)
ssh_keys_app = typer.Typer(help="Your account's SSH keys.", no_args_is_help=True)
compute_app.add_typer(ssh_keys_app, name="ssh-keys")
compute_app.add_typer(instances_app, name="instances")
compute_app.add_typer(snapshots_app, name="snapshots")
compute_app.add_typer(backups_app, name="backups")
compute_app.command("ssh")(ssh)

Key = Annotated[str, typer.Argument(metavar="KEY", help="The key's name or ID.")]
# A private key in any of the shapes ssh-keygen, OpenSSL and PuTTY write it.
_PRIVATE = re.compile(r"BEGIN [A-Z0-9 ]*PRIVATE KEY|b3BlbnNzaC1rZXktdjE|PuTTY-User-Key-File")


def fingerprint_line(key: SshKey) -> str:
    """The line ``ssh-keygen -lf`` prints for the key's .pub file."""
    comment = key["comment"] or "no comment"
    return f"{key['bits']} {key['fingerprint']} {comment} ({key['type']})"


def find(api: NexqClient, key: str) -> SshKey:
    """The account's key with this ID or name."""
    keys = api.list_ssh_keys()
    found = next((k for k in keys if k["id"] == key), None) or next(
        (k for k in keys if k["name"] == key), None
    )
    if found is None:
        raise CliError(f"no SSH key named {key!r} (see: dcp compute ssh-keys list)", EXIT_NOT_FOUND)
    return found


def read_public_key(path: str) -> str:
    """The public key in ``path`` (``-``: standard input), refused here if it is private."""
    if path == "-":
        text = sys.stdin.read()
    else:
        file = Path(path).expanduser()
        try:
            text = file.read_text(errors="replace")
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror or exc}", EXIT_INVALID) from None
    if _PRIVATE.search(text):
        hint = (
            f" (the public key is {path}.pub)" if Path(f"{path}.pub").expanduser().is_file() else ""
        )
        raise CliError(
            f"{path} is a PRIVATE key: never upload or share it; nothing was sent. Give the "
            f"public key's file instead{hint}.",
            EXIT_INVALID,
        )
    return text


def _show(as_json: bool, key: SshKey) -> None:
    if as_json:
        emit_json(key)
        return
    emit_fields(
        {
            "id": key["id"],
            "name": key["name"],
            "fingerprint": fingerprint_line(key),
            "default": "yes" if key["default"] else "no",
            "public_key": key["public_key"],
            "created_at": key["created_at"],
        }
    )


@ssh_keys_app.command("list")
def ssh_keys_list(ctx: typer.Context) -> None:
    """Your SSH keys, oldest first; DEFAULT marks the one preselected at launch."""
    st = state(ctx)
    with st.client() as api:
        keys = api.list_ssh_keys()
    if st.json:
        emit_json(keys)
        return
    emit_table(
        ["NAME", "ID", "TYPE", "FINGERPRINT", "DEFAULT", "CREATED"],
        [
            (
                k["name"],
                k["id"],
                f"{k['type']} {k['bits']}",
                k["fingerprint"],
                "yes" if k["default"] else "",
                k["created_at"],
            )
            for k in keys
        ],
    )


@ssh_keys_app.command("add")
def ssh_keys_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the key is for, e.g. laptop.")],
    public_key_file: Annotated[
        str,
        typer.Option(
            help="The public key's file, e.g. ~/.ssh/id_ed25519.pub ('-': standard input)."
        ),
    ],
) -> None:
    """Add a public key; your first key becomes your default."""
    st = state(ctx)
    text = read_public_key(public_key_file)
    with st.client() as api:
        _show(st.json, api.add_ssh_key(name, text))


@ssh_keys_app.command("show")
def ssh_keys_show(ctx: typer.Context, key: Key) -> None:
    """A key, with its fingerprint as ssh-keygen -lf prints it."""
    st = state(ctx)
    with st.client() as api:
        _show(st.json, find(api, key))


@ssh_keys_app.command("rename")
def ssh_keys_rename(
    ctx: typer.Context,
    key: Key,
    new_name: Annotated[str, typer.Argument(metavar="NEW_NAME")],
) -> None:
    """Rename a key."""
    st = state(ctx)
    with st.client() as api:
        renamed = api.change_ssh_key(find(api, key)["id"], name=new_name)
    if st.json:
        emit_json(renamed)
        return
    st.say(f"Renamed SSH key {key} to {renamed['name']}")


@ssh_keys_app.command("set-default")
def ssh_keys_set_default(ctx: typer.Context, key: Key) -> None:
    """Make a key your default (preselected at launch)."""
    st = state(ctx)
    with st.client() as api:
        made = api.change_ssh_key(find(api, key)["id"], default=True)
    if st.json:
        emit_json(made)
        return
    st.say(f"{made['name']} is now your default SSH key")


@ssh_keys_app.command("delete")
def ssh_keys_delete(
    ctx: typer.Context,
    key: Key,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; delete.")] = False,
) -> None:
    """Delete a key; if it was your default, the oldest remaining key becomes the default."""
    st = state(ctx)
    with st.client() as api:
        found = find(api, key)  # a wrong name is said before anyone is asked anything
        if not yes:
            confirm_by_typing(found["name"], f"The SSH key {found['name']} is deleted")
        gone = api.delete_ssh_key(found["id"])
    if st.json:
        emit_json(gone)
        return
    st.say(f"Deleted SSH key {gone['name']}")
    if gone["new_default"] is not None:
        st.say(f"{gone['new_default']['name']} is now your default SSH key (the oldest remaining)")
    elif found["default"]:
        st.say("You have no SSH key left")
