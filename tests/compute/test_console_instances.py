"""Compute → Instances in the console, in a browser: launch (a wrong name refused with the
input kept, the default key preselected), the page that follows the instance to Running with
its ssh line and serial console, stop and start, and the typed-name delete."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from nexq.compute.instance import IMAGES
from tests.compute.keys import KeyPair
from tests.console.conftest import Tab, make_account
from tests.console.guide_screenshots import guide_screenshot
from tests.live import LiveServer

BOOT_MS = 90_000  # TCG on a busy 2-core host


def test_instances_in_a_browser(tab: Tab, server: LiveServer, pairs: list[KeyPair]) -> None:
    email = make_account(server, "launcher")
    tab.sign_in(email)
    page = tab.open("/compute/instances")
    expect(page.get_by_role("heading", name="No instances yet")).to_be_visible()
    page.get_by_role("link", name="Launch Instance").first.click()
    expect(page.get_by_text("You have no SSH key yet")).to_be_visible()
    # The key first, from the SSH Keys page; then it is the one preselected.
    page = tab.open("/compute/ssh-keys")
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_label("Public key").fill(pairs[0].public_text)
    page.get_by_role("button", name="Add Key").click()
    page = tab.open("/compute/instances/new")
    expect(page.get_by_label("SSH key")).to_contain_text("laptop (default)")
    # An image the operator has not built yet is shown, but cannot be chosen.
    debian = page.get_by_label("Image").locator("option[value=debian-12]")
    expect(debian).to_have_text(f"{IMAGES['debian-12'].title} (not built on this host yet)")
    expect(debian).to_be_disabled()

    page.get_by_label("Name").fill("Web_1")
    page.get_by_label("Size").select_option("nano")
    page.get_by_role("button", name="Launch Instance").click()
    expect(page.get_by_role("alert")).to_contain_text("lowercase letters, digits and hyphens")
    expect(page.get_by_label("Name")).to_have_value("Web_1")
    expect(page.get_by_label("Size")).to_have_value("nano")

    page.get_by_label("Name").fill("web-1")
    page.get_by_role("button", name="Launch Instance").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Instance web-1 is launching with the key laptop."
    )
    # The page reloads itself until the machine runs, then shows the ssh line.
    status = page.locator("#instance-status")
    expect(status).to_contain_text("Running", timeout=BOOT_MS)
    expect(page.get_by_role("textbox", name="SSH command")).to_have_value(
        re.compile(r"^ssh -p \d+ root@localhost$")
    )
    expect(page.get_by_role("definition").filter(has_text="laptop")).to_be_visible()
    # The serial console's last lines: the guest's boot log, up to its SSH server.
    for _ in range(60):
        if "ssh ready" in page.locator("#instance-console").inner_text():
            break
        page.wait_for_timeout(1000)  # the page is static once Running: read it again
        page.reload()
    expect(page.locator("#instance-console")).to_contain_text("nexq-tiny: ssh ready")
    guide_screenshot(page, "compute", "instance")

    page.get_by_role("button", name="Stop web-1").click()
    expect(page.get_by_role("status")).to_contain_text("web-1 is stopping")
    expect(status).to_contain_text("Stopped", timeout=BOOT_MS)
    page.get_by_role("button", name="Start web-1").click()
    expect(status).to_contain_text("Running", timeout=BOOT_MS)

    page.get_by_role("link", name="Delete instance").click()
    page.get_by_label("Type web-1 to confirm").fill("web")
    page.get_by_role("button", name="Delete instance").click()
    expect(page.get_by_text("Type web-1 exactly to delete it.")).to_be_visible()
    page.get_by_label("Type web-1 to confirm").fill("web-1")
    page.get_by_role("button", name="Delete instance").click()
    expect(page.get_by_role("status")).to_contain_text("Instance web-1 is being deleted")
    expect(page.get_by_role("heading", name="No instances yet")).to_be_visible(timeout=BOOT_MS)
