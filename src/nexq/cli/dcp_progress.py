"""The two displays dcp draws on a terminal, built with rich (already loaded by typer and
httpx): a wait's spinner and a transfer's bar. Whether one is drawn at all is decided by
their owners, dcp_wait and dcp_transfers."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from nexq.cli.dcp_output import size


class _Elapsed(ProgressColumn):
    """Whole seconds since the wait began: "12 s"."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.elapsed or 0:.0f} s", style="progress.elapsed")


class _Speed(ProgressColumn):
    """Bytes a second, by the rule of the bytes beside it (dcp_output.size)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{size(int(speed))}/s", style="progress.data.speed")


def spinner() -> Progress:
    """What is waited for, its state (the task's ``state`` field), the seconds so far."""
    return _on_stderr(
        SpinnerColumn(),
        # Not markup: a name or a reason in [brackets] is text, not a style.
        TextColumn("{task.description}", markup=False),
        TextColumn("{task.fields[state]}", style="bold", markup=False),
        _Elapsed(),
    )


def transfer_bar() -> Progress:
    """What is sent or received, a bar, the bytes so far of the total, the speed, the time left."""
    return _on_stderr(
        TextColumn("{task.description}", markup=False),  # an object key may hold [brackets]
        BarColumn(),
        DownloadColumn(binary_units=False),  # kB, MB: the units dcp prints
        _Speed(),
        TimeRemainingColumn(),
    )


def _on_stderr(*columns: ProgressColumn) -> Progress:
    return Progress(
        *columns,
        console=Console(stderr=True),
        # Once done, the line is gone: what is left reads as it does when piped.
        transient=True,
        # stdout stays the command's answer (`download … -` writes the object there).
        redirect_stdout=False,
        redirect_stderr=False,
    )


class Display:
    """One display of ``what``, made by ``make`` when it is shown (else nothing is drawn);
    its task is added by the owner once it has something to show, and the display is
    stopped on the way out."""

    def __init__(self, what: str, make: Callable[[], Progress] | None) -> None:
        self._what = what
        self._progress: Progress | None = make() if make is not None else None
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.stop()
