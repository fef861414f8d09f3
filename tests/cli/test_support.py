"""dcp support: the real executable opens, follows, answers, closes and reopens tickets."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.cli.conftest import Dcp, admin_api_key
from tests.live import LiveServer


def test_a_ticket_from_dcp(server: LiveServer, user: Dcp, tmp_path: Path) -> None:
    proc = user(
        "--output",
        "json",
        "support",
        "tickets",
        "create",
        "--subject",
        "Listing is slow",
        "--service",
        "Object Storage",
        "--severity",
        "Low",
        "--description",
        "-",
        stdin="ListObjectsV2 takes 3 s on a bucket of 10 keys.\n",
    )
    ticket = json.loads(proc.stdout)
    assert ticket["severity"] == "Low" and ticket["status"] == "Open"
    table = user("support", "tickets", "list").stdout
    assert f"#{ticket['number']}" in table and "Listing is slow" in table
    log = tmp_path / "timing.log"
    log.write_bytes(b"GET /bucket?list-type=2 3012 ms\n")
    said = user(
        "support", "tickets", "reply", ticket["id"], "--body", "A log.", "--attach", str(log)
    )
    assert "Reply sent (1 attachment)." in said.stdout
    shown = user("support", "tickets", "show", ticket["id"]).stdout
    assert "[attachment] timing.log" in shown and "A log." in shown
    # The operator answers through the API; dcp shows it.
    operator = admin_api_key(server, "operator@nexq.local")["token"]
    httpx.post(
        f"{server.api_url}/v1/support/tickets/{ticket['id']}/replies",
        json={"body": "An index was missing; fixed."},
        headers={"Authorization": f"Bearer {operator}"},
    ).raise_for_status()
    assert "An index was missing" in user("support", "tickets", "show", ticket["id"]).stdout
    closed = user.json("support", "tickets", "close", ticket["id"])
    assert closed["status"] == "Closed"
    assert user.json("support", "tickets", "reopen", ticket["id"])["status"] == (
        "Waiting on support"
    )


def test_errors_exit_with_their_code(user: Dcp) -> None:
    user.fails(4, "support", "tickets", "show", "no-such-ticket")
    said = user.fails(
        6,
        "support",
        "tickets",
        "create",
        "--subject",
        "x",
        "--service",
        "Teleporter",
        "--description",
        "y",
    )
    assert "service" in said
    said = user.fails(
        6,
        "support",
        "tickets",
        "create",
        "--subject",
        "x",
        "--service",
        "Object Storage",
        "--severity",
        "Urgent",
        "--description",
        "y",
    )
    assert said == "dcp: error: severity: 'Urgent' is not one of Critical, High, Medium, Low."
