"""A small synchronous QMP client: QEMU's JSON control protocol over its unix socket."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any


class QmpError(Exception):
    """QEMU refused a command, or the socket broke mid-conversation."""


class QmpClient:
    """One QMP session: greeting and capability negotiation on open, then commands.

    Asynchronous events that arrive between a command and its answer are kept in `events`
    rather than mistaken for the answer.
    """

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.events: list[dict[str, Any]] = []
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.settimeout(timeout)
        self._stream = self._socket.makefile("rwb")
        try:
            connect_unix(self._socket, path)
            greeting = self._read()
            if "QMP" not in greeting:
                raise QmpError(f"{path} is not a QMP socket: {greeting}")
            self.execute("qmp_capabilities")
        except BaseException:
            self.close()
            raise

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one command and return its `return` value; QEMU's error becomes a QmpError."""
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self._stream.write(json.dumps(request).encode() + b"\n")
        self._stream.flush()
        while True:
            message = self._read()
            if "event" in message:
                self.events.append(message)
            elif "error" in message:
                error = message["error"]
                raise QmpError(f"{command}: {error.get('class')}: {error.get('desc')}")
            elif "return" in message:
                return message["return"]

    def close(self) -> None:
        """Close the session (QEMU keeps running).

        The stream holds its own reference to the socket: closing only the socket would
        leave the connection open, and QEMU serves one QMP client at a time.
        """
        self._stream.close()
        self._socket.close()

    def __enter__(self) -> QmpClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        line = self._stream.readline()
        if not line:
            raise QmpError("QEMU closed the QMP socket")
        message: dict[str, Any] = json.loads(line)
        return message


def connect_unix(sock: socket.socket, path: Path) -> None:
    """Connect to the unix socket ``path``, however deep its folder: through the folder's
    descriptor (/proc/self/fd/N/name), as a socket's path holds at most 107 bytes."""
    if len(os.fsencode(path)) < 100:
        sock.connect(str(path))
        return
    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{folder}/{path.name}")
    finally:
        os.close(folder)
