"""Every ``--wait`` of dcp: one deadline-and-poll loop, and the spinner a person sees meanwhile.

The spinner (what is waited for, its state as last seen, the seconds so far) is drawn on
stderr only when stderr is a terminal and the output is not JSON; piped, a wait prints
nothing more than the command's own messages, byte for byte.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from nexq.cli import dcp_progress
from nexq.cli.dcp_output import CliError
from nexq.client import ApiError

T = TypeVar("T")
# A resource as the API answers it: its name, its status and the reason for that status.
R = TypeVar("R", bound=Mapping[str, Any])


def on_terminal(as_json: bool) -> bool:
    """Whether progress is drawn: a person watches stderr, and no script reads JSON."""
    return not as_json and sys.stderr.isatty()


class Spinner(dcp_progress.Display):
    """A spinner line with ``what`` is waited for, its current state and the seconds so far;
    hidden, it draws nothing at all."""

    def __init__(self, what: str, shown: bool) -> None:
        super().__init__(what, dcp_progress.spinner if shown else None)

    def state(self, text: str) -> None:
        """Show ``text`` as the current state; the first one starts the spinner (so that
        no frame is ever drawn without a state)."""
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task(self._what, total=None, state=text)
            self._progress.start()
        else:
            self._progress.update(self._task, state=text)


@dataclass(frozen=True)
class Seen(Generic[T]):
    """How a wait ended: what was last seen, and whether it was what was waited for
    (else the deadline passed or, when the caller allowed it, Ctrl-C stopped it)."""

    last: T
    done: bool
    interrupted: bool = False


class Waiting:
    """One wait of a command: a deadline that every step shares, the poll period, and the
    spinner; ``with Waiting(...) as waiting: waiting.reach(...)``."""

    def __init__(self, what: str, *, seconds: float, every: float, shown: bool) -> None:
        self.seconds = seconds
        self._every = every
        self._spinner = Spinner(what, shown)
        self._deadline = time.monotonic() + seconds

    def __enter__(self) -> Waiting:
        self._deadline = time.monotonic() + self.seconds
        self._spinner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._spinner.__exit__(exc_type, exc, tb)

    def until(
        self,
        look: Callable[[], T],
        done: Callable[[T], bool],
        state: Callable[[T], str],
        *,
        first: T | None = None,
        interruptible: bool = False,
    ) -> Seen[T]:
        """Call ``look`` (``first`` stands for its first answer) until ``done`` says yes or
        the deadline passes; with ``interruptible``, Ctrl-C ends the wait as well."""
        seen = look() if first is None else first
        try:
            while True:
                self._spinner.state(state(seen))
                if done(seen):
                    return Seen(seen, True)
                if time.monotonic() >= self._deadline:
                    return Seen(seen, False)
                time.sleep(self._every)
                seen = look()
        except KeyboardInterrupt:
            if not interruptible:
                raise
            return Seen(seen, False, interrupted=True)

    def reach(self, look: Callable[[], R], status: str) -> R:
        """The resource once in ``status``; Error, or the deadline, is said as an error."""
        seen = self.until(look, lambda r: r["status"] in (status, "Error"), _status)
        found = seen.last
        if found["status"] == "Error":
            raise CliError(f"{found['name']} is in Error: {found['reason'] or 'no reason given'}")
        if not seen.done:
            raise CliError(f"{found['name']} is {found['status']} after {self.seconds:.0f} s")
        return found

    def gone(self, look: Callable[[], Mapping[str, Any]]) -> bool:
        """Whether the resource ``look`` reads is gone (404) before the deadline."""

        def still_there() -> Mapping[str, Any] | None:
            try:
                return look()
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise

        seen = self.until(
            still_there, lambda r: r is None, lambda r: "gone" if r is None else _status(r)
        )
        return seen.done


def _status(resource: Mapping[str, Any]) -> str:
    return str(resource["status"])
