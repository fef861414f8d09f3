"""The QEMU guest agent, asked to freeze the guest's filesystems around a snapshot's mark.

A cloud image runs ``qemu-ga`` on a virtio-serial port (``org.qemu.guest_agent.0``) that QEMU
exposes on the host as a unix socket in the machine's folder. Frozen, the guest's
filesystems have flushed every write and hold new ones, so a snapshot marked then is
consistent the way a clean unmount is (not only as after a power cut), databases and
journals included. Without an agent (the tiny image, a guest still booting, a user who
stopped it), the snapshot is marked anyway: crash consistent, as before.

The agent speaks QMP's JSON without the greeting and capabilities. A connection may hold a
stale answer left by an earlier client that gave up, so each session starts with
``guest-sync-delimited``: its answer comes after a 0xFF byte and echoes a random id, and
whatever precedes it is dropped.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nexq.compute.qemu.qmp import connect_unix

log = logging.getLogger("nexq.compute")
SOCKET = "qga.sock"
PORT_NAME = "org.qemu.guest_agent.0"
# Enough for a guest whose agent runs; a guest without one costs a snapshot only this long.
SYNC_TIMEOUT = 2.0
# Freezing flushes the guest's dirty pages first: seconds for a busy guest under TCG.
FREEZE_TIMEOUT = 30.0


class GuestAgentError(Exception):
    """The agent did not answer, or refused."""


class GuestAgent:
    """One session with a guest's agent."""

    def __init__(self, path: Path) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.settimeout(SYNC_TIMEOUT)
        try:
            connect_unix(self._socket, path)
            self._sync()
        except (OSError, ValueError) as exc:
            self.close()
            raise GuestAgentError(f"the guest agent does not answer: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def execute(self, command: str, timeout: float = SYNC_TIMEOUT) -> Any:
        self._socket.settimeout(timeout)
        try:
            self._socket.sendall(json.dumps({"execute": command}).encode() + b"\n")
            answer = json.loads(self._line())
        except (OSError, ValueError) as exc:
            raise GuestAgentError(f"{command}: {exc}") from exc
        if "error" in answer:
            raise GuestAgentError(f"{command}: {answer['error'].get('desc')}")
        return answer.get("return")

    def close(self) -> None:
        self._socket.close()

    def _sync(self) -> None:
        token = secrets.randbelow(2**31 - 1) + 1
        request = {"execute": "guest-sync-delimited", "arguments": {"id": token}}
        self._socket.sendall(b"\xff" + json.dumps(request).encode() + b"\n")
        while True:  # skip what an earlier session left, up to the agent's 0xFF
            byte = self._socket.recv(1)
            if not byte:
                raise GuestAgentError("the guest agent closed the connection")
            if byte == b"\xff":
                break
        if json.loads(self._line()).get("return") != token:
            raise GuestAgentError("the guest agent answered another session's sync")

    def _line(self) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n"):
            chunk = self._socket.recv(1)
            if not chunk:
                raise GuestAgentError("the guest agent closed the connection")
            line += chunk
        return bytes(line)


@contextmanager
def frozen(path: Path) -> Iterator[bool]:
    """Within: the guest's filesystems frozen, if its agent answers (yields whether they
    are). They are thawed on the way out whatever happens: qemu-ga keeps them frozen until
    told otherwise, even when the connection that froze them is gone."""
    if not path.exists():
        yield False
        return
    try:
        agent = GuestAgent(path)
    except GuestAgentError as exc:
        log.info("marking without freezing the guest's filesystems: %s", exc)
        yield False
        return
    try:
        agent.execute("guest-fsfreeze-freeze", FREEZE_TIMEOUT)
    except GuestAgentError as exc:
        agent.close()
        log.warning("the guest's filesystems could not be frozen: %s", exc)
        yield False
        return
    try:
        yield True
    finally:
        _thaw(agent, path)


def _thaw(agent: GuestAgent, path: Path) -> None:
    try:
        agent.execute("guest-fsfreeze-thaw", FREEZE_TIMEOUT)
    except GuestAgentError:
        try:  # once more, on a fresh connection (the first may have broken)
            again = GuestAgent(path)
            try:
                again.execute("guest-fsfreeze-thaw", FREEZE_TIMEOUT)
            finally:
                again.close()
        except GuestAgentError as exc:
            log.error("the guest's filesystems may still be frozen (%s): %s", path, exc)
    finally:
        agent.close()
