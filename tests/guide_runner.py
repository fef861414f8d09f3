"""What the user-guide runners share (tests/<service>/test_guide.py): a guide's ```sh blocks
read from its Markdown pages, the checks every guide passes before any block runs, and the
reader's shell that runs the blocks as written, one after another, as a terminal would.

A block marked ``<!-- not run: reason -->`` (the line right before its fence) needs what no
test has; every other ```sh block runs."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from nexq.web.guide.library import Guide
from nexq.web.guide.section import GuideSection
from tests.compat.tools import require

NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->$")
FENCE = re.compile(r"^```(?P<language>\S*)\s*$")
# A variable a block sets (an assignment, or typed in with `read -rs`), and one it uses.
SETS = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Z_][A-Z0-9_]*)=|read -rs (?P<read>[A-Z_]+)", re.M)
USES = re.compile(r"\$\{?(?P<name>[A-Z_][A-Z0-9_]*)")
# What bash itself keeps in the environment it hands on: not the reader's variables.
SHELL_OWN = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})
# Fences whose commands would escape a runner: a page says ```sh or shows text.
SHELL_FENCES = ("bash", "shell", "console", "zsh")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    not_run: str | None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(guide: Path, page: str) -> list[Block]:
    """The ```sh blocks of a page, each with the reason it is not run, if it says one."""
    found: list[Block] = []
    lines = (guide / page).read_text().splitlines()
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if opened is None:
            index += 1
            continue
        end = next((n for n in range(index + 1, len(lines)) if lines[n].strip() == "```"), None)
        assert end is not None, f"{page}:{index + 1}: a code block is never closed"
        if opened["language"] == "sh":
            before = next((lines[n] for n in range(index - 1, -1, -1) if lines[n].strip()), "")
            marked = NOT_RUN.match(before.strip())
            code = "\n".join(lines[index + 1 : end])
            found.append(Block(page, index + 1, code, marked["reason"] if marked else None))
        index = end + 1
    return found


def every_block(guide: Path, pages: Sequence[str]) -> list[Block]:
    """Every ```sh block of the guide, in reading order."""
    return [block for page in pages for block in blocks(guide, page)]


def check_pages(guide: Path, pages: Sequence[str]) -> None:
    """The guide's folder holds its pages, no more; each has a ```sh block, none hides
    commands in another fence, and each 'not run' mark is right before a block it names a
    reason for."""
    assert sorted(p.name for p in guide.glob("*.md")) == sorted(pages)
    for page in pages:
        text = (guide / page).read_text()
        assert blocks(guide, page), f"{page} has no ```sh block"
        for language in SHELL_FENCES:
            assert f"```{language}\n" not in text, f"{page}: a ```{language} block"
        marks = [line for line in text.splitlines() if line.strip().startswith("<!-- not run")]
        assert len(marks) == sum(b.not_run is not None for b in blocks(guide, page)), (
            f"{page}: a 'not run' comment that is not right before a ```sh block, or has no reason"
        )


def variables_set(block: Block) -> set[str]:
    return {m["name"] or m["read"] for m in SETS.finditer(block.code)}


def check_every_variable_is_set(every: Iterable[Block]) -> set[str]:
    """No block uses a variable that no block of the guide sets: nothing depends on
    something left unsaid. The variables the guide sets."""
    every = list(every)
    assigned = {name for block in every for name in variables_set(block)}
    for block in every:
        unknown = {m["name"] for m in USES.finditer(block.code)} - assigned
        assert not unknown, f"{block}: {sorted(unknown)} is set nowhere in the guide"
    return assigned


def failed(block: Block, proc: subprocess.CompletedProcess[str]) -> NoReturn:
    """Fail the test with the block that failed and what it printed."""
    pytest.fail(
        f"{block} exited with {proc.returncode}:\n{block.code}\n"
        f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}",
        pytrace=False,
    )


class ReaderShell:
    """The reader's shell: an environment and a working folder that outlive each block, as
    a terminal's do. ``saved`` is a file the shell writes its environment to."""

    def __init__(self, env: dict[str, str], work: Path, saved: Path, timeout: float) -> None:
        self.env, self.work, self.saved, self.timeout = env, work, saved, timeout

    def use_dcp(self, api_url: str, **variables: str) -> None:
        """dcp (and this interpreter's other programs: aws, a python3 with the test's
        libraries) first on the reader's PATH, pointed at ``api_url``; ``variables`` too
        (DCP_API_KEY, DCP_CONFIG …)."""
        self.env["PATH"] = f"{Path(sys.executable).parent}:{self.env['PATH']}"
        self.env.update(DCP_API_URL=api_url, **variables)

    def sh(self, script: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``script`` in the reader's shell (stopping at the first failing command);
        the variables it exports stay set when it succeeds."""
        proc = subprocess.run(
            [require("bash"), "-c", f"set -euo pipefail\n{script}\nenv -0 > {self.saved}"],
            env=self.env,
            cwd=cwd or self.work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if proc.returncode == 0:
            for entry in self.saved.read_text().split("\0"):
                name, _, value = entry.partition("=")
                if name and name not in SHELL_OWN:
                    self.env[name] = value
        return proc


def check_section(name: str, declared: GuideSection, title: str) -> None:
    """The section as the guide serves it: every link reaches a page and its anchor, the
    pages in the declared order, the first one titled ``title``."""
    guide = Guide([(name, declared)])
    assert guide.broken_links() == []
    section = guide.section(name)
    assert section is not None
    assert [p.title for p in section.pages] == [p.title for p in declared.pages]
    assert section.pages[0].rendered.title == title
