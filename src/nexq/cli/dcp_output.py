"""How ``dcp`` talks back: aligned text for people, the API's JSON for scripts, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import typer

from nexq import display
from nexq.client import ApiError, ClientError, Unreachable

# docs/api.md, "dcp": the exit code says which kind of failure without parsing stderr.
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_INVALID = 6
EXIT_UNREACHABLE = 7
EXIT_TOO_MANY = 8

_BY_STATUS = {
    400: EXIT_INVALID,
    401: EXIT_AUTH,
    403: EXIT_AUTH,
    404: EXIT_NOT_FOUND,
    409: EXIT_CONFLICT,
    422: EXIT_INVALID,
    429: EXIT_TOO_MANY,
}


class CliError(Exception):
    """A failure to report as ``dcp: error: <message>`` with an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def as_cli_error(exc: ClientError) -> CliError:
    if isinstance(exc, ApiError):
        return CliError(exc.detail, _BY_STATUS.get(exc.status, EXIT_ERROR))
    if isinstance(exc, Unreachable):
        return CliError(str(exc), EXIT_UNREACHABLE)
    return CliError(str(exc))


def error(message: str) -> None:
    # One line, whatever the server put in its detail: scripts read stderr line by line.
    typer.echo(f"dcp: error: {' '.join(message.split())}", err=True)


def warn(message: str) -> None:
    typer.echo(f"dcp: warning: {message}", err=True)


def note(message: str) -> None:
    """Information for the person at the terminal; stderr keeps stdout the command's answer."""
    typer.echo(message, err=True)


def confirm_by_typing(name: str, what_goes: str) -> None:
    """Ask the user to type ``name`` to confirm a deletion (``what_goes``: "Every image of
    web is deleted"); anything else stops it with a usage error."""
    typed = typer.prompt(
        f"{what_goes}. Type its name to confirm", default="", show_default=False, err=True
    )
    if typed.strip() != name:
        raise CliError(f"not deleted: {typed.strip()!r} is not {name!r}", EXIT_USAGE)


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def emit_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    for row in [list(headers), *cells]:
        padded = [value.ljust(widths[i]) for i, value in enumerate(row[:-1])]
        typer.echo("  ".join([*padded, row[-1]]).rstrip())


def emit_fields(fields: Mapping[str, Any]) -> None:
    """One resource as ``name: value`` lines."""
    width = max(len(name) for name in fields)
    for name, value in fields.items():
        typer.echo(f"{(name + ':').ljust(width + 1)} {_cell(value)}".rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def size(n: int) -> str:
    """Bytes for people: decimal units (``3.1 kB``, ``10 GB``), as the console shows them and
    storage is billed (nexq.display.size); ``-o json`` keeps the exact bytes."""
    return display.size(n)


def size_as_set(n: int, setting: int | None) -> str:
    """``n`` bytes in the units of a limit of ``setting`` bytes (10 GB of storage, 512 MiB
    of memory), as the console's Limits page reads them (nexq.display.size_as_set)."""
    return display.size_as_set(n, setting)


def mib_as_set(mib: int) -> str:
    """A plan's memory or storage, set in whole MiB, as the console's database pages read it
    (``512 MiB``, ``1 GiB``: nexq.display.mib_as_set)."""
    return display.mib_as_set(mib)


def mask(secret: str) -> str:
    """Enough of a key to tell which one it is, never enough to use it."""
    return secret[:8] + "*" * max(len(secret) - 8, 0)


# What a person reads of an exact quantity (JSON keeps every digit: GB-months of a few bytes
# run to 28 of them, some in exponent notation).


def quantity(text: str) -> str:
    """A quantity the API wrote exactly, as people read it (nexq.display.quantity); text
    that is not a number stays as it is."""
    try:
        return display.quantity(Decimal(text))
    except InvalidOperation:
        return text


def counted(amount: int | str, noun: str) -> str:
    """``1 attachment``, ``2 attachments``, ``0 instance-hours``, ``1.5 GB-months``: the
    amount as shown (a number, or what :func:`quantity` made of one) and the noun in the
    singular for exactly one. A unit symbol (``GB``) or a plural already (``million
    operations``) stays as it is."""
    return f"{amount} {noun if _is_one(amount) or not _countable(noun) else noun + 's'}"


def _is_one(amount: int | str) -> bool:
    try:
        return abs(Decimal(str(amount).replace(",", ""))) == 1
    except InvalidOperation:
        return False


def _countable(noun: str) -> bool:
    # The word that takes the plural is the last one: "instance-hour", "GB-month".
    last = noun.replace("-", " ").split()[-1] if noun.strip() else ""
    return last.isalpha() and last.islower() and not last.endswith("s")
