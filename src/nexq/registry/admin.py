"""``nexq admin registry …``: the Container Registry's house-keeping from the command line."""

from __future__ import annotations

from typing import Annotated, Protocol

import typer

from nexq.adminkit import Commands, DataDir, Opener, emit
from nexq.registry.content import Content


class Installation(Protocol):
    """What the commands need of a built installation."""

    registry_content: Content


def commands(open_installation: Opener[Installation]) -> Commands:
    """The ``registry`` group of ``nexq admin``; each prints JSON."""
    cli = typer.Typer(help="Container Registry: garbage collection.", no_args_is_help=True)

    @cli.command("gc")
    def gc(
        grace: Annotated[
            float,
            typer.Option(
                help="Keep blobs linked less than this many seconds ago (pushes in flight)."
            ),
        ] = 3600.0,
        data_dir: DataDir = None,
    ) -> None:
        """Remove blobs no manifest references and abandoned uploads, online."""
        with open_installation(data_dir) as nexq:
            uploads = nexq.registry_content.abandon_uploads(max(grace, 0.0))
            blobs = nexq.registry_content.collect_garbage(max(grace, 0.0))
        emit({"blobs_removed": blobs, "uploads_removed": uploads})

    return {"registry": cli}
