"""``dcp storage buckets object-lock``: a bucket's Object Lock and its default retention.

Object Lock itself is turned on only when a bucket is created (``dcp storage buckets create
NAME --object-lock``); this command shows it and sets or removes the default retention. The
rules (a mode with days or years, positive, within bounds) are the server's: dcp passes the
options on and reports its answer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from nexq.cli.dcp_config import state
from nexq.cli.dcp_output import EXIT_USAGE, CliError, counted, emit_json
from nexq.client import ObjectLock

BucketName = Annotated[str, typer.Argument(metavar="BUCKET")]


class Mode(StrEnum):
    GOVERNANCE = "GOVERNANCE"
    COMPLIANCE = "COMPLIANCE"


def describe(lock: ObjectLock) -> str:
    """Object Lock for people: ``on; default retention GOVERNANCE for 30 days``."""
    if not lock["enabled"]:
        return "off"
    if lock["mode"] is None:
        return "on; no default retention"
    days, years = lock["days"], lock["years"]
    period = counted(days, "day") if days is not None else ""
    if years is not None:
        period = counted(years, "year")
    return f"on; default retention {lock['mode']} for {period}"


def object_lock(
    ctx: typer.Context,
    name: BucketName,
    mode: Annotated[
        Mode | None,
        typer.Option(
            case_sensitive=False,
            help="Retain new versions in this mode (GOVERNANCE: the owner may bypass it; "
            "COMPLIANCE: nobody may).",
        ),
    ] = None,
    days: Annotated[int | None, typer.Option(help="For this many days (with --mode).")] = None,
    years: Annotated[int | None, typer.Option(help="For this many years (with --mode).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the default retention.")] = False,
) -> None:
    """Show a bucket's Object Lock, or set (--mode with --days or --years) or remove (--clear)
    the retention new versions get by default."""
    change = mode is not None or days is not None or years is not None
    if clear and change:
        raise CliError("give --clear alone, or --mode with --days or --years", EXIT_USAGE)
    st = state(ctx)
    with st.client() as api:
        if clear:
            lock = api.set_object_lock(name, None)
        elif change:
            lock = api.set_object_lock(name, mode.value if mode else None, days, years)
        else:
            lock = api.object_lock(name)
    if st.json:
        emit_json(lock)
        return
    said = describe(lock)
    if not lock["enabled"]:
        said += " (it can only be turned on when a bucket is created)"
    typer.echo(f"Object lock of {name}: {said}")
