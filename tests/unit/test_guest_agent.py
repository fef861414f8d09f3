"""Marking a snapshot never waits on a guest agent that is not there: no socket, or a socket
whose agent never answers (the tiny image, a guest still booting), is a snapshot without a
freeze, decided within the sync timeout. The agent itself is exercised for real in
tests/compute/test_debian_live.py."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from nexq.compute.qemu import guest_agent
from nexq.compute.qemu.guest_agent import frozen


def test_no_socket_means_no_freeze(tmp_path: Path) -> None:
    with frozen(tmp_path / "qga.sock") as quiesced:
        assert quiesced is False


def test_a_silent_agent_means_no_freeze_within_the_sync_timeout(tmp_path: Path) -> None:
    path = tmp_path / "qga.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.bind(str(path))
        silent.listen(1)  # QEMU's side of the port accepts; no agent behind it answers
        began = time.monotonic()
        with frozen(path) as quiesced:
            assert quiesced is False
        assert time.monotonic() - began < guest_agent.SYNC_TIMEOUT + 1.0
