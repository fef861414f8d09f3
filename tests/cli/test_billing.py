"""dcp account limits/tier and dcp billing against a live server."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import Dcp


def test_limits_and_tier(user: Dcp) -> None:
    page = user.json("account", "limits")
    names = [line["name"] for line in page["limits"]]
    assert names[:4] == ["buckets", "storage_bytes", "access_keys", "api_keys"]
    table = user("account", "limits").stdout
    assert table.startswith("Tier: ") and "storage_bytes" in table
    # Sizes in the units of their limit (JSON keeps the bytes); only a rate is checked per
    # second, a limit of each resource says so.
    stored = next(line for line in page["limits"] if line["name"] == "storage_bytes")
    assert stored["limit"] == 10**10 and stored["used"] == 0
    assert re.search(r"^storage_bytes +0 B +10 GB +0\.0%$", table, re.M), table
    assert re.search(r"^api_rps +- +20/s +checked per second$", table, re.M), table
    assert re.search(r"^registry_repositories +- +50 +checked for each resource$", table, re.M), (
        table
    )
    moved = user.json("account", "tier", "developer")
    assert moved["tier"] == {"id": "developer", "name": "Developer"}
    user.fails(6, "account", "tier", "platinum")


def test_estimate_and_invoices(user: Dcp, tmp_path: Path) -> None:
    estimate = user.json("billing", "estimate")
    assert set(estimate) == {"month", "currency", "tier", "lines", "total", "daily"}
    assert [line["resource"] for line in estimate["lines"]] == [
        "Storage",
        "Egress",
        "Class A operations",
        "Class B operations",
        "Registry storage",
        "Registry egress",
        "Image pulls",
        "Image pushes",
        "Database instances (Micro)",
        "Database instances (Small)",
        "Database instances (Medium)",
        "Database instances (Large)",
        "Database storage",
        "Database backups",
        "Instances (Nano)",
        "Instances (Micro)",
        "Instances (Small)",
        "Instances (Medium)",
        "Instance disks",
        "Instance snapshots",
        "Instance backups",
    ]
    past = user("billing", "estimate", "--month", "2026-01").stdout
    assert "TOTAL" in past
    # Units agree with their quantity; symbols and plurals (GB, million operations) stay.
    assert re.search(r"^Database instances \(Micro\)\s+0 instance-hours\s", past, re.M), past
    assert re.search(r"^Storage\s+0 GB-months\s", past, re.M), past
    assert re.search(r"^Egress\s+0 GB\s", past, re.M), past
    user.fails(6, "billing", "estimate", "--month", "January")
    assert user.json("billing", "invoices", "list") == []
    user.fails(4, "billing", "invoices", "pdf", "NQ-000000-NOPE", "--out", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()
