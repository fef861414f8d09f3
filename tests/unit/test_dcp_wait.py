"""dcp's one wait loop (dcp_wait.Waiting): what it returns or says when the resource gets
there, fails, is gone, or the deadline passes; hidden, its spinner draws nothing."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nexq.cli.dcp_output import CliError
from nexq.cli.dcp_wait import Waiting, on_terminal
from nexq.client import ApiError


def answers(*statuses: str | int) -> Callable[[], dict[str, Any]]:
    """A ``look`` that answers these statuses in turn (an int: that HTTP error), then the
    last one again and again."""
    queue: Iterator[str | int] = iter(statuses)
    last: list[str | int] = [statuses[0]]

    def look() -> dict[str, Any]:
        status = next(queue, last[0])
        last[0] = status
        if isinstance(status, int):
            raise ApiError(status, "about:blank", f"HTTP {status}", None)
        return {
            "name": "web-1",
            "status": status,
            "reason": "disk full" if status == "Error" else "",
        }

    return look


def waiting(seconds: float = 5) -> Waiting:
    return Waiting("web-1", seconds=seconds, every=0.001, shown=False)


def test_reach_returns_the_resource_once_in_the_status() -> None:
    with waiting() as wait:
        found = wait.reach(answers("Pending", "Starting", "Running"), "Running")
    assert found["status"] == "Running"


def test_reach_says_error_with_its_reason_and_the_deadline_with_the_last_status() -> None:
    with waiting() as wait, pytest.raises(CliError) as failed:
        wait.reach(answers("Starting", "Error"), "Running")
    assert failed.value.message == "web-1 is in Error: disk full"
    with waiting(seconds=0.01) as wait, pytest.raises(CliError) as late:
        wait.reach(answers("Starting"), "Running")
    assert late.value.message == "web-1 is Starting after 0 s"


def test_gone_is_a_404_and_any_other_error_is_raised() -> None:
    with waiting() as wait:
        assert wait.gone(answers("Deleting", "Deleting", 404))
    with waiting(seconds=0.01) as wait:
        assert not wait.gone(answers("Deleting"))
    with waiting() as wait, pytest.raises(ApiError):
        wait.gone(answers("Deleting", 500))


def test_until_starts_from_what_the_caller_has_and_can_be_interrupted() -> None:
    looked: list[int] = []

    def look() -> int:
        looked.append(1)
        if len(looked) == 2:
            raise KeyboardInterrupt
        return len(looked)

    with waiting() as wait:
        seen = wait.until(look, lambda n: n > 5, str, first=0, interruptible=True)
    assert (seen.last, seen.done, seen.interrupted) == (1, False, True)
    looked.clear()
    with waiting() as wait, pytest.raises(KeyboardInterrupt):
        wait.until(look, lambda n: n > 5, str)


def test_progress_is_for_a_person_at_a_terminal_never_for_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert on_terminal(as_json=False)
    assert not on_terminal(as_json=True)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # piped
    assert not on_terminal(as_json=False)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True
