"""``nexq admin master-key``: which master key seals what, and its rotation.

See docs/operations.md, "The master key". Nothing here prints a key: only key ids (a hash)
and counts.
"""

from __future__ import annotations

from typing import Annotated

import typer

from nexq.adminkit import DataDir, emit, fail
from nexq.app import build, sealed_stores
from nexq.core.keyring import RotationRefused, rotate, status
from nexq.settings import Settings

master_key_cli = typer.Typer(
    help="The master key that seals S3 secrets (works while the server runs).",
    no_args_is_help=True,
)


@master_key_cli.command("status")
def master_key_status(data_dir: DataDir = None) -> None:
    """The current key's id, any previous key still accepted, and how many secrets each
    key sealed ("none": sealed before key ids; re-wrapped by the next rotation)."""
    nexq = build(Settings.from_env(data_dir=data_dir))
    try:
        emit(status(nexq.box, sealed_stores(nexq)))
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
        fail(str(exc))
    finally:
        nexq.close()
    emit(report)
    if report["unopenable"]:
        fail(
            f"{report['unopenable']} secrets open with no key Nexq holds: their "
            "access keys must be re-created"
        )
