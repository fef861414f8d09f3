"""Account → Limits & Quotas: the tier's limits with usage, operator overrides, tier changes
(an upgrade, and a downgrade refused by the same rule as PUT /v1/account/tier)."""

from __future__ import annotations

import itertools
import os
import re

from playwright.sync_api import Locator, Page, expect

from tests.console.conftest import Tab, api_session, make_account, owner_s3
from tests.console.guide_screenshots import guide_screenshot
from tests.live import LiveServer, nexq

_n = itertools.count()


def cells(page: Page, limit: str) -> Locator:
    """The Used, Limit and Usage cells of one limit's row."""
    return page.locator(f"#limit-{limit}").get_by_role("cell")


def test_limits_usage_override_upgrade_and_refused_downgrade(
    priced_tab: Tab, priced_server: LiveServer
) -> None:
    tab = priced_tab
    email = make_account(priced_server, "limited")
    s3 = owner_s3(priced_server, email)  # one access key
    buckets = [f"limited-{next(_n)}-{os.getpid()}" for _ in range(2)]
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=buckets[0], Key="a", Body=b"x" * 3 * 1024)
    tab.sign_in(email)
    page = tab.open("/account/limits")

    expect(page.locator("#current-tier")).to_have_text("Free")
    expect(page.get_by_role("table", name=re.compile("Limits of the Free tier"))).to_be_visible()
    expect(cells(page, "buckets")).to_have_text(["2", "10", "20.0%"])
    expect(page.get_by_role("meter", name="Buckets used")).to_have_attribute("value", "20.0")
    # Decimal units, as storage is billed and as tiers.toml sets the quota (issue 19).
    expect(cells(page, "storage_bytes").nth(0)).to_have_text("3.1 kB")
    expect(cells(page, "storage_bytes").nth(1)).to_have_text("10 GB")
    expect(page.locator("#units")).to_contain_text("1 GB = 1,000,000,000 bytes")
    expect(cells(page, "access_keys")).to_have_text(["1", "10", "10.0%"])
    expect(cells(page, "api_keys")).to_have_text(["0", "10", "0.0%"])
    for rate, value in (("s3_read_rps", "5,500"), ("s3_write_rps", "3,500"), ("api_rps", "20")):
        expect(cells(page, rate).nth(0)).to_have_text("—")
        expect(cells(page, rate).nth(1)).to_have_text(f"{value} per second")
    expect(page.get_by_text("Set by the operator", exact=True)).to_have_count(0)
    guide_screenshot(page, "account", "limits")

    # The operator lowers one limit for this account.
    nexq(
        "admin", "account", "limits", "--account", email, "--set", "buckets=3",
        data_dir=priced_server.data_dir,
    )  # fmt: skip
    page.reload()
    expect(cells(page, "buckets")).to_have_text(
        ["2", re.compile(r"^3\s*Set by the operator$"), "66.7%"]
    )
    expect(page.get_by_text("Set by the operator", exact=True)).to_have_count(1)

    # Upgrade: the tiers are listed with their limits and prices; the change is immediate.
    tiers = page.get_by_role("table", name=re.compile("^Tiers"))
    expect(tiers.get_by_role("columnheader")).to_contain_text(
        ["Free", "Developer", "Professional", "Enterprise", "Metered"]
    )
    expect(tiers.get_by_role("row").filter(has_text="Class A operations")).to_contain_text(
        "4.50 USD"
    )
    expect(page.get_by_label("Free")).to_be_checked()
    page.get_by_label("Developer").check()
    page.get_by_role("button", name="Change tier").click()
    expect(page.get_by_role("status")).to_have_text("Your service tier is now Developer.")
    expect(page.locator("#current-tier")).to_have_text("Developer")
    expect(cells(page, "access_keys")).to_have_text(["1", "50", "2.0%"])
    expect(cells(page, "buckets").nth(1)).to_contain_text("3")  # the operator's value stays

    # Eleven access keys fit Developer, not Free: the downgrade is refused, naming the limit.
    with api_session(priced_server, email) as api:
        for i in range(10):
            made = api.post("/v1/storage/access-keys", json={"label": f"k{i}", "buckets": "all"})
            assert made.status_code == 201, made.text
    page.reload()
    expect(cells(page, "access_keys").nth(0)).to_have_text("11")
    page.get_by_label("Free").check()
    page.get_by_role("button", name="Change tier").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Cannot move to Free")
    expect(alert).to_contain_text("access_keys (using 11, Free allows 10)")
    expect(alert).not_to_contain_text("buckets")  # overridden limits stay, so they fit
    expect(page.locator("#current-tier")).to_have_text("Developer")


def test_only_rates_are_checked_per_second(tab: Tab, server: LiveServer) -> None:
    """A limit with no usage to show is a rate, or a limit of each resource (repositories per
    registry, a database's replicas and backup days): only the rates read "per second"."""
    tab.sign_in(make_account(server, "rates"))
    page = tab.open("/account/limits")
    for rate, value in (("s3_read_rps", "5,500"), ("api_rps", "20"), ("registry_rps", "2,000")):
        expect(cells(page, rate)).to_have_text(["—", f"{value} per second", "Checked per second"])
    for each, value in (
        ("registry_repositories", "50"),
        ("database_replicas", "0"),
        ("database_backup_days", "7"),
    ):
        expect(cells(page, each)).to_have_text(["—", value, "Checked for each resource"])
        expect(cells(page, each).nth(0).locator("span")).to_have_attribute(
            "title", re.compile("^Each resource is checked on its own")
        )
        expect(page.locator(f"#limit-{each}")).not_to_contain_text("per second")
