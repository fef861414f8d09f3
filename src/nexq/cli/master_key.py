"""``nexq admin master-key``: which master key seals what, and its rotation.

See docs/operations.md, "The master key". Nothing here prints a key: only key ids (a hash)
and counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nexq.app import build, sealed_stores
from nexq.core.keyring import RotationRefused, rotate, status
from nexq.settings import Settings

master_key_cli = typer.Typer(
    help="The master key that seals S3 secrets (works while the server runs).",
    no_args_is_help=True,
)
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory [env NEXQ_DATA_DIR].")
]


@master_key_cli.command("status")
def master_key_status(data_dir: DataDir = None) -> None:
    """The current key's id, any previous key still accepted, and how many secrets each
    key sealed ("none": sealed before key ids; re-wrapped by the next rotation)."""
    nexq = build(Settings.from_env(data_dir=data_dir))
    try:
        typer.echo(json.dumps(status(nexq.box, sealed_stores(nexq)), indent=2))
    finally:
        nexq.close()


@master_key_cli.command("rotate")
def master_key_rotate(
    data_dir: DataDir = None,
    grace_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            help="Wait this long after publishing the new key, so that secrets being sealed "
            "under the old one by running servers are written before the re-wrap.",
        ),
    ] = 5.0,
) -> None:
    """Make a new master key current, re-wrap every secret with it and retire the old one.

    Safe while servers run (they read the new keyring without a restart) and safe to run
    again after an interruption (it finishes the same rotation). With NEXQ_MASTER_KEY it
    only re-wraps to the key the environment names (see docs/operations.md)."""
    nexq = build(Settings.from_env(data_dir=data_dir))
    try:
        report = rotate(
            nexq.box, sealed_stores(nexq), grace_seconds, lambda line: typer.echo(line, err=True)
        )
    except RotationRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        nexq.close()
    typer.echo(json.dumps(report, indent=2))
    if report["unopenable"]:
        typer.echo(
            f"error: {report['unopenable']} secrets open with no key Nexq holds: their "
            "access keys must be re-created",
            err=True,
        )
        raise typer.Exit(1)
