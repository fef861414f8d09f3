"""Billing → Overview, Invoices and Budget & alerts from known S3 traffic on the metered tier
(every request priced): the console shows what the REST API computes, from the same services."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from nexq.web.console.formats import price
from tests.compat.test_billing import traffic
from tests.console.conftest import TIMEOUT, Tab, api_session, make_account, s3_client
from tests.console.guide_screenshots import guide_screenshot
from tests.live import LiveServer, nexq_json

NOTIFY_SECONDS = 30  # the server checks budgets every ~5 s


@dataclass(frozen=True)
class Payer:
    email: str
    account_id: str


@pytest.fixture(scope="module")
def payers(priced_server: LiveServer) -> Iterator[dict[str, Payer]]:
    """Three metered accounts with the same known traffic, counted and flushed (one restart
    of the server flushes every meter)."""
    made = {}
    for role in ("overview", "invoiced", "budgeted"):
        email = make_account(priced_server, role)
        with api_session(priced_server, email) as api:
            moved = api.put("/v1/account/tier", json={"tier": "metered"})
            assert moved.status_code == 200, moved.text
            key = api.post("/v1/storage/access-keys", json={"label": "t", "buckets": "all"}).json()
            account_id = api.get("/v1/account").json()["id"]
        traffic(
            priced_server, s3_client(priced_server, key["access_key_id"], key["secret_access_key"])
        )
        made[role] = Payer(email, account_id)
    priced_server.stop()  # flushes the meters
    priced_server.start()
    yield made


def line_row(page: Page, table: Locator, resource: str) -> Locator:
    """The row of one resource (each row also names its service, "Object Storage")."""
    return table.get_by_role("row").filter(has=page.get_by_text(resource, exact=True))


def sign_in(tab: Tab, payer: Payer) -> Tab:
    tab.sign_in(payer.email)
    return tab


def test_overview_shows_the_estimate_lines_costs_and_chart(
    priced_tab: Tab, priced_server: LiveServer, payers: dict[str, Payer]
) -> None:
    payer = payers["overview"]
    headers = {"Authorization": f"Bearer {priced_server.api_key(payer.email)}"}
    with httpx.Client(base_url=priced_server.api_url, headers=headers, timeout=TIMEOUT) as api:
        estimate = api.get("/v1/billing/estimate").json()
        costs = api.get("/v1/billing/costs").json()
    assert Decimal(estimate["total"]) >= Decimal("8.00")  # 6.00 Class A + 2.00 Class B + egress
    page = sign_in(priced_tab, payer).open("/billing/overview")

    month = datetime.now(UTC).strftime("%B %Y")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text(f"{month} · Metered tier · prices in USD")).to_be_visible()
    expect(page.locator("#total")).to_have_text(f"{estimate['total']} USD")
    lines = page.get_by_role("table", name="Charges by resource")
    for line in estimate["lines"]:
        row = line_row(page, lines, line["resource"])
        expect(row.get_by_role("cell").last).to_have_text(f"{line['amount']} USD")
        unit_price = price(Decimal(line["unit_price"]), "USD")  # two places at least
        expect(row).to_contain_text(f"{unit_price} per {line['unit']}")
    expect(lines.get_by_role("columnheader")).to_have_text(
        ["Resource", "Quantity", re.compile(r"^Billed"), "Unit price", "Amount"]
    )
    class_a = line_row(page, lines, "Class A operations")
    expect(class_a.get_by_role("cell")).to_have_text(
        [
            "0.000004 million operations",
            "0.000002",  # beyond the allowance, not the quantity again (issue 19)
            "3000000.00 USD per million operations",
            "6.00 USD",
        ]
    )
    # Quantities rounded for people (every digit in the title, and in the API's JSON).
    storage = line_row(page, lines, "Storage").get_by_role("cell").first
    exact = next(line["quantity"] for line in estimate["lines"] if line["resource"] == "Storage")
    expect(storage.locator("span").first).to_have_attribute("title", f"{exact} GB-month")
    expect(storage).to_have_text(re.compile(r"^(0|\d+(\.\d\d?)?|0\.0*[1-9]\d{0,2}) GB-month$"))
    expect(page.locator("#units")).to_contain_text("1 GB = 1,000,000,000 bytes")
    expect(page.locator("#lines-total")).to_have_text(f"{estimate['total']} USD")
    by_service = page.locator("#by-service").get_by_role("row").filter(has_text="Object Storage")
    expect(by_service).to_contain_text(f"{costs['by_service']['Object Storage']} USD")
    for resource, amount in costs["by_resource"].items():
        row = line_row(page, page.locator("#by-resource"), resource)
        expect(row).to_contain_text(f"{amount} USD")

    chart = page.get_by_role("img", name="Charges per day (USD)")
    expect(chart).to_be_visible()
    charged = [d for d in estimate["daily"] if Decimal(d["amount"]) > 0]
    expect(chart.locator("rect.bar")).to_have_count(len(charged))
    for day in charged:
        label = datetime.fromisoformat(day["day"]).strftime("%b %d")
        expect(chart.locator("rect.bar")).to_contain_text([f"{label} · Charges: {day['amount']}"])

    # A past month: nothing was used then, and the picker says which month is shown.
    last = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    page.get_by_label("Month").select_option(last)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{priced_server.api_url}/billing/overview?month={last}")
    expect(page.locator("#total")).to_have_text("0.00 USD")
    expect(page.get_by_role("heading", name="No charges in")).to_be_visible()
    page.goto(f"{priced_server.api_url}/billing/overview?month=2026-13")
    expect(page.get_by_role("alert")).to_have_text("month: '2026-13' is not of the form YYYY-MM.")


def test_invoice_list_detail_pdf_and_no_peeking(
    priced_tab: Tab, priced_server: LiveServer, payers: dict[str, Payer]
) -> None:
    payer = payers["invoiced"]
    # The traffic happened now; move this account's rows back to close that month.
    shift = 40 * 24
    with sqlite3.connect(priced_server.data_dir / "meta.db") as db:
        for table in ("usage_hourly", "usage_samples"):
            db.execute(
                f"UPDATE {table} SET hour = hour - ? WHERE account_id = ?",  # noqa: S608
                (shift, payer.account_id),
            )
        # Its move to the metered tier too: that month is priced at the tier it had then.
        db.execute(
            "UPDATE tier_changes SET changed_at = changed_at - ? WHERE account_id = ?",
            (shift * 3600, payer.account_id),
        )
    past = (datetime.now(UTC) - timedelta(hours=shift)).date().replace(day=1)
    nexq_json(
        "admin", "billing", "close-month", "--month", f"{past:%Y-%m}",
        data_dir=priced_server.data_dir,
    )  # fmt: skip
    with api_session(priced_server, payer.email) as api:
        (invoice,) = api.get("/v1/billing/invoices").json()
    assert invoice["status"] == "open" and Decimal(invoice["total"]) >= Decimal("8.00")

    page = sign_in(priced_tab, payer).open("/billing/invoices")
    row = page.get_by_role("row").filter(has_text=invoice["number"])
    expect(row.get_by_role("cell")).to_have_text(
        [
            invoice["number"],
            past.strftime("%B %Y"),
            "Open",
            f"{invoice['total']} USD",
            re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"),
            "PDF",
        ]
    )
    row.get_by_role("link", name=invoice["number"], exact=True).click()
    expect(page.get_by_role("heading", name=f"Invoice {invoice['number']}")).to_be_visible()
    expect(page.locator("#invoice-total")).to_have_text(f"{invoice['total']} USD")
    lines = page.get_by_role("table", name="Invoice lines")
    for line in invoice["lines"]:
        row = line_row(page, lines, line["resource"])
        expect(row.get_by_role("cell").last).to_have_text(f"{line['amount']} USD")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    saved = download.value
    assert saved.suggested_filename == f"{invoice['number']}.pdf"
    assert Path(saved.path()).read_bytes().startswith(b"%PDF")

    # Another account knows the address but gets the 404 page, for the page and the PDF.
    stranger = make_account(priced_server, "stranger")
    priced_tab.sign_in(stranger)
    for path in (
        f"/billing/invoices/{invoice['id']}",
        f"/billing/invoices/{invoice['number']}/pdf",
    ):
        response = page.goto(priced_server.api_url + path)
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("No invoice")
    page.goto(priced_server.api_url + "/billing/invoices")
    expect(page.get_by_role("heading", name="No invoices yet")).to_be_visible()


def reload_until_visible(page: Page, selector: str, seconds: float = NOTIFY_SECONDS) -> None:
    """Reload until ``selector`` shows (the server acts in the background), with a deadline."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            expect(page.locator(selector).first).to_be_visible(timeout=1_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.reload()


def test_budget_notifies_with_a_badge_until_read(priced_tab: Tab, payers: dict[str, Payer]) -> None:
    page = sign_in(priced_tab, payers["budgeted"]).open("/billing/budget")
    expect(page.get_by_text("No notifications yet")).to_be_visible()
    expect(page.locator("#spent")).to_contain_text("USD")
    page.get_by_label("Amount (USD)").fill("12.00")
    page.get_by_label("Thresholds (%)").fill("50, 90")
    page.get_by_role("button", name="Set budget").click()
    expect(page.get_by_role("status")).to_contain_text("Budget saved")
    expect(page.get_by_label("Amount (USD)")).to_have_value("12.00")
    expect(page.get_by_label("Thresholds (%)")).to_have_value("50, 90")

    # About 8.01 spent of 12.00: 50 % is crossed, 90 % is not.
    reload_until_visible(page, ".notification")
    notes = page.locator(".notification")
    expect(notes).to_have_count(1)
    expect(notes).to_contain_text("reached 50% of your budget")
    expect(notes).to_have_class("notification unread")
    expect(notes.get_by_text("New")).to_be_visible()
    banner = page.get_by_role("banner")
    expect(banner.get_by_role("link", name="Notifications 1 unread")).to_be_visible()
    page.get_by_role("link", name="Buckets").click()  # every page shows the badge
    expect(banner.get_by_role("link", name="Notifications 1 unread")).to_be_visible()
    banner.get_by_role("link", name="Notifications 1 unread").click()

    page.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_role("status")).to_have_text("All notifications marked as read.")
    expect(notes).to_have_class("notification")
    expect(banner.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Mark all read")).to_have_count(0)


def test_a_month_of_a_teams_usage_on_the_free_tier(
    priced_tab: Tab, priced_server: LiveServer
) -> None:
    """Last month as the meters and the hourly storage samples would have written it for a
    team on the shipped Free tier (realistic prices, unlike the metered tier's): a few GB out
    and some hundred thousand requests a day, 40 GB kept in a backups bucket. The overview
    shows what the REST API computes; it is the guide's picture of Billing."""
    email = make_account(priced_server, "team")
    with api_session(priced_server, email) as api:
        account_id = api.get("/v1/account").json()["id"]
        for name in ("website-assets", "backups-2026"):
            made = api.post("/v1/storage/buckets", json={"name": f"{name}-{account_id[:6]}"})
            assert made.is_success, made.text
    this_month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    first_hour, end_hour = (int(t.timestamp()) // 3600 for t in (last_month, this_month))
    with sqlite3.connect(priced_server.data_dir / "meta.db") as db:
        # The buckets by their names without the account's part, with their IDs.
        buckets = {
            name.rsplit("-", 1)[0]: (bucket_id, name)
            for bucket_id, name in db.execute(
                "SELECT id, name FROM buckets WHERE account_id = ?", (account_id,)
            )
        }
        website_id, website_name = buckets["website-assets"]
        for day, hour in enumerate(range(first_hour + 12, end_hour, 24)):
            busier = 1 + (day % 7) / 3  # towards the end of each week
            db.execute(
                "INSERT INTO usage_hourly(account_id, hour, bucket_id, bucket_name, data_in, "
                "data_out, class_a, class_b, other) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account_id,
                    hour,
                    website_id,
                    website_name,
                    int(2e8 * busier),
                    int(3e9 * busier),
                    int(90_000 * busier),
                    int(700_000 * busier),
                    1_000,
                ),
            )
        db.executemany(
            "INSERT INTO usage_samples(service, meter, resource, hour, account_id, quantity) "
            "VALUES ('storage', 'storage_gb_month', ?, ?, ?, ?)",
            [
                (buckets["backups-2026"][0], hour, account_id, 40 * 10**9)
                for hour in range(first_hour, end_hour)
            ],
        )
    month = f"{last_month:%Y-%m}"
    with api_session(priced_server, email) as api:
        estimate = api.get("/v1/billing/estimate", params={"month": month}).json()
    # Tens of dollars, each line in cents: a price list a customer would recognise.
    assert Decimal("10") < Decimal(estimate["total"]) < Decimal("100"), estimate["total"]

    priced_tab.sign_in(email)
    page = priced_tab.open(f"/billing/overview?month={month}")
    expect(page.get_by_text(f"{last_month:%B %Y} · Free tier · prices in USD")).to_be_visible()
    expect(page.locator("#total")).to_have_text(f"{estimate['total']} USD")
    lines = page.get_by_role("table", name="Charges by resource")
    class_a = line_row(page, lines, "Class A operations")
    expect(class_a).to_contain_text("4.50 USD per million operations")
    expect(page.get_by_role("img", name="Charges per day (USD)")).to_be_visible()
    guide_screenshot(page, "billing", "overview")
