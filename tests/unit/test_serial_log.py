"""An instance's serial log is kept bounded: past its limit, only its last lines stay."""

from __future__ import annotations

from pathlib import Path

from nexq.compute.host import SERIAL_LOG_KEEP, SERIAL_LOG_LIMIT, Host


def test_a_long_serial_log_keeps_its_last_whole_lines(tmp_path: Path) -> None:
    host = Host(tmp_path)
    log = host.machine("vm-1").serial_log
    log.parent.mkdir(parents=True)
    lines = [f"boot line {n:07d}\n".encode() for n in range(SERIAL_LOG_LIMIT // 18 + 1000)]
    log.write_bytes(b"".join(lines[:100]))
    assert not host.trim_serial_log("vm-1")  # short: left alone
    log.write_bytes(b"".join(lines))
    assert log.stat().st_size > SERIAL_LOG_LIMIT
    assert host.trim_serial_log("vm-1")
    kept = log.read_bytes()
    assert 0 < len(kept) <= SERIAL_LOG_KEEP
    assert kept.endswith(lines[-1]) and kept.startswith(b"boot line ")
    assert host.serial_tail("vm-1", 2) == [lines[-2].decode().strip(), lines[-1].decode().strip()]
    assert not host.trim_serial_log("vm-2")  # no log yet
