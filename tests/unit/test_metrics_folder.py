"""Where a server counts: a private folder in /dev/shm, and what killed servers left there."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from nexq.core import telemetry


def test_a_killed_servers_folder_with_this_pid_is_removed(tmp_path: Path) -> None:
    # Pids wrap (at 32,768 here), so a server may get the pid of one killed earlier, whose
    # folder is still there: two folders would then carry this server's pid.
    left = Path(tempfile.mkdtemp(prefix=f"nexq-metrics-{os.getpid()}-", dir="/dev/shm"))
    made = telemetry.folder_for(tmp_path)
    try:
        assert made.is_dir() and made.parent == Path("/dev/shm")
        assert not left.exists()
        assert list(Path("/dev/shm").glob(f"nexq-metrics-{os.getpid()}-*")) == [made]
        assert made.stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(made, ignore_errors=True)
        shutil.rmtree(left, ignore_errors=True)
