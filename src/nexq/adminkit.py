"""The kit of ``nexq admin`` commands, which knows no service (it imports only the kernel).

Each service's ``admin.py`` makes its own commands (groups such as ``nexq admin account …``,
or single commands such as ``nexq admin fsck``) from a way to open the installation; what
they share is here: the ``--data-dir`` option, JSON on stdout, ``error: …`` and exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any, NoReturn, Protocol, TypeVar

import typer

from nexq.core.identity import Account

T = TypeVar("T")

# Opens the installation of a data directory (None: NEXQ_DATA_DIR or the default) for one
# command; a domain error raised inside ends the command with ``error: …`` (exit 1).
Opener = Callable[[Path | None], AbstractContextManager[T]]
# What a service adds to ``nexq admin``, by name: a Typer group (``nexq admin NAME SUB …``)
# or a command function (``nexq admin NAME …``, registered as ``@group.command(NAME)`` would).
Command = typer.Typer | Callable[..., None]
Commands = Mapping[str, Command]

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory [env NEXQ_DATA_DIR].")
]


class AccountsByEmail(Protocol):
    """The installation's accounts as the commands name them: by email."""

    def get(self, email: str) -> Account:
        """The account ``email``; a domain error if there is none."""
        ...


def mount(group: typer.Typer, commands: Commands) -> None:
    """Add ``commands`` to ``group``: a Typer as a sub-group, a function as a command."""
    for name, command in commands.items():
        if isinstance(command, typer.Typer):
            group.add_typer(command, name=name)
        else:
            group.command(name)(command)


def emit(value: Any) -> None:
    """Print ``value`` as indented JSON (what every admin command answers)."""
    typer.echo(json.dumps(value, indent=2))


def fail(message: str) -> NoReturn:
    """End the command: ``error: message`` on stderr, exit status 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
