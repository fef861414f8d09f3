"""Progress on a terminal, nothing more when piped: dcp draws a transfer's bar and a wait's
spinner on stderr only when stderr is a terminal (here a pseudo-terminal) and the output is
not JSON; piped, stderr holds the command's own messages, byte for byte."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import Dcp
from tests.live import BURST, LiveServer

# Not after a digit or a dot (a colour's escape code may end just before it, so no \b).
SPEED = re.compile(r"(?<![\d.])\d+(\.\d)? (B|kB|MB|GB)/s\b")  # decimal, as dcp prints sizes
SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # rich's "dots", the spinner dcp draws
PASSWORD_ONCE = (
    "dcp: warning: the password is shown only now: store it safely, it cannot be shown again\n"
)


@dataclass
class TerminalRun:
    code: int
    stdout: str
    terminal: str  # every byte the terminal got, decoded: escapes and all


def on_terminal(dcp: Dcp, *args: str, timeout: float = 60) -> TerminalRun:
    """dcp with its stderr on a pseudo-terminal 120 columns wide, stdout piped as usual."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    shown = bytearray()

    def drain() -> None:
        # Read as it comes: a full pty buffer would block dcp's next frame.
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the last writer closed its end
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain)
    try:
        proc = subprocess.Popen(
            [*dcp.command, *args],
            env={**dcp.env, "TERM": "xterm-256color"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=secondary,
            start_new_session=True,
        )
        os.close(secondary)
        reader.start()
        stdout, _ = proc.communicate(timeout=timeout)
        reader.join(timeout)
    finally:
        os.close(primary)
    return TerminalRun(proc.returncode, stdout.decode(), shown.decode(errors="replace"))


@pytest.fixture
def customer(server: LiveServer, email: str, request: pytest.FixtureRequest) -> Dcp:
    """``user`` whose account may hold two small databases at once."""
    server.raise_limits(
        email,
        api_rps=BURST,
        databases=2,
        database_vcpus=2,
        database_memory_bytes="unlimited",
        database_storage_bytes="unlimited",
    )
    user: Dcp = request.getfixturevalue("user")
    return user


def test_a_transfer_draws_its_bar_on_a_terminal_and_nothing_when_piped(
    user: Dcp, bucket_name: Callable[[], str], tmp_path: Path
) -> None:
    bucket = bucket_name()
    user("storage", "buckets", "create", bucket)
    body = os.urandom(4 * 1024 * 1024)
    source = tmp_path / "photo.raw"
    source.write_bytes(body)

    up = on_terminal(user, "storage", "objects", "upload", bucket, "a/photo.raw", str(source))
    assert up.code == 0, up.terminal
    assert up.stdout == f"Uploaded {source} to {bucket}/a/photo.raw (4.2 MB)\n"
    # The last frame: every byte of the total, and a speed in the same units.
    assert "4.2/4.2 MB" in up.terminal
    assert SPEED.search(up.terminal), up.terminal

    piped = user("storage", "objects", "upload", bucket, "b/photo.raw", str(source))
    assert piped.stderr == ""
    assert piped.stdout == f"Uploaded {source} to {bucket}/b/photo.raw (4.2 MB)\n"
    # JSON is for scripts: no bar, whatever stderr is.
    as_json = on_terminal(
        user, "-o", "json", "storage", "objects", "upload", bucket, "c", str(source)
    )
    assert (as_json.code, as_json.terminal) == (0, "")

    target = tmp_path / "back.raw"
    down = on_terminal(user, "storage", "objects", "download", bucket, "a/photo.raw", str(target))
    assert down.code == 0, down.terminal
    assert "4.2/4.2 MB" in down.terminal
    assert target.read_bytes() == body
    again = tmp_path / "again.raw"
    piped = user("storage", "objects", "download", bucket, "b/photo.raw", str(again))
    assert piped.stderr == ""
    assert piped.stdout == f"Downloaded {bucket}/b/photo.raw to {again} (4.2 MB)\n"
    assert again.read_bytes() == body

    # A key that is not there: S3's words, the object named, no file left behind.
    missing = tmp_path / "missing"
    missing.mkdir()
    said = user.fails(4, "storage", "objects", "download", bucket, "nope", str(missing / "n"))
    assert said == f"dcp: error: {bucket}/nope: The specified key does not exist. (NoSuchKey)"
    assert list(missing.iterdir()) == []


def test_a_wait_spins_on_a_terminal_and_says_only_its_messages_when_piped(
    customer: Dcp,
) -> None:
    pid = os.getpid()
    watched, piped_name = f"dcp-spin-{pid}", f"dcp-piped-{pid}"
    # Both at once: each waits seconds for its PostgreSQL, and the test waits once.
    piped = subprocess.Popen(
        [*customer.command, "databases", "create", piped_name, "--plan", "micro", "--wait"],
        env=customer.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen = on_terminal(customer, "databases", "create", watched, "--plan", "micro", "--wait")
    out, err = piped.communicate(timeout=120)

    assert seen.code == 0, seen.terminal
    assert "status:   Provisioning" in seen.stdout
    assert "\nuri:      postgresql://dbadmin@" in seen.stdout
    # The messages first, as piped; then the spinner: a frame, the state, the seconds.
    messages = PASSWORD_ONCE + f"Waiting for {watched} to be Running …\n"
    assert seen.terminal.startswith(messages.replace("\n", "\r\n")), seen.terminal
    spinner = seen.terminal[len(messages) + 2 :]
    assert any(frame in spinner for frame in SPINNER_FRAMES), spinner
    assert f"{watched} \x1b[1mRunning\x1b[0m" in spinner
    assert " s\x1b[0m" in spinner

    assert piped.returncode == 0, err
    assert err == PASSWORD_ONCE + f"Waiting for {piped_name} to be Running …\n"
    assert "\nuri:      postgresql://dbadmin@" in out
