"""`dcp doctor`: each thing that stands between dcp and a working API, found and named with
what to do, against a live server; the clock's verdicts for skews no test can cause."""

from __future__ import annotations

import pytest

from nexq.cli.dcp_doctor import clock_check
from tests.cli.conftest import Dcp, api_url
from tests.live import LiveServer


def test_a_working_setup_passes_every_check(user: Dcp, email: str, server: LiveServer) -> None:
    lines = user("doctor").stdout.splitlines()
    assert lines[0].split()[:3] == ["ok", "api-url", api_url(server)]
    assert lines[1].startswith("ok    server    Nexq ") and "answers at" in lines[1]
    assert lines[2].startswith("ok    clock     in step with the server")
    assert lines[3].startswith(f"ok    api-key   accepted for {email} (from ")
    report = user.json("doctor")
    assert report["ok"] is True
    assert [c["check"] for c in report["checks"]] == ["api-url", "server", "clock", "api-key"]


def test_a_key_the_server_refuses_is_named_with_what_to_do(user: Dcp) -> None:
    done = user("doctor", code=1, env={"DCP_API_KEY": "nxq_not-a-real-key"})
    assert "FAIL  api-key   not accepted (from env DCP_API_KEY)" in done.stdout
    assert "run dcp login" in done.stdout


def test_the_s3_port_or_nothing_listening_is_a_failed_server_check(
    user: Dcp, server: LiveServer
) -> None:
    s3 = user("doctor", "--api-url", server.endpoint, code=1).stdout
    assert "FAIL  server" in s3 and "is not a Nexq API" in s3
    assert "api-key" not in s3  # not tried: the server check failed
    nothing = user("doctor", "--api-url", "http://127.0.0.1:1", code=1).stdout
    assert "FAIL  server    cannot reach http://127.0.0.1:1" in nothing


def test_no_key_at_all_says_to_log_in(dcp: Dcp, server: LiveServer) -> None:
    done = dcp("doctor", "--api-url", api_url(server), code=1)
    assert "FAIL  api-key   no API key: run dcp login" in done.stdout


@pytest.mark.parametrize(
    ("skew", "ok", "says"),
    [
        (30.0, True, "in step with the server"),
        (-120.0, False, "120 s behind the server's"),
        (600.0, False, "600 s ahead of the server's: S3 refuses signatures beyond 15 minutes"),
        (1000.0, False, "RequestTimeTooSkewed"),
    ],
)
def test_the_clock_verdicts(skew: float, ok: bool, says: str) -> None:
    found = clock_check(1_000_000.0 + skew, 1_000_000.0)
    assert found.ok is ok and says in found.detail
    assert clock_check(1.0, None).ok  # no Date header: not measured, not failed
