"""Billing's forms and navigation: payment methods (the card number never comes back), the
budget form, empty states, CSRF and markup shown as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
from playwright.sync_api import Page, expect

from tests.console.conftest import TIMEOUT, XSS, Tab, csrf_of, make_account, session_cookie
from tests.live import LiveServer

VISA = "4242 4242 4242 4242"
MASTERCARD = "5555 5555 5555 4444"
YEAR = str(datetime.now(UTC).year + 2)


def no_card_numbers(page: Page) -> None:
    html = page.content()
    for number in (VISA, MASTERCARD, "4242 4242 4242 4241"):
        assert number not in html and number.replace(" ", "") not in html


def fill_card(page: Page, number: str, month: str, holder: str) -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Month").select_option(month)
    page.get_by_label("Year").fill(YEAR)
    page.get_by_label("Name on the card").fill(holder)
    page.get_by_role("button", name="Add card").click()


def test_payment_methods_add_refuse_default_edit_remove(tab: Tab, server: LiveServer) -> None:
    tab.sign_in(make_account(server, "cardholder"))
    page = tab.open("/billing/payment-methods")
    expect(page.get_by_role("heading", name="No payment methods yet")).to_be_visible()
    page.get_by_role("link", name="Add a card").first.click()
    fill_card(page, VISA, "12", "Ada Lovelace")
    expect(page.get_by_role("status")).to_have_text(
        "Visa •••• 4242 added. It is your default payment method."
    )
    visa = page.get_by_role("row").filter(has_text="Visa •••• 4242")
    expect(visa.get_by_role("rowheader")).to_have_text("Visa •••• 4242 Default")
    expect(visa.get_by_role("cell").nth(0)).to_have_text(f"12/{YEAR}")
    expect(visa.get_by_role("cell").nth(1)).to_have_text("Ada Lovelace")
    no_card_numbers(page)

    # A mistake: the message, the other fields kept, the number field empty.
    page.get_by_role("link", name="Add a card").click()
    fill_card(page, "4242 4242 4242 4241", "3", "Ada L")
    expect(page.get_by_role("alert")).to_have_text("number: not a valid card number.")
    expect(page.get_by_label("Card number")).to_have_value("")
    expect(page.get_by_label("Name on the card")).to_have_value("Ada L")
    expect(page.get_by_label("Month")).to_have_value("3")
    no_card_numbers(page)
    page.get_by_label("Card number").fill(MASTERCARD)
    page.get_by_role("button", name="Add card").click()
    expect(page.get_by_role("status")).to_have_text("Mastercard •••• 4444 added.")
    mastercard = page.get_by_role("row").filter(has_text="Mastercard •••• 4444")
    expect(mastercard.get_by_role("rowheader")).to_have_text("Mastercard •••• 4444")
    no_card_numbers(page)

    mastercard.get_by_role("button", name="Make Mastercard •••• 4444 the default").click()
    expect(page.get_by_role("status")).to_have_text(
        "Mastercard •••• 4444 is now your default payment method."
    )
    expect(mastercard.get_by_role("rowheader")).to_have_text("Mastercard •••• 4444 Default")
    expect(visa.get_by_role("rowheader")).to_have_text("Visa •••• 4242")

    visa.get_by_role("link", name="Edit Visa •••• 4242").click()
    expect(page.get_by_role("heading", name="Edit Visa •••• 4242")).to_be_visible()
    expect(page.get_by_label("Month")).to_have_value("12")
    page.get_by_label("Year").fill("1999")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("exp_year: the card has expired")
    page.get_by_label("Month").select_option("6")
    page.get_by_label("Year").fill(YEAR)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Visa •••• 4242 updated.")
    expect(visa.get_by_role("cell").nth(0)).to_have_text(f"06/{YEAR}")

    visa.get_by_role("button", name="Remove Visa •••• 4242").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Remove Visa •••• 4242?")
    dialog.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_have_text("Visa •••• 4242 removed.")
    expect(page.get_by_role("row").filter(has_text="••••")).to_have_count(1)
    expect(visa).to_have_count(0)
    no_card_numbers(page)


def test_navigation_and_empty_states(tab: Tab, server: LiveServer) -> None:
    tab.sign_in(make_account(server, "newpayer"))
    page = tab.open("/billing")
    expect(page).to_have_url(re.compile(r"/billing/overview$"))
    nav = page.get_by_role("navigation", name="Services")
    expect(nav.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Limits & Quotas")).to_be_visible()
    expect(page.locator("#total")).to_have_text("0.00 USD")
    expect(page.get_by_role("heading", name="No charges yet this month")).to_be_visible()
    for link, heading in (
        ("Invoices", "No invoices yet"),
        ("Payment methods", "No payment methods yet"),
        ("Budget & alerts", "Notifications"),
    ):
        nav.get_by_role("link", name=link).click()
        expect(nav.get_by_role("link", name=link)).to_have_attribute("aria-current", "page")
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.get_by_text("No notifications yet. Set a budget above")).to_be_visible()
    expect(page.get_by_label("Thresholds (%)")).to_have_value("50, 80, 100")
    page.get_by_label("Amount (USD)").fill("twenty")
    page.get_by_role("button", name="Set budget").click()
    expect(page.get_by_role("alert")).to_have_text("amount: a decimal number such as 25.00.")
    expect(page.get_by_label("Amount (USD)")).to_have_value("twenty")
    page.get_by_label("Amount (USD)").fill("20")
    page.get_by_label("Thresholds (%)").fill("50, lots")
    page.get_by_role("button", name="Set budget").click()
    expect(page.get_by_role("alert")).to_contain_text("thresholds: whole percentages")
    page.get_by_label("Thresholds (%)").fill("75%, 100%")
    page.get_by_role("button", name="Set budget").click()
    expect(page.get_by_role("status")).to_contain_text("you are notified at 75%, 100%")
    expect(page.get_by_label("Amount (USD)")).to_have_value("20")
    expect(page.locator("#spent")).to_have_text("0.00 USD of 20.00 USD")
    page.get_by_role("button", name="Remove budget").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove budget").click()
    expect(page.get_by_role("status")).to_have_text("Budget removed.")
    expect(page.get_by_label("Amount (USD)")).to_have_value("")
    nav.get_by_role("link", name="Limits & Quotas").click()
    expect(page.locator("#current-tier")).to_have_text("Free")  # every new account's tier


def test_billing_forms_need_the_csrf_token_and_show_markup_as_text(
    tab: Tab, server: LiveServer
) -> None:
    email = make_account(server, "forged")
    hook = "https://hooks.example/" + XSS
    with httpx.Client(
        base_url=server.api_url,
        cookies={"nexq_session": session_cookie(server, email)},
        timeout=TIMEOUT,
    ) as browser:
        card = {"number": VISA, "exp_month": "1", "exp_year": YEAR, "holder": XSS}
        # The service checks the email's form, so markup rides in through the webhook URL.
        budget = {"amount": "5.00", "thresholds": "50", "email": "", "webhook_url": hook}
        for path, form in (("/billing/payment-methods", card), ("/billing/budget", budget)):
            refused = browser.post(path, data=form)
            assert refused.status_code == 403 and "came from another site" in refused.text
        refused = browser.post("/billing/notifications/read")
        assert refused.status_code == 403
        assert "No budget yet" in browser.get("/billing/budget").text
        assert "No payment methods yet" in browser.get("/billing/payment-methods").text
        token = csrf_of(browser.get("/billing/budget").text)
        for path, form in (("/billing/payment-methods", card), ("/billing/budget", budget)):
            assert browser.post(path, data={**form, "csrf_token": token}).status_code == 303
        # Without the dialog (no script), removing asks on a page of its own first.
        listed = browser.get("/billing/payment-methods").text
        match = re.search(r'action="(/billing/payment-methods/[0-9a-f]+/delete)"', listed)
        assert match
        asked = browser.post(match.group(1), data={"csrf_token": token})
        assert asked.status_code == 200 and "Remove Visa •••• 4242?" in asked.text
        assert "Visa •••• 4242" in browser.get("/billing/payment-methods").text

    tab.sign_in(email)
    page = tab.open("/billing/budget")
    expect(page.locator("#budget-webhook")).to_have_text(hook)
    expect(page.get_by_label("Webhook URL")).to_have_value(hook)
    expect(page.locator("img[src='x']")).to_have_count(0)
    page = tab.open("/billing/payment-methods")
    expect(page.get_by_role("cell", name=XSS, exact=True)).to_be_visible()
    expect(page.locator("img[src='x']")).to_have_count(0)


def test_budget_form_refuses_a_webhook_to_an_internal_address(tab: Tab, server: LiveServer) -> None:
    """The console server allows no internal webhook targets (no NEXQ_WEBHOOK_ALLOW)."""
    tab.sign_in(make_account(server, "ssrf"))
    page = tab.open("/billing/budget")
    page.get_by_label("Amount (USD)").fill("20")
    for url, says in (
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        (f"http://127.0.0.1:{server.api_port}/v1/account", "127.0.0.1 is a loopback address"),
        ("http://localhost:8080/", "localhost is a loopback name"),
    ):
        page.get_by_label("Webhook URL").fill(url)
        page.get_by_role("button", name="Set budget").click()
        expect(page.get_by_role("alert")).to_have_text(
            f"webhook_url: {says}; Nexq only posts to public addresses."
        )
        expect(page.get_by_label("Webhook URL")).to_have_value(url)
    expect(page.get_by_text("No notifications yet. Set a budget above")).to_be_visible()
    assert "No budget yet" in page.content()
