"""``dcp storage objects upload`` and ``download``: an object's bytes through a presigned URL
that the REST API makes, with a progress bar (bytes so far of the total, speed) on stderr
when stderr is a terminal and the output is not JSON; piped, nothing but the answer.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from nexq.cli import dcp_progress
from nexq.cli.dcp_config import state
from nexq.cli.dcp_output import EXIT_USAGE, CliError, as_cli_error, emit_json, size
from nexq.cli.dcp_wait import on_terminal
from nexq.client import ApiError, transfers

BucketName = Annotated[str, typer.Argument(metavar="BUCKET")]
ObjectKey = Annotated[str, typer.Argument(metavar="KEY")]
STDOUT = "-"


class TransferBar(dcp_progress.Display):
    """A bar of ``what`` with the bytes so far of the total and the speed, drawn from when
    the total is known; hidden, it draws nothing at all."""

    def __init__(self, what: str, shown: bool) -> None:
        super().__init__(what, dcp_progress.transfer_bar if shown else None)

    def total(self, total: int | None) -> None:
        """Start the bar: ``total`` bytes to go (None: unknown, a pulsing bar)."""
        if self._progress is not None and self._task is None:
            self._task = self._progress.add_task(self._what, total=total)
            self._progress.start()

    def advance(self, done: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, done)


def upload(
    ctx: typer.Context,
    bucket: BucketName,
    key: ObjectKey,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The file to upload.")],
) -> None:
    """Upload a file as an object (one request: at most 5 GiB)."""
    st = state(ctx)
    try:
        source = file.open("rb")
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}", EXIT_USAGE) from None
    with source:
        length = os.fstat(source.fileno()).st_size
        with st.client() as api:
            url = api.presign(bucket, key, "PUT")["url"]
        with TransferBar(f"{bucket}/{key}", on_terminal(st.json)) as bar, _named(bucket, key):
            bar.total(length)
            etag = transfers.upload(url, source, length, bar.advance)
    if st.json:
        emit_json({"bucket": bucket, "key": key, "size": length, "etag": etag})
        return
    typer.echo(f"Uploaded {file} to {bucket}/{key} ({size(length)})")


def download(
    ctx: typer.Context,
    bucket: BucketName,
    key: ObjectKey,
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILE]",
            help='Where to write it; default: the key\'s last part here; "-": stdout.',
        ),
    ] = None,
) -> None:
    """Download an object into a file (or stdout)."""
    st = state(ctx)
    last_part = key.rstrip("/").rsplit("/", 1)[-1] or key
    target = file if file is not None else last_part
    if target != STDOUT and Path(target).is_dir():
        target = str(Path(target) / last_part)
    if target == STDOUT and st.json:
        raise CliError("--output json and FILE - would both write to stdout", EXIT_USAGE)
    with st.client() as api:
        url = api.presign(bucket, key, "GET")["url"]
    with (
        TransferBar(f"{bucket}/{key}", on_terminal(st.json)) as bar,
        _written(target) as out,
        _named(bucket, key),
    ):
        length = transfers.download(url, out, bar.total, bar.advance)
    if st.json:
        emit_json({"bucket": bucket, "key": key, "size": length, "file": target})
    elif target != STDOUT:
        typer.echo(f"Downloaded {bucket}/{key} to {target} ({size(length)})")


@contextlib.contextmanager
def _named(bucket: str, key: str) -> Iterator[None]:
    """The S3 endpoint's refusal names no object ("The specified key does not exist."):
    dcp says which one, with the exit code of its HTTP status."""
    try:
        yield
    except ApiError as exc:
        failure = as_cli_error(exc)
        raise CliError(f"{bucket}/{key}: {failure.message}", failure.exit_code) from None


@contextlib.contextmanager
def _written(target: str) -> Iterator[BinaryIO]:
    """Where the bytes go: stdout, or a file that appears whole or not at all (a broken
    download never leaves half an object under the name asked for)."""
    if target == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(target)
    try:
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror}", EXIT_USAGE) from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        # mkstemp's 0600 would make a download private that a plain `curl -o` would not.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
