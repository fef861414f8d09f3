"""The user guide at /docs in a real browser: its contents, a page as the reader sees it
(headings, tables, code), links between pages, search without JavaScript, signed out and
signed in, and what it answers for a page it does not have."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from nexq.registry.descriptor import GUIDE as REGISTRY_GUIDE
from nexq.storage.descriptor import GUIDE as STORAGE_GUIDE
from nexq.support.descriptor import GUIDE as SUPPORT_GUIDE
from tests.console.conftest import Tab

REGISTRY_PAGES = [page.title for page in REGISTRY_GUIDE.pages]


def test_the_contents_list_every_page_to_a_reader_signed_out(tab: Tab) -> None:
    page = tab.open("/docs")
    expect(page.get_by_role("heading", name="User guide", level=1)).to_be_visible()
    main = page.get_by_role("main")
    registry = main.get_by_role("region", name="Container Registry")
    expect(registry.get_by_role("listitem")).to_have_count(6)
    for title in REGISTRY_PAGES:
        expect(registry.get_by_role("link", name=title, exact=True)).to_be_visible()
    expect(main.get_by_role("link", name="Introduction to Nexq")).to_be_visible()
    # The guide's own contents in the sidebar; nothing of an account's.
    toc = page.get_by_role("navigation", name="Guide")
    for title in REGISTRY_PAGES:
        expect(toc.get_by_role("link", name=title, exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Services")).to_have_count(0)
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    expect(page.get_by_role("link", name="Back to the console")).to_have_count(0)
    expect(page.get_by_role("banner").get_by_role("link", name="Log in")).to_be_visible()
    storage = main.get_by_role("region", name="Object Storage")
    expect(storage.get_by_role("listitem")).to_have_count(len(STORAGE_GUIDE.pages))
    # Support's one page, the customer's side of tickets.
    support = main.get_by_role("region", name="Support")
    expect(support.get_by_role("listitem")).to_have_count(len(SUPPORT_GUIDE.pages))


def test_a_page_shows_its_headings_tables_and_code(tab: Tab) -> None:
    page = tab.open("/docs/registry/create-registry")
    expect(page).to_have_title("Create a registry · Guide · Nexq")
    expect(page.get_by_role("heading", name="Create a registry", level=1)).to_be_visible()
    troubleshooting = page.get_by_role("heading", name="Troubleshooting", level=2)
    expect(troubleshooting).to_have_attribute("id", "troubleshooting")
    table = page.get_by_role("table")
    expect(table.get_by_role("columnheader", name="you see")).to_be_visible()
    expect(table.get_by_role("row")).to_have_count(6)
    code = page.locator("pre > code.language-sh").first
    expect(code).to_have_text("dcp registry create team-images\n")
    # The page's own outline under its entry in the sidebar leads to its sections.
    outline = page.get_by_role("list", name="On this page")
    outline.get_by_role("link", name="Troubleshooting").click()
    expect(page).to_have_url(tab.server.api_url + "/docs/registry/create-registry#troubleshooting")
    # What speaks to the guide's test only is not shown to its reader.
    overview = tab.open("/docs/registry/overview")
    expect(overview.get_by_role("heading", name="Container Registry", level=1)).to_be_visible()
    assert "not run" not in overview.content()


def test_links_between_pages_and_to_the_next_one(tab: Tab) -> None:
    page = tab.open("/docs/registry/push-images")
    page.get_by_role("main").get_by_role("link", name="HTTPS and plain HTTP").first.click()
    expect(page).to_have_url(tab.server.api_url + "/docs/registry/overview#https-and-plain-http")
    expect(page.get_by_role("heading", name="HTTPS and plain HTTP")).to_be_in_viewport()
    toc = page.get_by_role("navigation", name="Guide")
    expect(toc.get_by_role("link", name="Overview", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    page.get_by_role("navigation", name="Previous and next page").get_by_role(
        "link", name="Next Create a registry"
    ).click()
    expect(page.get_by_role("heading", name="Create a registry", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Guide").click()
    expect(page).to_have_url(tab.server.api_url + "/docs")


def test_search_works_without_javascript(plain_tab: Tab) -> None:
    page = plain_tab.open("/docs/registry/overview")
    box = page.get_by_role("navigation", name="Guide").get_by_role("searchbox")
    box.fill("rotating a revoked credential")
    box.press("Enter")
    expect(page.get_by_role("heading", name="Search the guide")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(
        "1 page matches “rotating a revoked credential”."
    )
    first = page.locator(".guide-results > li").first
    hit = first.get_by_role("link", name=re.compile(r"^Manage credentials \W Rotate a token$"))
    expect(first.locator("mark").filter(has_text="revoked")).to_have_count(1)
    hit.click()
    expect(page).to_have_url(
        plain_tab.server.api_url + "/docs/registry/manage-credentials#rotate-a-token"
    )
    # Nonsense finds nothing, and says so.
    page = plain_tab.open("/docs/search?q=zqxj+flurble")
    expect(page.get_by_role("status")).to_contain_text("No results for “zqxj flurble”")
    expect(page.get_by_role("searchbox", name="Words to find")).to_have_value("zqxj flurble")


def test_signed_in_the_guide_keeps_the_account_and_the_console_links_to_it(
    tab: Tab, user: str
) -> None:
    tab.sign_in(user)
    page = tab.open("/storage/buckets")
    page.get_by_role("banner").get_by_role("link", name="Guide").click()
    expect(page).to_have_url(tab.server.api_url + "/docs")
    expect(page.get_by_role("banner").get_by_text(user)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.get_by_role("link", name="Back to the console").click()
    expect(page.get_by_role("navigation", name="Services")).to_be_visible()
    # A service's pages link to its own guide, not to another service's.
    expect(page.get_by_role("link", name="Container Registry guide")).to_have_count(0)
    page = tab.open("/registries")
    page.get_by_role("link", name="Container Registry guide").click()
    expect(page).to_have_url(tab.server.api_url + "/docs/registry/overview")
    expect(page.get_by_role("heading", name="Container Registry", level=1)).to_be_visible()


def test_a_page_the_guide_does_not_have_is_404_in_the_guides_layout(tab: Tab) -> None:
    for path in ("/docs/registry/no-such-page", "/docs/storage/no-such-page", "/docs/nothing"):
        answer = tab.page.goto(tab.server.api_url + path)
        assert answer is not None and answer.status == 404, path
        expect(tab.page.get_by_role("heading", name="Page not found")).to_be_visible()
        expect(tab.page.get_by_role("navigation", name="Guide")).to_be_visible()
    answer = tab.page.goto(tab.server.api_url + "/docs/registry")
    assert answer is not None and answer.status == 200
    expect(tab.page).to_have_url(tab.server.api_url + "/docs/registry/overview")


def test_a_page_shows_the_screenshot_a_console_test_made(tab: Tab) -> None:
    page = tab.open("/docs/storage/buckets")
    picture = page.get_by_role("img", name=re.compile(r"^Object Storage → Buckets"))
    picture.scroll_into_view_if_needed()
    expect(picture).to_be_visible()
    # Loaded (a picture that failed to load has no natural size), and no wider than the text.
    assert picture.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [
        True,
        1280,
        800,
    ]
    box = picture.bounding_box()
    assert (
        box is not None and box["width"] <= 880 and abs(box["width"] / box["height"] - 1.6) < 0.01
    )


def test_getting_started_leads_to_each_services_first_page_and_the_tiers(tab: Tab) -> None:
    page = tab.open("/docs/getting-started/introduction")
    start = page.locator("#where-to-start-in-each-service + p + ul")
    expect(start.get_by_role("link")).to_contain_text(
        ["Object Storage", "Account", "Service tiers", "Container Registry"]
    )
    start.get_by_role("link", name="Service tiers").click()
    expect(page).to_have_url(tab.server.api_url + "/docs/account/service-tiers")
    page.go_back()
    start.get_by_role("link", name="Container Registry").click()
    expect(page).to_have_url(tab.server.api_url + "/docs/registry/overview")
