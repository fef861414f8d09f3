"""``dcp compute instances …`` and ``dcp compute ssh NAME``: the account's virtual machines.

``launch --wait`` and the actions' ``--wait`` poll the instance until it reaches the state
asked for, so a script can ssh right after; ``ssh`` execs the real OpenSSH client.
"""

from __future__ import annotations

import os
import shutil
import socket
from typing import Annotated

import typer

from nexq.cli.dcp_config import state
from nexq.cli.dcp_output import (
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    CliError,
    confirm_by_typing,
    emit_fields,
    emit_json,
    emit_table,
    note,
)
from nexq.cli.dcp_wait import Waiting, on_terminal
from nexq.client import Instance, NexqClient

instances_app = typer.Typer(help="Your virtual machines.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The instance's name.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")]
# Under TCG (no KVM), a tiny instance's SSH is up within seconds, a Debian one's within a
# minute or two on a busy host.
WAIT_SECONDS = 300.0
POLL_SECONDS = 0.5
Wait = Annotated[
    bool,
    typer.Option(
        "--wait",
        help=f"Wait until it is done (at most {WAIT_SECONDS:.0f} s); for Running, until its "
        "SSH server answers.",
    ),
]


@instances_app.command("list")
def instances_list(ctx: typer.Context) -> None:
    """Your instances."""
    st = state(ctx)
    with st.client() as api:
        found = api.list_instances()
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["NAME", "STATUS", "IMAGE", "SIZE", "SSH", "CREATED"],
        [
            (
                i["name"],
                i["status"],
                i["image"],
                i["size"]["id"],
                f"{i['ssh']['host']}:{i['ssh']['port']}" if i["ssh"] else None,
                i["created_at"],
            )
            for i in found
        ],
    )


@instances_app.command("sizes")
def sizes(ctx: typer.Context) -> None:
    """The sizes an instance can be launched with (--size takes the ID)."""
    st = state(ctx)
    with st.client() as api:
        found = api.instance_sizes()
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["ID", "NAME", "VCPUS", "MEMORY", "DISK"],
        [
            (s["id"], s["name"], s["vcpus"], f"{s['memory_mib']} MiB", f"{s['disk_gib']} GiB")
            for s in found
        ],
    )


@instances_app.command("images")
def images(ctx: typer.Context) -> None:
    """The images an instance can boot (--image takes the ID)."""
    st = state(ctx)
    with st.client() as api:
        found = api.instance_images()
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["ID", "USER", "READY", "TITLE"],
        [(i["id"], i["user"], "yes" if i["ready"] else "no", i["title"]) for i in found],
    )


@instances_app.command("launch")
def launch(
    ctx: typer.Context,
    name: Name,
    size: Annotated[str, typer.Option(help="A size's ID: see `dcp compute instances sizes`.")],
    image: Annotated[str, typer.Option(help="An image's ID.")] = "tiny",
    ssh_key: Annotated[
        str | None,
        typer.Option("--ssh-key", help="One of your SSH keys (name or ID); default: your default."),
    ] = None,
    from_snapshot: Annotated[
        str | None,
        typer.Option("--from-snapshot", help="A snapshot whose disk (and image) it starts with."),
    ] = None,
    from_backup: Annotated[
        str | None,
        typer.Option("--from-backup", help="A backup whose disk (and image) it starts with."),
    ] = None,
    wait: Wait = False,
) -> None:
    """Launch an instance; with --wait, once it is Running, how to connect."""
    st = state(ctx)
    if from_snapshot is not None and from_backup is not None:
        raise CliError("give --from-snapshot or --from-backup, not both", EXIT_USAGE)
    with st.client() as api:
        if from_snapshot is not None:
            made = api.launch_from_copy("snapshot", from_snapshot, name, size, ssh_key)
        elif from_backup is not None:
            made = api.launch_from_copy("backup", from_backup, name, size, ssh_key)
        else:
            made = api.launch_instance(name, size, image, ssh_key)
        if not wait:
            _show(st.json, made)
            return
        if not st.json:
            note(f"Waiting for {name} to be Running …")
        _show(st.json, _wait_for(api, name, "Running", on_terminal(st.json)))


@instances_app.command("show")
def show(ctx: typer.Context, name: Name) -> None:
    """An instance: its state, size, key and SSH line."""
    st = state(ctx)
    with st.client() as api:
        _show(st.json, api.get_instance(name))


def _action(action: str, done: str, doc: str) -> None:
    def command(ctx: typer.Context, name: Name, wait: Wait = False) -> None:
        st = state(ctx)
        with st.client() as api:
            moved = api.instance_action(name, action)
            _show(st.json, _wait_for(api, name, done, on_terminal(st.json)) if wait else moved)

    command.__doc__ = doc
    instances_app.command(action)(command)


_action("stop", "Stopped", "Stop an instance (ACPI shutdown, forced after 30 s).")
_action("start", "Running", "Start a stopped instance again (same disk, same SSH port).")
_action("reboot", "Running", "Reboot an instance (the machine's reset).")


@instances_app.command("delete")
def delete(ctx: typer.Context, name: Name, yes: Yes = False, wait: Wait = False) -> None:
    """Delete an instance with its disk."""
    st = state(ctx)
    with st.client() as api:
        api.get_instance(name)  # a wrong name is said before anyone is asked anything
        if not yes:
            confirm_by_typing(name, f"The instance {name} and its disk are deleted")
        deleting = api.delete_instance(name)
        if st.json:
            emit_json(deleting)
        else:
            typer.echo(f"Deleting instance {name}: it is gone within seconds")
        if wait and not _gone(api, name, on_terminal(st.json)):
            raise CliError(f"{name} is still being deleted after {WAIT_SECONDS:.0f} s")


@instances_app.command("console")
def console(
    ctx: typer.Context,
    name: Name,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, max=1000)] = 50,
) -> None:
    """The last lines of the instance's serial console."""
    st = state(ctx)
    with st.client() as api:
        found = api.instance_console(name, lines)
    if st.json:
        emit_json({"lines": found})
        return
    for line in found:
        typer.echo(line)


def ssh(
    ctx: typer.Context,
    name: Name,
    identity: Annotated[
        str | None, typer.Option("--identity", "-i", help="The private key's file.")
    ] = None,
    command: Annotated[
        list[str] | None, typer.Argument(help="A command to run instead of a shell.")
    ] = None,
) -> None:
    """Connect to an instance with ssh (the line `show` prints)."""
    st = state(ctx)
    with st.client() as api:
        found = api.get_instance(name)
    if found["status"] != "Running" or found["ssh"] is None:
        raise CliError(f"{name} is {found['status']}: it can be reached once Running")
    program = shutil.which("ssh")
    if program is None:
        raise CliError("ssh is not installed (Debian: apt install openssh-client)", EXIT_NOT_FOUND)
    endpoint = found["ssh"]
    # The host key is remembered per instance, not per host:port (a port is given to another
    # instance once this one is deleted), and the first one is trusted, as a new
    # instance's key cannot be known beforehand.
    args = [program, "-p", str(endpoint["port"]), "-o", f"HostKeyAlias=nexq-{found['id']}"]
    args += ["-o", "StrictHostKeyChecking=accept-new"]
    if identity is not None:
        args += ["-i", identity]
    args += [f"{endpoint['user']}@{endpoint['host']}", *(command or [])]
    os.execv(program, args)  # noqa: S606 - ssh found on PATH, no shell


def _show(as_json: bool, instance: Instance) -> None:
    if as_json:
        emit_json(instance)
        return
    reason = {"reason": instance["reason"]} if instance["reason"] else {}
    emit_fields(
        {
            "name": instance["name"],
            "status": instance["status"],
            **reason,
            "image": instance["image"],
            "size": f"{instance['size']['id']} ({instance['size']['vcpus']} vCPU, "
            f"{instance['size']['memory_mib']} MiB, {instance['size']['disk_gib']} GiB)",
            "ssh key": instance["ssh_key"]["name"],
            "ssh": instance["ssh"]["command"] if instance["ssh"] else None,
        }
    )


def _wait_for(api: NexqClient, name: str, status: str, shown: bool) -> Instance:
    """The instance once in ``status`` (Running: and its SSH server answers, so that ssh
    works at once); Error, or the deadline, is said as an error."""
    with Waiting(name, seconds=WAIT_SECONDS, every=POLL_SECONDS, shown=shown) as waiting:
        found = waiting.reach(lambda: api.get_instance(name), status)
        endpoint = found["ssh"]
        if status == "Running" and endpoint is not None:
            greeted = waiting.until(
                lambda: _ssh_answers(endpoint["host"], endpoint["port"]),
                lambda answers: answers,
                lambda _: "Running, its SSH server not answering yet",
            )
            if not greeted.done:
                raise CliError(
                    f"{name} runs, but its SSH server did not answer within "
                    f"{WAIT_SECONDS:.0f} s: see dcp compute instances console {name}"
                )
    return found


def _ssh_answers(host: str, port: int) -> bool:
    """Whether an SSH server greets on ``host:port``: the port is forwarded from the start
    of the machine, but nothing speaks there until the guest's SSH server runs."""
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _gone(api: NexqClient, name: str, shown: bool) -> bool:
    with Waiting(name, seconds=WAIT_SECONDS, every=POLL_SECONDS, shown=shown) as waiting:
        return waiting.gone(lambda: api.get_instance(name))
