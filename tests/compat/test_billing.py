"""Billing from known traffic: exact estimates, invoices with a PDF, payment methods, budget
alerts by notification, email (a local SMTP sink) and webhook."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import BytesIO
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from nexq.accounts.tiers import default_tiers_text
from tests.live import LiveServer, free_port, nexq, nexq_json

_n = itertools.count()

# A tier that makes small test traffic cost visible money: every operation is priced, the
# first two Class A operations and the first 1,000 bytes out are included. Its limits are the
# Free tier's: only the prices differ from what a new customer gets. It is written in the first
# format of tiers.toml (flat tables), which keeps loading beside the shipped tiers.
_FREE_LIMITS = {
    name: value
    for service in tomllib.loads(default_tiers_text())["tiers"]["free"]["limits"].values()
    for name, value in service.items()
}
TEST_TIER = f"""
[tiers.metered]
name = "Metered"
limits = {{ {", ".join(f"{name} = {value}" for name, value in _FREE_LIMITS.items())} }}
prices.storage_gb_month = "1000"
prices.egress_gb = "2000"
prices.class_a_million = "3000000"
prices.class_b_million = "1000000"
allowances = {{ storage_gb_month = "0", egress_gb = "0.000001", class_a = 2, class_b = 0 }}
"""


def metered(server: LiveServer, email: str) -> None:
    """Move a new account (Free, as every new account) to the metered tier, before traffic."""
    nexq(
        "admin",
        "account",
        "limits",
        "--account",
        email,
        "--tier",
        "metered",
        data_dir=server.data_dir,
    )


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope.content.decode())
        return "250 OK"


class Hooks(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        Hooks.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def hooks() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), Hooks)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, mailbox: tuple[Mailbox, int]
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("billing") / "data"
    data.mkdir()
    (data / "tiers.toml").write_text(default_tiers_text() + TEST_TIER)
    live = LiveServer(
        data,
        env={
            "NEXQ_SMTP_HOST": "127.0.0.1",
            "NEXQ_SMTP_PORT": str(mailbox[1]),
            # The webhook receiver is local: allowed by name, as an operator would.
            "NEXQ_WEBHOOK_ALLOW": "127.0.0.1/32",
        },
    )
    live.start()
    yield live
    live.stop()


def customer(server: LiveServer) -> tuple[str, Any, httpx.Client]:
    email = server.account(f"payer{next(_n)}@example.com")
    metered(server, email)
    api = httpx.Client(
        base_url=server.api_url,
        headers={"Authorization": f"Bearer {server.api_key(email)}"},
        timeout=30,
    )
    return email, server.client(server.key(email)), api


def storage_byte_hours(server: LiveServer, account_id: str) -> int:
    with sqlite3.connect(server.data_dir / "meta.db") as db:
        row = db.execute(
            "SELECT coalesce(sum(quantity), 0) FROM usage_samples WHERE account_id = ? "
            "AND service = 'storage' AND meter = 'storage_gb_month'",
            (account_id,),
        ).fetchone()
    return int(row[0])


def expected_total(
    class_a: int, class_b: int, data_out: int, byte_hours: int, month: date
) -> Decimal:
    cent = Decimal("0.01")
    hours = ((month.replace(day=28) + timedelta(days=4)).replace(day=1) - month).days * 24
    storage = (Decimal(byte_hours) / Decimal(10**9) / hours * 1000).quantize(cent)
    egress = (
        max(Decimal(data_out) / Decimal(10**9) - Decimal("0.000001"), Decimal(0)) * 2000
    ).quantize(cent)
    return storage + egress + Decimal(max(class_a - 2, 0) * 3) + Decimal(class_b)


def traffic(server: LiveServer, s3: Any) -> tuple[int, int, int]:
    """Known requests; returns (Class A, Class B, bytes out)."""
    bucket = f"billed-{next(_n)}"
    s3.create_bucket(Bucket=bucket)  # A
    s3.put_object(Bucket=bucket, Key="a", Body=b"a" * 4000)  # A
    s3.put_object(Bucket=bucket, Key="b", Body=b"b" * 1500)  # A
    s3.get_object(Bucket=bucket, Key="a")["Body"].read()  # B, 4000 out
    s3.head_object(Bucket=bucket, Key="b")  # B
    s3.list_objects_v2(Bucket=bucket)  # A
    return 4, 2, 4000


def until(probe: Callable[[], list[Any]], seconds: float = 60) -> list[Any]:
    """The first non-empty answer of ``probe`` within ``seconds`` (else the last, empty)."""
    deadline = time.monotonic() + seconds
    found = probe()
    while not found and time.monotonic() < deadline:
        threading.Event().wait(0.25)
        found = probe()
    return found


def restart(server: LiveServer) -> None:
    server.stop()  # flushes the meters
    server.start()


def test_estimate_is_exact(server: LiveServer) -> None:
    _, s3, api = customer(server)
    class_a, class_b, out = traffic(server, s3)
    restart(server)
    account_id = api.get("/v1/account").json()["id"]
    estimate = api.get("/v1/billing/estimate").json()
    month = datetime.now(UTC).date().replace(day=1)
    expected = expected_total(class_a, class_b, out, storage_byte_hours(server, account_id), month)
    assert Decimal(estimate["total"]) == expected
    assert estimate["tier"] == "Metered" and estimate["currency"] == "USD"
    lines = {line["resource"]: line for line in estimate["lines"]}
    assert Decimal(lines["Class A operations"]["amount"]) == Decimal("6.00")  # 4 - 2 included
    assert Decimal(lines["Class A operations"]["included"]) == Decimal("0.000002")
    assert Decimal(lines["Class B operations"]["amount"]) == Decimal("2.00")
    assert Decimal(lines["Egress"]["quantity"]) == Decimal("0.000004")
    today = datetime.now(UTC).date().isoformat()
    assert sum(Decimal(d["amount"]) for d in estimate["daily"]) == expected
    assert estimate["daily"][-1]["day"] == today
    costs = api.get("/v1/billing/costs").json()
    assert Decimal(costs["by_service"]["Object Storage"]) == expected
    assert set(costs["by_resource"]) == set(lines)


def test_closing_a_month_makes_one_invoice_with_a_pdf(server: LiveServer) -> None:
    email, s3, api = customer(server)
    class_a, class_b, out = traffic(server, s3)
    restart(server)
    account_id = api.get("/v1/account").json()["id"]
    # The traffic happened now; move this account's rows one month back to close that month.
    shift = 40 * 24
    with sqlite3.connect(server.data_dir / "meta.db") as db:
        db.execute(
            "UPDATE usage_hourly SET hour = hour - ? WHERE account_id = ?", (shift, account_id)
        )
        db.execute(
            "UPDATE usage_samples SET hour = hour - ? WHERE account_id = ?", (shift, account_id)
        )
        # Its move to the metered tier too: that month is priced at the tier it had then.
        db.execute(
            "UPDATE tier_changes SET changed_at = changed_at - ? WHERE account_id = ?",
            (shift * 3600, account_id),
        )
    past = (datetime.now(UTC) - timedelta(hours=shift)).date().replace(day=1)
    byte_hours = storage_byte_hours(server, account_id)
    made = nexq_json(
        "admin", "billing", "close-month", "--month", f"{past:%Y-%m}", data_dir=server.data_dir
    )
    mine = [i for i in made if i["account_id"] == account_id]
    assert len(mine) == 1 and mine[0]["status"] == "open"
    assert Decimal(mine[0]["total"]) == expected_total(class_a, class_b, out, byte_hours, past)
    again = nexq_json(
        "admin", "billing", "close-month", "--month", f"{past:%Y-%m}", data_dir=server.data_dir
    )
    assert [i for i in again if i["account_id"] == account_id] == []
    listed = api.get("/v1/billing/invoices").json()
    assert [i["number"] for i in listed] == [mine[0]["number"]]
    document = api.get(f"/v1/billing/invoices/{mine[0]['id']}/pdf")
    assert document.headers["content-type"] == "application/pdf"
    # Every page: the lines of every service's meters may push the total past the first.
    text = "\n".join(p.extract_text() for p in PdfReader(BytesIO(document.content)).pages)
    assert mine[0]["number"] in text and email in text
    # Money as the console writes it (to the cent, no thousands separator).
    assert f"{Decimal(mine[0]['total']):.2f} USD" in text and "Class A operations" in text
    paid = nexq_json(
        "admin", "billing", "set-status", mine[0]["number"], "paid", data_dir=server.data_dir
    )
    assert paid["status"] == "paid"
    assert api.get(f"/v1/billing/invoices/{mine[0]['id']}").json()["paid_at"] is not None
    current = nexq(
        "admin",
        "billing",
        "close-month",
        "--month",
        f"{datetime.now(UTC):%Y-%m}",
        data_dir=server.data_dir,
        check=False,
    )
    assert current.returncode == 1 and "has not ended" in current.stderr


def test_payment_methods_keep_no_card_number(server: LiveServer) -> None:
    _, _, api = customer(server)
    year = datetime.now(UTC).year + 2
    card = api.post(
        "/v1/billing/payment-methods",
        json={
            "number": "4242 4242 4242 4242",
            "exp_month": 12,
            "exp_year": year,
            "holder": "Ada Lovelace",
        },
    )
    assert card.status_code == 201, card.text
    body = card.json()
    assert (body["brand"], body["last4"], body["is_default"]) == ("Visa", "4242", True)
    wrong = api.post(
        "/v1/billing/payment-methods",
        json={"number": "4242424242424241", "exp_month": 1, "exp_year": year, "holder": "X"},
    )
    assert wrong.status_code == 400 and wrong.json()["detail"].startswith("number:")
    second = api.post(
        "/v1/billing/payment-methods",
        json={"number": "5555555555554444", "exp_month": 3, "exp_year": year, "holder": "A L"},
    ).json()
    assert second["brand"] == "Mastercard" and second["is_default"] is False
    assert api.post(f"/v1/billing/payment-methods/{second['id']}/default").json()["is_default"]
    edited = api.patch(f"/v1/billing/payment-methods/{body['id']}", json={"exp_month": 6})
    assert edited.json()["exp_month"] == 6 and edited.json()["is_default"] is False
    assert api.delete(f"/v1/billing/payment-methods/{body['id']}").status_code == 204
    assert [m["last4"] for m in api.get("/v1/billing/payment-methods").json()] == ["4444"]
    with sqlite3.connect(server.data_dir / "meta.db") as db:
        dump = "\n".join(db.iterdump())
    assert "4242424242424242" not in dump and "5555555555554444" not in dump


def test_budget_alerts_notify_email_and_webhook_once(
    server: LiveServer, mailbox: tuple[Mailbox, int], hooks: str
) -> None:
    email, s3, api = customer(server)
    budget = api.put(
        "/v1/billing/budget",
        json={"amount": "10.00", "thresholds": [50, 100], "webhook_url": hooks},
    )
    assert budget.status_code == 200 and budget.json()["thresholds"] == [50, 100]
    traffic(server, s3)  # 6.00 + 2.00 + egress: past 50 % of 10.00, not 100 %
    restart(server)
    # The server checks budgets every few seconds: wait for the outcome, with a deadline.
    notes = until(lambda: api.get("/v1/notifications").json())
    assert len(notes) == 1 and "50% of your budget" in notes[0]["message"]
    mails = until(lambda: [m for m in mailbox[0].messages if f"To: {email}" in m])
    assert len(mails) == 1 and "50% reached" in mails[0]
    mine = until(lambda: [h for h in Hooks.received if h["threshold_percent"] == 50])
    assert mine[-1]["event"] == "budget.threshold_crossed"
    assert api.post("/v1/notifications/read").status_code == 204
    assert all(n["read"] for n in api.get("/v1/notifications").json())
    invalid = api.put("/v1/billing/budget", json={"amount": "-3"})
    assert invalid.status_code == 400 and "amount" in invalid.json()["detail"]
