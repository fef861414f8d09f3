"""Compute → SSH Keys in the console: in a browser (add, the table, rename, set the default,
delete through the confirmation dialog, a private key refused and not shown back), and as
plain forms without JavaScript (CSRF, the confirmation page, another account's keys)."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Locator, expect

from tests.compute.keys import KeyPair, keygen_lf
from tests.console.conftest import TIMEOUT, Tab, csrf_of, make_account, session_cookie
from tests.console.test_storage import confirm_dialog
from tests.live import LiveServer

PAGE = "/compute/ssh-keys"


def test_ssh_keys_in_a_browser(tab: Tab, server: LiveServer, pairs: list[KeyPair]) -> None:
    tab.sign_in(make_account(server, "keyholder"))
    page = tab.open("/")
    nav = page.get_by_role("navigation", name="Services")
    nav.get_by_role("link", name="SSH Keys").click()
    expect(nav.get_by_role("link", name="SSH Keys")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="No SSH keys yet")).to_be_visible()

    # A private key pasted by mistake: the warning, the field empty again.
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_label("Public key").fill(pairs[0].private_text)
    page.get_by_role("button", name="Add Key").click()
    expect(page.get_by_role("alert")).to_contain_text("this is a PRIVATE key")
    expect(page.get_by_role("alert")).to_contain_text("Never upload or share a private key")
    expect(page.get_by_label("Public key")).to_have_value("")
    expect(page.get_by_label("Name", exact=True)).to_have_value("laptop")
    assert pairs[0].private_text.splitlines()[1] not in page.content()

    page.get_by_label("Public key").fill(pairs[0].public_text)
    page.get_by_role("button", name="Add Key").click()
    fingerprint = keygen_lf(pairs[0].public).split()[1]
    expect(page.get_by_role("status")).to_have_text(
        f"SSH key laptop added ({fingerprint}). It is your default key."
    )
    for name, pair in (("ci", pairs[1]), ("spare", pairs[2])):
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Public key").fill(pair.public_text)
        page.get_by_role("button", name="Add Key").click()
        expect(page.get_by_role("status")).to_contain_text(f"SSH key {name} added")
    rows = page.get_by_role("row")
    expect(rows).to_have_count(4)

    # Each row by its key's link: a text filter "ci" also matched any row whose random
    # fingerprint held those two letters (the gate failed on it once).
    def row(name: str) -> Locator:
        return rows.filter(has=page.get_by_role("link", name=name, exact=True))

    laptop = row("laptop")
    expect(laptop.get_by_role("cell").nth(1)).to_contain_text(fingerprint)
    expect(laptop.get_by_role("cell").nth(2)).to_have_text("Default")
    expect(row("ci").get_by_role("cell").nth(2)).to_have_text("No")

    # The key's page: the ssh-keygen line, and a rename.
    page.get_by_role("link", name="ci", exact=True).click()
    expect(page.locator("#key-fingerprint")).to_have_text(keygen_lf(pairs[1].public))
    page.get_by_label("Name", exact=True).fill("spare")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("alert")).to_have_text(
        "name: the account has an SSH key named 'spare' already."
    )
    page.get_by_label("Name", exact=True).fill("build")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("status")).to_have_text("SSH key renamed build.")

    page.get_by_role("button", name="Set build as the default key").click()
    expect(page.get_by_role("status")).to_have_text("build is now your default SSH key.")
    expect(row("build").get_by_role("cell").nth(2)).to_have_text("Default")

    page.get_by_role("button", name="Delete build").click()
    expect(page.get_by_role("dialog")).to_contain_text(
        "the oldest remaining key becomes the default"
    )
    confirm_dialog(page, "Delete key")
    expect(page.get_by_role("status")).to_have_text(
        "SSH key build deleted. laptop is now your default key (the oldest remaining)."
    )
    expect(page.get_by_role("row")).to_have_count(3)


def test_plain_forms_csrf_confirmation_and_another_accounts_keys(
    server: LiveServer, pairs: list[KeyPair]
) -> None:
    owner, other = make_account(server, "plain"), make_account(server, "nosy")
    with httpx.Client(
        base_url=server.api_url,
        cookies={"nexq_session": session_cookie(server, owner)},
        timeout=TIMEOUT,
    ) as browser:
        form = {"name": "laptop", "public_key": pairs[0].public_text}
        refused = browser.post(PAGE, data=form)
        assert refused.status_code == 403 and "came from another site" in refused.text
        token = csrf_of(browser.get(PAGE).text)
        made = browser.post(PAGE, data={**form, "csrf_token": token})
        assert made.status_code == 303 and made.headers["location"] == PAGE
        listed = browser.get(PAGE).text
        assert "SSH key laptop added" in listed
        # The page links to its guide, which the console serves.
        assert 'href="/docs/compute/overview"' in listed  # the Compute guide's first page
        guide = browser.get("/docs/compute/manage-ssh-keys")
        assert guide.status_code == 200 and "<h1" in guide.text and "Manage SSH keys" in guide.text
        match = re.search(r'action="(/compute/ssh-keys/([0-9a-f]+))/delete"', listed)
        assert match
        key_url, key_id = match.groups()
        # A mistake keeps what was typed (a public key is no secret) and names the problem.
        bad = browser.post(
            PAGE, data={"name": "x", "public_key": "ssh-rsa AAAA", "csrf_token": token}
        )
        assert bad.status_code == 400 and "ssh-rsa AAAA</textarea>" in bad.text
        assert "not valid base64" in bad.text or "damaged" in bad.text
        # Without the dialog (no script), deleting asks on a page of its own first.
        asked = browser.post(f"{key_url}/delete", data={"csrf_token": token})
        assert asked.status_code == 200 and "Delete the SSH key laptop?" in asked.text
        assert "the oldest remaining key becomes the default" in asked.text
        assert "laptop" in browser.get(PAGE).text
        assert browser.get(key_url).status_code == 200

    with httpx.Client(
        base_url=server.api_url,
        cookies={"nexq_session": session_cookie(server, other)},
        timeout=TIMEOUT,
    ) as nosy:
        token = csrf_of(nosy.get(PAGE).text)
        assert key_id not in nosy.get(PAGE).text and "No SSH keys yet" in nosy.get(PAGE).text
        assert nosy.get(key_url).status_code == 404
        for action, data in (
            ("/rename", {"name": "mine"}),
            ("/default", {}),
            ("/delete", {"confirm": "yes"}),
        ):
            answer = nosy.post(f"{key_url}{action}", data={**data, "csrf_token": token})
            assert answer.status_code == 404, action

    with httpx.Client(
        base_url=server.api_url,
        cookies={"nexq_session": session_cookie(server, owner)},
        timeout=TIMEOUT,
    ) as browser:
        token = csrf_of(browser.get(PAGE).text)
        gone = browser.post(f"{key_url}/delete", data={"confirm": "yes", "csrf_token": token})
        assert gone.status_code == 303
        after = browser.get(PAGE).text
        assert "SSH key laptop deleted. You have no SSH key left: add one." in after
        assert key_id not in after
