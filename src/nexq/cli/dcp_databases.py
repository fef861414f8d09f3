"""``dcp databases``: managed PostgreSQL databases, their plans, nodes and CA certificate,
``connect``, which runs psql verifying the server against that CA, and ``restore``, which
makes a new database from another's backups (``backups``: dcp_database_backups).

A password is printed once, by the command that made it (create, reset-password); dcp never
stores it: psql reads it from ``PGPASSWORD`` or asks for it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import quote, urlsplit

import typer

from nexq.cli import dcp_config
from nexq.cli.dcp_config import State, state
from nexq.cli.dcp_database_backups import backups_app
from nexq.cli.dcp_output import (
    EXIT_CONFLICT,
    EXIT_USAGE,
    CliError,
    confirm_by_typing,
    counted,
    emit_fields,
    emit_json,
    emit_table,
    mib_as_set,
    note,
    size,
    warn,
)
from nexq.cli.dcp_wait import Waiting, on_terminal
from nexq.client import CreatedDatabase, Database, DatabasePlan, NexqClient

databases_app = typer.Typer(help="Managed PostgreSQL databases.", no_args_is_help=True)
databases_app.add_typer(backups_app, name="backups")

Name = Annotated[str, typer.Argument(metavar="NAME", help="The database's name.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")]
# A new database is Running within seconds; Pending (no room on the host) can last, and
# then the deadline says so rather than leaving a script waiting for ever.
WAIT_SECONDS = 120.0
POLL_SECONDS = 0.5
TIME_EXAMPLE = "2027-01-31T12:00:00Z"
PASSWORD_ONCE = "the password is shown only now: store it safely, it cannot be shown again"  # noqa: S105 - a warning, not a password


@databases_app.command("list")
def databases_list(ctx: typer.Context) -> None:
    """Your databases."""
    st = state(ctx)
    with st.client() as api:
        found = api.list_databases()
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["NAME", "STATUS", "ENGINE", "PLAN", "HA", "CREATED"],
        [
            (
                d["name"],
                d["status"],
                d["engine"],
                d["plan"]["id"],
                _high_availability(d),
                d["created_at"],
            )
            for d in found
        ],
    )


@databases_app.command("plans")
def plans(ctx: typer.Context) -> None:
    """The plans a database can be created with (--plan takes the ID)."""
    st = state(ctx)
    with st.client() as api:
        found = api.database_plans()
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["ID", "NAME", "VCPUS", "MEMORY", "STORAGE"],
        [
            (
                p["id"],
                p["name"],
                p["vcpus"],
                mib_as_set(p["memory_mib"]),
                mib_as_set(p["storage_mib"]),
            )
            for p in found
        ],
    )


Wait = Annotated[
    bool,
    typer.Option(
        "--wait",
        help=f"Wait until it is Running (at most {WAIT_SECONDS:.0f} s) and say how to connect.",
    ),
]


Replicas = Annotated[int, typer.Option(min=0, help="Replicas for high availability (0: none).")]
Synchronous = Annotated[
    bool,
    typer.Option(
        "--synchronous/--asynchronous",
        help="With replicas: a commit waits until a replica has it (no acknowledged "
        "commit is lost in a failover).",
    ),
]


@databases_app.command("create")
def create(
    ctx: typer.Context,
    name: Name,
    plan: Annotated[str, typer.Option(help="A plan's ID: see `dcp databases plans`.")],
    replicas: Replicas = 0,
    backups: Annotated[
        bool, typer.Option("--backups/--no-backups", help="Automated backups.")
    ] = True,
    synchronous: Synchronous = True,
    wait: Wait = False,
) -> None:
    """Create a database; its owner's password is printed once."""
    st = state(ctx)
    with st.client() as api:
        made = api.create_database(name, plan, replicas, backups, synchronous=synchronous)
        _announce(st, api, made, wait, {})


@databases_app.command("restore")
def restore(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="The database whose backups to restore.")
    ],
    new_name: Annotated[str, typer.Argument(metavar="NEW_NAME", help="The new database's name.")],
    plan: Annotated[str, typer.Option(help="A plan's ID: see `dcp databases plans`.")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="ISO_TIME",
            help=f"A time of SOURCE's recovery window, with its zone ({TIME_EXAMPLE}); "
            "default: the latest. `dcp databases backups list SOURCE` shows the window.",
        ),
    ] = None,
    backups: Annotated[
        bool, typer.Option("--backups/--no-backups", help="Automated backups of the new one.")
    ] = True,
    replicas: Replicas = 0,
    synchronous: Synchronous = True,
    wait: Wait = False,
) -> None:
    """Create NEW_NAME from SOURCE's backups, as SOURCE was at --to; SOURCE is untouched.
    The new database's password is printed once."""
    target = _target_time(to)  # a wrong time is said before anything is asked of the API
    st = state(ctx)
    with st.client() as api:
        made = api.create_database(
            new_name,
            plan,
            replicas,
            backups,
            restore_source=source,
            restore_target=target,
            synchronous=synchronous,
        )
        origin = {"restored from": f"{source} as it was at {target or 'the latest point'}"}
        _announce(st, api, made, wait, origin)


@databases_app.command("show")
def show(ctx: typer.Context, name: Name) -> None:
    """A database: its state, plan and how to connect to it."""
    st = state(ctx)
    with st.client() as api:
        found = api.get_database(name)
    if st.json:
        emit_json(found)
        return
    fields: dict[str, Any] = {"name": found["name"], "status": found["status"]}
    if found["reason"]:
        fields["reason"] = found["reason"]
    used = found["used_bytes"]
    fields |= {
        "engine": found["engine"],
        "plan": _plan(found["plan"]),
        "high availability": _high_availability(found),
        "backups": "yes" if found["backups"] else "no",
        "used": None if used is None else size(used),
        "created_at": found["created_at"],
    }
    restored = found.get("restored_from")
    if restored:
        point = restored["target_time"] or "its latest point"
        fields["restored from"] = f"{restored['source'] or '(deleted)'}, as it was at {point}"
    emit_fields(fields | _connection_fields(found))


@databases_app.command("nodes")
def nodes(ctx: typer.Context, name: Name) -> None:
    """A database's nodes: its primary and replicas."""
    st = state(ctx)
    with st.client() as api:
        found = api.database_nodes(name)
    if st.json:
        emit_json(found)
        return
    emit_table(
        ["ID", "ROLE", "STATUS", "LAG"],
        [
            (
                n["id"],
                f"{n['role']} (synchronous)" if n["synchronous"] else n["role"],
                n["status"],
                None if n["lag_bytes"] is None else size(n["lag_bytes"]),
            )
            for n in found
        ],
    )


@databases_app.command("ca")
def ca(
    ctx: typer.Context,
    output_file: Annotated[
        Path | None,
        typer.Option(
            "--output-file", "-f", dir_okay=False, help="Write it here (default: standard output)."
        ),
    ] = None,
) -> None:
    """The CA certificate (PEM) that signs every database's certificate: clients verify the
    server with it (sslmode=verify-full, sslrootcert=FILE)."""
    st = state(ctx)
    with st.client() as api:
        pem = api.database_ca()
    if output_file is None:
        typer.echo(pem, nl=not pem.endswith("\n"))
        return
    try:
        output_file.write_text(pem, encoding="ascii")
    except OSError as exc:
        raise CliError(f"cannot write {output_file}: {exc.strerror or exc}") from None
    st.say(f"CA certificate written to {output_file}")


@databases_app.command("reset-password")
def reset_password(ctx: typer.Context, name: Name, yes: Yes = False) -> None:
    """A new password for the owner, printed once; the old one stops working at once."""
    st = state(ctx)
    with st.client() as api:
        api.get_database(name)  # a wrong name is said before anyone is asked anything
        if not yes and not typer.confirm(
            f"The current password of {name} stops working at once. Reset it?", err=True
        ):
            raise CliError("the password is unchanged", EXIT_USAGE)
        issued = api.reset_database_password(name)
    if st.json:
        emit_json(issued)
    else:
        emit_fields(dict(issued))
    warn(PASSWORD_ONCE)


@databases_app.command("connect")
def connect(
    ctx: typer.Context,
    name: Name,
    psql_args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[-- PSQL_ARGS...]", help="Given to psql after `--`, e.g. -- -c 'select 1'."
        ),
    ] = None,
) -> None:
    """Run psql on the database, verifying the server with the CA certificate. The password
    comes from PGPASSWORD, or psql asks for it."""
    st = state(ctx)
    with st.client() as api:
        found = api.get_database(name)
        connection = found["connection"]
        if found["status"] != "Running" or connection["port"] is None:
            starting = found["status"] in ("Provisioning", "Pending")
            later = "; psql can connect once it is Running" if starting else ""
            raise CliError(f"cannot connect: {_state(found)}{later}", EXIT_CONFLICT)
        psql = shutil.which("psql")
        if psql is None:
            raise CliError(
                "psql is not installed here (the PostgreSQL client, e.g. the postgresql-client "
                f"package); connect with another client to {connection['uri']}"
            )
        authority = _ca_path(st)
        dcp_config.write_private(authority, api.database_ca())
    host = connection["host"]
    host = f"[{host}]" if ":" in host else host
    # A highly available database's nodes are listed and libpq keeps the primary: psql then
    # talks to PostgreSQL with no proxy in between (older servers answer no node_ports).
    ports = cast("list[int]", connection.get("node_ports") or [connection["port"]])
    hosts = ",".join(f"{host}:{port}" for port in ports)
    primary = "&target_session_attrs=read-write" if len(ports) > 1 else ""
    uri = (
        f"postgresql://{quote(connection['user'], safe='')}@{hosts}/"
        f"{quote(connection['database'], safe='')}"
        f"?sslmode=verify-full&sslrootcert={quote(str(authority), safe='/')}{primary}"
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # psql takes the terminal (and Ctrl-C) as its own: dcp has nothing left to do.
    os.execv(psql, [psql, uri, *(psql_args or [])])  # noqa: S606 - psql found on PATH, no shell


@databases_app.command("delete")
def delete(
    ctx: typer.Context,
    name: Name,
    yes: Yes = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help=f"Wait until it is gone (at most {WAIT_SECONDS:.0f} s)."),
    ] = False,
) -> None:
    """Delete a database with all its data."""
    st = state(ctx)
    with st.client() as api:
        api.get_database(name)  # a wrong name is said before anyone is asked anything
        if not yes:
            confirm_by_typing(name, f"Every table and row of {name} is deleted")
        deleting = api.delete_database(name)
        if st.json:
            emit_json(deleting)
        else:
            typer.echo(f"Deleting database {name}: it is gone within seconds")
        if wait and not _wait_gone(api, name, on_terminal(st.json)):
            raise CliError(f"{name} is still being deleted after {WAIT_SECONDS:.0f} s")
    if wait and not st.json:
        typer.echo(f"Deleted database {name}")


def _wait_gone(api: NexqClient, name: str, shown: bool) -> bool:
    """Whether the database left the list within WAIT_SECONDS."""
    with Waiting(name, seconds=WAIT_SECONDS, every=POLL_SECONDS, shown=shown) as waiting:
        return waiting.gone(lambda: api.get_database(name))


# -- helpers -----------------------------------------------------------------------------


def _announce(
    st: State, api: NexqClient, made: CreatedDatabase, wait: bool, origin: dict[str, str]
) -> None:
    """A new database's password, then (with ``wait``) how to connect once it is Running."""
    name, password = made["name"], made["password"]
    if not st.json:
        # Printed before any waiting: whatever happens next, the password is not lost.
        emit_fields(
            {
                "name": name,
                "status": made["status"],
                "plan": _plan(made["plan"]),
                **origin,
                "password": password,
            }
        )
    warn(PASSWORD_ONCE)
    if not wait:
        if st.json:
            emit_json(made)
        return
    if not st.json:
        note(f"Waiting for {name} to be Running …")
    final, stopped = _wait_running(api, made, on_terminal(st.json))
    if st.json:
        emit_json({**final, "password": password})
    if stopped:
        raise CliError(stopped)
    if not st.json:
        emit_fields(_connection_fields(final))


def _target_time(given: str | None) -> str | None:
    """``--to`` as the API takes it (UTC); a time without its zone is refused rather than
    guessed, as restoring to the wrong hour would go unnoticed."""
    if given is None:
        return None
    try:
        when = datetime.fromisoformat(given)
    except ValueError:
        raise CliError(
            f"--to {given!r} is not a time: give ISO 8601 with a zone, e.g. {TIME_EXAMPLE}",
            EXIT_USAGE,
        ) from None
    if when.tzinfo is None:
        raise CliError(
            f"--to {given!r} has no time zone: give one, e.g. {TIME_EXAMPLE} (UTC) "
            "or 2027-01-31T13:00:00+01:00",
            EXIT_USAGE,
        )
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _wait_running(api: NexqClient, made: Database, shown: bool) -> tuple[Database, str | None]:
    """The database once Running, or as last seen with why the wait stopped."""
    name = made["name"]
    with Waiting(name, seconds=WAIT_SECONDS, every=POLL_SECONDS, shown=shown) as waiting:
        seen = waiting.until(
            lambda: api.get_database(name),
            lambda found: found["status"] in ("Running", "Error", "Deleting"),
            lambda found: found["status"] + (f" ({found['reason']})" if found["reason"] else ""),
            first=made,
            interruptible=True,
        )
    found = seen.last
    if seen.interrupted:
        return found, f"stopped waiting: {_state(found)}: {_follow(name)}"
    if not seen.done:
        return found, f"{_state(found)} after {WAIT_SECONDS:.0f} s: {_follow(name)}"
    return found, None if found["status"] == "Running" else _state(found)


def _state(found: Database) -> str:
    """What a database that is not Running is doing, with the reason the API gives."""
    name, status, reason = found["name"], found["status"], found["reason"]
    if status == "Error":
        return f"{name} is in Error: {reason or 'no reason given'}"
    if status == "Deleting":
        return f"{name} is being deleted"
    return f"{name} is {status}" + (f" ({reason})" if reason else "")


def _follow(name: str) -> str:
    return f"`dcp databases show {name}` tells when it is Running"


def _connection_fields(found: Database) -> dict[str, Any]:
    connection = found["connection"]
    fields: dict[str, Any] = {
        "host": connection["host"],
        "port": connection["port"],
        "database": connection["database"],
        "user": connection["user"],
        "uri": connection["uri"],
        "psql": connection["psql"],
    }
    if connection.get("node_ports"):  # without replicas, it is the uri above
        fields["direct_uri"] = connection["direct_uri"]
    return fields


def _ca_path(st: State) -> Path:
    """Where ``connect`` keeps the CA certificate: next to the config, one file per API, so
    that two installations' certificates never replace each other."""
    api = re.sub(r"[^A-Za-z0-9.-]", "_", urlsplit(st.api_url()).netloc or "api")
    return dcp_config.config_path().parent / "databases-ca" / f"{api}.pem"


def _high_availability(found: Database) -> str:
    replicas = found["replicas"]
    if not found["high_availability"]:
        return "no"
    mode = "synchronous" if found.get("synchronous", True) else "asynchronous"
    return f"yes ({counted(replicas, 'replica')}, {mode})"


def _plan(plan: DatabasePlan) -> str:
    return (
        f"{plan['id']} ({plan['vcpus']} vCPU, {mib_as_set(plan['memory_mib'])} memory, "
        f"{mib_as_set(plan['storage_mib'])} storage)"
    )
