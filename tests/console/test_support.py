"""Support in a real browser: a customer opens a ticket with a file, an operator answers it
from the queue, the customer sees the answer, closes and reopens the ticket."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.console.conftest import Tab, make_account
from tests.console.guide_screenshots import guide_screenshot
from tests.console.test_storage import confirm_dialog
from tests.live import LiveServer

OPERATOR = "operator@nexq.local"


def operator_password(server: LiveServer) -> str:
    return (server.data_dir / "operator-password").read_text().strip()


def test_a_ticket_from_both_sides(
    tab: Tab, chromium: Browser, server: LiveServer, tmp_path: Path
) -> None:
    customer = make_account(server, "helped")
    tab.sign_in(customer)
    page = tab.open("/support/tickets")
    nav = page.get_by_role("navigation", name="Services")
    expect(nav.get_by_role("link", name="Tickets")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Queue")).to_have_count(0)  # operators only
    expect(page.get_by_text("No tickets yet")).to_be_visible()
    page.get_by_role("link", name="Open a ticket").first.click()
    # A subject with what reads as a tag: shown as text, never as markup.
    page.get_by_label("Subject").fill("GET <bucket>/big.iso stops at 1 GiB")
    page.get_by_label("Service", exact=True).select_option("Object Storage")
    page.get_by_label("Severity").select_option("Critical")
    page.get_by_label("Description").fill("GET of a 2 GiB object stops at 1 GiB.\nSince 09:00.")
    log = tmp_path / "curl.log"
    log.write_text("curl: (18) transfer closed with 1073741824 bytes remaining\n")
    page.get_by_label("Attachments").set_input_files(str(log))
    page.get_by_role("button", name="Open ticket").click()
    expect(page.get_by_role("status")).to_contain_text("opened")
    number = re.search(r"#(\d+)", page.get_by_role("status").inner_text())
    assert number
    expect(page.get_by_role("heading", level=1)).to_have_text("GET <bucket>/big.iso stops at 1 GiB")
    expect(page.locator(".message-body").first).to_have_text(
        "GET of a 2 GiB object stops at 1 GiB.\nSince 09:00."
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="curl.log").click()
    assert Path(download.value.path()).read_text() == log.read_text()
    ticket_url = page.url

    # The operator, in a browser of their own, finds it in the queue and answers.
    operator_context = chromium.new_context(base_url=server.api_url)
    try:
        desk = Tab(operator_context.new_page(), operator_context, server)
        desk.sign_in(OPERATOR, operator_password(server))
        queue = desk.open("/support/queue")
        row = queue.get_by_role("row").filter(has_text=f"#{number.group(1)}")
        expect(row).to_contain_text("Critical")
        row.get_by_role("link").click()
        queue.get_by_label("Your reply").fill("A proxy buffer was too small; fixed.")
        queue.get_by_role("button", name="Send reply").click()
        expect(queue.get_by_role("status")).to_have_text("Reply sent.")
        queue.get_by_label("Status", exact=True).select_option("Resolved")
        queue.get_by_role("button", name="Set status").click()
        expect(queue.get_by_role("status")).to_contain_text("is now Resolved")
    finally:
        operator_context.close()

    page.goto(ticket_url)
    expect(page.locator(".message-support")).to_contain_text("A proxy buffer was too small")
    guide_screenshot(page, "support", "ticket")
    expect(page.get_by_role("link", name=re.compile("Notifications"))).to_contain_text("unread")
    page.get_by_role("button", name="Close ticket").click()
    confirm_dialog(page, "Close ticket")
    expect(page.get_by_role("status")).to_contain_text("closed")
    page.get_by_role("button", name="Reopen").click()
    expect(page.get_by_role("status")).to_contain_text("reopened")
    expect(page.get_by_text("Waiting on support")).to_be_visible()


def test_a_customer_cannot_reach_the_queue_or_another_accounts_ticket(
    tab: Tab, server: LiveServer
) -> None:
    owner = make_account(server, "owner")
    stranger = make_account(server, "stranger")
    tab.sign_in(owner)
    page = tab.open("/support/tickets/new")
    page.get_by_label("Subject").fill("Mine")
    page.get_by_label("Description").fill("Private details")
    page.get_by_role("button", name="Open ticket").click()
    expect(page.get_by_role("status")).to_contain_text("opened")
    mine = page.url
    tab.context.clear_cookies()
    tab.sign_in(stranger)
    page.goto(mine)
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("Private details")).to_have_count(0)
    page = tab.open("/support/queue")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
