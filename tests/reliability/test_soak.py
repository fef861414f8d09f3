"""The short soak (bench/soak.py) as a test: zero errors, every read verified, flat resources.

CI: 60 s, 16 clients, sizes up to 8 MiB. ``NEXQ_RELIABILITY=long`` (``make soak``): 600 s,
64 clients, sizes up to 64 MiB. ``NEXQ_SOAK_REPORT`` names a file for the JSON figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.harness import LONG

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


@pytest.mark.timeout(1500 if LONG else 300)
def test_soak(tmp_path: Path) -> None:
    out = Path(os.environ.get("NEXQ_SOAK_REPORT") or tmp_path / "soak.json")
    form = ["--long"] if LONG else ["--duration", "60", "--clients", "16", "--max-size", "8"]
    done = subprocess.run(
        [sys.executable, str(SOAK), *form, "--out", str(out), "--tmp", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1200 if LONG else 240,
    )
    print(done.stdout[-4000:])
    assert out.exists(), f"bench/soak.py wrote no report: {done.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result["errors"] == 0, result["first_errors"]
    assert result["server_alive"] and result["tracebacks_in_log"] == 0
    assert result["verified_gets"] > 0 and result["total_operations"] > 100
    assert result["rss_flat"], result["rss_mib"]
    assert result["fds_flat"], result["fds"]
    for figures in result["operations"].values():
        assert figures["count"] > 0 and figures["p99_ms"] >= figures["p50_ms"]
    assert done.returncode == 0, done.stderr[-2000:]
