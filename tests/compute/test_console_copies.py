"""Snapshots and backups in the console, in a browser: taken from an instance's page (a bad
name refused), daily backups set, a revert through the confirmation dialog once the instance
is stopped, the lists under Compute, and Launch Instance from a snapshot."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.compute.keys import KeyPair, ssh_answer
from tests.console.conftest import Tab, make_account
from tests.console.test_storage import confirm_dialog
from tests.live import LiveServer

BOOT_MS = 90_000  # TCG on a busy 2-core host


def _ssh_port(page: Page) -> int:
    line = page.get_by_role("textbox", name="SSH command").input_value()
    found = re.search(r"-p (\d+) ", line)
    assert found is not None, line
    return int(found.group(1))


def test_snapshots_and_backups_in_a_browser(
    tab: Tab, server: LiveServer, pairs: list[KeyPair]
) -> None:
    tab.sign_in(make_account(server, "copier"))
    page = tab.open("/compute/ssh-keys")
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_label("Public key").fill(pairs[0].public_text)
    page.get_by_role("button", name="Add Key").click()
    page = tab.open("/compute/instances/new")
    page.get_by_label("Name").fill("db-1")
    page.get_by_label("Size").select_option("nano")
    page.get_by_role("button", name="Launch Instance").click()
    status = page.locator("#instance-status")
    expect(status).to_contain_text("Running", timeout=BOOT_MS)
    port = _ssh_port(page)
    ssh_answer(pairs[0].private, port, "echo before > /data/note && sync")

    page.get_by_label("Name", exact=True).fill("Bad Name")
    page.get_by_role("button", name="Take snapshot").click()
    expect(page.get_by_role("alert")).to_contain_text("name: a snapshot name is 1 to 63")
    page.get_by_label("Name", exact=True).fill("before")
    page.get_by_role("button", name="Take snapshot").click()
    expect(page.get_by_role("status")).to_contain_text("The snapshot before is being taken")
    # The page reloads itself while the copy is made.
    snapshots = page.locator("#instance-snapshots")
    expect(snapshots).to_contain_text("Available", timeout=BOOT_MS)

    page.get_by_role("button", name="Back up now").click()
    expect(page.locator("#instance-backups")).to_contain_text("Available", timeout=BOOT_MS)
    page.get_by_label("Daily backups kept").fill("3")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Daily backups on: the newest 3 are kept.")
    expect(page.get_by_label("Daily backups kept")).to_have_value("3")

    # Revert is offered once the instance is stopped, through the dialog.
    ssh_answer(pairs[0].private, port, "echo after > /data/note && sync")
    expect(page.get_by_role("button", name="Revert db-1 to before")).to_have_count(0)
    page.get_by_role("button", name="Stop db-1").click()
    expect(status).to_contain_text("Stopped", timeout=BOOT_MS)
    page.get_by_role("button", name="Revert db-1 to before").click()
    expect(page.get_by_role("dialog")).to_contain_text("everything written since is lost")
    confirm_dialog(page, "Revert")
    expect(page.get_by_role("status")).to_contain_text("db-1 is being reverted to before")
    expect(page.locator("#instance-reason")).to_have_text(
        "Reason: Reverted to snapshot before.", timeout=BOOT_MS
    )
    page.get_by_role("button", name="Start db-1").click()
    expect(status).to_contain_text("Running", timeout=BOOT_MS)
    assert ssh_answer(pairs[0].private, port, "cat /data/note").strip() == "before"

    # The lists, and a new instance from the snapshot.
    page = tab.open("/compute/backups")
    expect(page.locator("#backups")).to_contain_text("db-1")
    page = tab.open("/compute/snapshots")
    row = page.get_by_role("row").filter(has_text="before")
    expect(row).to_contain_text("Available")
    row.get_by_role("link", name="Launch an instance from before").click()
    expect(page.locator("#launch-source")).to_contain_text("the snapshot before of db-1")
    expect(page.get_by_label("Image")).to_have_count(0)  # the snapshot's image
    page.get_by_label("Name").fill("db-2")
    page.get_by_role("button", name="Launch Instance").click()
    # The tier allows one instance: refused, and the form still launches from the snapshot.
    expect(page.get_by_role("alert")).to_contain_text("its instances limit")
    expect(page.locator("#launch-source")).to_contain_text("the snapshot before of db-1")
    # The snapshot outlives its instance.
    server_delete(tab, "db-1")
    expect(
        tab.open("/compute/instances").get_by_role("heading", name="No instances yet")
    ).to_be_visible(timeout=BOOT_MS)
    page = tab.open("/compute/instances/new?snapshot=before")
    page.get_by_label("Name").fill("db-2")
    page.get_by_role("button", name="Launch Instance").click()
    expect(page.locator("#instance-status")).to_contain_text("Running", timeout=BOOT_MS)
    assert ssh_answer(pairs[0].private, _ssh_port(page), "cat /data/note").strip() == "before"

    page = tab.open("/compute/snapshots")
    page.get_by_role("button", name="Delete before").click()
    confirm_dialog(page, "Delete")
    expect(page.get_by_role("status")).to_contain_text("The snapshot before is being deleted")
    expect(page.get_by_role("heading", name="No snapshots yet")).to_be_visible(timeout=BOOT_MS)
    server_delete(tab, "db-2")


def server_delete(tab: Tab, name: str) -> None:
    """Delete an instance through its typed-name page (the machines are not left running)."""
    page = tab.open(f"/compute/instances/{name}/delete")
    page.get_by_label(f"Type {name} to confirm").fill(name)
    page.get_by_role("button", name="Delete instance").click()
    expect(page.get_by_role("status")).to_contain_text(f"Instance {name} is being deleted")
