"""Account → API Keys, Object Storage → Usage, and what a new account sees first."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.console.conftest import TIMEOUT, Tab, make_account, owner_s3
from tests.console.guide_screenshots import guide_screenshot
from tests.live import LiveServer


def api_status(server: LiveServer, token: str, path: str = "/v1/account") -> int:
    answer = httpx.get(
        server.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    return answer.status_code


def test_api_keys_create_regenerate_revoke_delete(signed_in: Tab, server: LiveServer) -> None:
    page = signed_in.open("/account/api-keys")
    expect(page.get_by_role("heading", name="No API keys yet")).to_be_visible()
    page.get_by_role("link", name="Create API Key").first.click()
    page.get_by_label("Name").fill("CI deploys")
    page.get_by_label("Description").fill("Used by the <b>nightly</b> job")
    for scope in ("storage:write", "account:write", "billing:read"):
        page.get_by_role("checkbox", name=re.compile(scope)).uncheck()
    expect(page.get_by_role("checkbox", name=re.compile("storage:read"))).to_be_checked()
    page.get_by_role("button", name="Create API Key").click()

    expect(page.get_by_role("heading", name="API key created")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("only time it is shown")
    token = page.get_by_role("textbox", name="API key").input_value()
    assert token.startswith("nxq_")
    assert api_status(server, token) == 200
    assert api_status(server, token, "/v1/storage/buckets") == 200
    assert (
        httpx.post(
            server.api_url + "/v1/storage/buckets",
            json={"name": "not-allowed-here"},
            headers={"Authorization": f"Bearer {token}"},
        ).status_code
        == 403
    )  # storage:write was left out

    page.get_by_role("link", name="Done").click()
    row = page.get_by_role("row").filter(has_text="CI deploys")
    expect(row).to_contain_text("Used by the <b>nightly</b> job")  # text, not markup
    expect(row).to_contain_text("account:read")
    expect(row).not_to_contain_text("storage:write")
    expect(row.get_by_role("cell").nth(3)).not_to_have_text("Never")  # used just now
    expect(row).to_contain_text(datetime.now(UTC).strftime("%Y-%m-%d"))
    expect(row).to_contain_text("Active")
    assert token not in page.content()
    guide_screenshot(page, "account", "api-keys")

    row.get_by_role("button", name="Regenerate CI deploys").click()
    page.get_by_role("dialog").get_by_role("button", name="Regenerate").click()
    expect(page.get_by_role("heading", name="API key regenerated")).to_be_visible()
    new_token = page.get_by_role("textbox", name="API key").input_value()
    assert new_token != token
    assert api_status(server, token) == 401
    assert api_status(server, new_token) == 200

    page.get_by_role("link", name="Done").click()
    row.get_by_role("button", name="Revoke CI deploys").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("stops working at once")
    expect(dialog.get_by_role("button", name="Revoke")).to_have_class(re.compile("btn-warning"))
    dialog.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_have_text("API key CI deploys revoked.")
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("button", name="Regenerate CI deploys")).to_have_count(0)
    assert api_status(server, new_token) == 401

    row.get_by_role("button", name="Delete CI deploys").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("API key CI deploys deleted.")
    expect(page.get_by_role("heading", name="No API keys yet")).to_be_visible()


def test_api_key_needs_a_scope(signed_in: Tab) -> None:
    page = signed_in.open("/account/api-keys/new")
    page.get_by_label("Name").fill("Nothing")
    for box in page.get_by_role("checkbox").all():
        box.uncheck()
    page.get_by_role("button", name="Create API Key").click()
    expect(page.get_by_role("alert")).to_have_text("scopes: a key needs at least one scope.")
    expect(page.get_by_label("Name")).to_have_value("Nothing")


def test_usage_table_and_charts(signed_in: Tab, s3: Any) -> None:
    s3.create_bucket(Bucket="usage-bucket")
    s3.put_object(Bucket="usage-bucket", Key="a", Body=b"x" * 2048)
    s3.get_object(Bucket="usage-bucket", Key="a")["Body"].read()
    s3.list_buckets()  # a request to no bucket: a row of its own, labelled
    page = signed_in.open("/storage/usage")
    stored = page.locator(".stat").filter(has_text="Stored now")
    expect(stored).to_contain_text(re.compile(r"Stored now\s*\d+(\.\d)? (B|kB|MB)"))
    expect(stored).to_contain_text(re.compile(r"\d+ objects? in \d+ buckets?"))
    deadline = time.monotonic() + 15  # the worker flushes its counts every few seconds
    no_bucket = page.get_by_role("row").filter(has_text="No bucket (ListBuckets)")
    while no_bucket.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    expect(no_bucket.get_by_role("cell").nth(3)).to_have_text(re.compile(r"^[1-9]\d*$"))
    table = page.get_by_role("table", name="Usage per bucket")
    expect(table.get_by_role("columnheader")).to_have_text(
        ["Bucket", "Data In", "Data Out", "Operations", "Class A", "Class B"]
    )
    row = table.get_by_role("row").filter(has_text="usage-bucket")
    expect(row.get_by_role("cell").nth(1)).to_have_text(re.compile(r"^\d+(\.\d)? (B|kB|MB)$"))
    # One unit system with Billing and Limits & Quotas: decimal, as billed, and said so.
    expect(page.get_by_text("1 GB = 1,000,000,000 bytes")).to_be_visible()
    expect(table.get_by_role("row").filter(has_text="Total")).to_be_visible()
    guide_screenshot(page, "storage", "usage")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(2)
    expect(page.get_by_role("img", name="Data transfer per day")).to_be_visible()
    expect(page.get_by_role("img", name="Operations per day")).to_be_visible()
    first_day = datetime.now(UTC).strftime("%b 01")  # this month so far, one slot per day
    expect(charts.first.locator("text.tick").filter(has_text=first_day)).to_have_count(1)

    page.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(re.compile(r"start=\d{4}-\d\d-\d\d&end="))
    page.get_by_label("From").fill("2026-03-10")
    page.get_by_label("To").fill("2026-03-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The period starts after it ends; swap the two dates."
    )


def test_a_new_account_is_told_what_to_do_next(tab: Tab, server: LiveServer) -> None:
    tab.sign_in(make_account(server, "newcomer"))
    page = tab.open("/storage/buckets")
    expect(page.get_by_role("heading", name="No buckets yet")).to_be_visible()
    expect(page.get_by_text("Create one above")).to_be_visible()
    connect = page.locator("details.connect")
    expect(connect).to_have_attribute("open", "")  # nothing yet: show how to connect
    expect(connect.locator("#s3-endpoint")).to_have_text(server.endpoint)
    expect(connect).to_contain_text("nexq-1")
    expect(connect.locator("#snippet-awscli")).to_contain_text(f"--endpoint-url {server.endpoint}")
    expect(connect.locator("#snippet-boto3")).to_contain_text(f'endpoint_url="{server.endpoint}"')

    page = tab.open("/storage/access-keys")
    expect(page.get_by_role("heading", name="No access keys yet")).to_be_visible()
    page = tab.open("/account/api-keys")
    expect(page.get_by_role("heading", name="No API keys yet")).to_be_visible()
    page = tab.open("/storage/usage")
    expect(page.get_by_role("heading", name="No buckets yet")).to_be_visible()
    page = tab.open("/storage/access-keys/new")
    expect(page.get_by_label("Specific Buckets")).to_be_disabled()
    expect(page.get_by_text("Create a bucket first")).to_be_visible()


def test_an_empty_bucket_says_how_to_fill_it(signed_in: Tab, server: LiveServer, user: str) -> None:
    owner_s3(server, user).create_bucket(Bucket="still-empty")
    page = signed_in.open("/storage/buckets/still-empty")
    expect(page.get_by_role("heading", name="This bucket is empty")).to_be_visible()
    expect(page.get_by_text("Upload files above")).to_be_visible()
    page = signed_in.open("/storage/buckets/still-empty?prefix=nothing/")
    expect(page.get_by_role("heading", name="This folder is empty")).to_be_visible()
