"""`dcp completion bash` gives bash what it needs to complete dcp's commands and options,
run in a real bash as a user's ~/.bashrc would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def completions(line: list[str]) -> list[str]:
    """What bash offers after ``line`` (its last word being completed)."""
    words = " ".join(f"'{word}'" for word in line)
    script = (
        "source <(dcp completion bash)\n"
        f"COMP_WORDS=({words}); COMP_CWORD={len(line) - 1}\n"
        "_dcp_completion dcp  # as bash calls it: with the command's name\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
        timeout=60,
        check=True,
    )
    return done.stdout.split()


def test_bash_completes_commands_subcommands_and_options() -> None:
    assert completions(["dcp", "stor"]) == ["storage"]
    offered = completions(["dcp", "databases", ""])
    assert {"create", "list", "show", "delete", "connect", "backups"} <= set(offered)
    assert "--plan" in completions(["dcp", "databases", "create", "--"])


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_get_their_scripts(shell: str) -> None:
    done = subprocess.run(
        [BIN / "dcp", "completion", shell], capture_output=True, text=True, check=True
    )
    assert f"_DCP_COMPLETE=complete_{shell}" in done.stdout


def test_an_unknown_shell_is_a_usage_error() -> None:
    done = subprocess.run([BIN / "dcp", "completion", "tcsh"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in done.stderr
