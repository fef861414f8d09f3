"""``dcp completion bash|zsh|fish``: the shell's completion script for dcp.

Typer (which vendors Click) completes commands, options and choices when the shell runs
``dcp`` with ``_DCP_COMPLETE`` set; the script printed here is what makes the shell do so.
dcp turns Typer's own ``--install-completion`` off (it would edit the user's shell files
unasked): the user sources the script, or saves it where the shell looks.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script

COMPLETE_VARIABLE = "_DCP_COMPLETE"


class Shell(enum.StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def enable() -> None:
    """Let the shell's completion requests be answered (Typer registers its shells only
    when its own completion options are on)."""
    completion_init()


def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the completion script for SHELL.

    bash: `source <(dcp completion bash)` in ~/.bashrc. zsh: `source <(dcp completion zsh)`
    in ~/.zshrc. fish: `dcp completion fish > ~/.config/fish/completions/dcp.fish`.
    """
    enable()
    typer.echo(
        get_completion_script(prog_name="dcp", complete_var=COMPLETE_VARIABLE, shell=shell.value)
    )
