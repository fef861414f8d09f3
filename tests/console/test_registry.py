"""The Container Registry in a real browser: create a registry (its token shown once, proven
at the registry), browse what was pushed, manage credentials, delete after typing the name."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import XSS, Tab, make_account
from tests.console.guide_screenshots import guide_screenshot, readme_screenshot
from tests.console.test_storage import confirm_dialog
from tests.live import LiveServer
from tests.oci_push import push_image, token_response

_count = iter(range(1_000_000))


def fresh_name() -> str:
    return f"web-reg-{os.getpid()}-{next(_count)}"


def create_registry(page: Page, name: str) -> tuple[str, str]:
    """Create ``name`` from the Container Registry page; its (username, token)."""
    page.goto("/registries")
    page.get_by_label("Registry name").fill(name)
    page.get_by_role("button", name="Create registry").click()
    expect(page.get_by_role("heading", name="Registry created")).to_be_visible()
    username = page.get_by_role("textbox", name="Username").input_value()
    token = page.get_by_role("textbox", name="Token").input_value()
    return username, token


@pytest.fixture
def tab_of_new_account(tab: Tab, server: LiveServer) -> Tab:
    """A browser signed in to an account of its own (Free allows two registries)."""
    tab.sign_in(make_account(server, "registry"))
    return tab


def test_create_a_registry_and_see_its_credential_once(
    tab_of_new_account: Tab, server: LiveServer
) -> None:
    tab = tab_of_new_account
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = tab.open("/registries")
    nav = page.get_by_role("navigation", name="Services")
    expect(nav.get_by_role("link", name="Container Registry")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_text("No registries yet")).to_be_visible()
    page.get_by_label("Registry name").fill("Team_Images")
    page.get_by_role("button", name="Create registry").click()
    expect(page.locator("#registry-name-error")).to_contain_text(
        "lowercase letters, digits and hyphens"
    )
    expect(page.get_by_label("Registry name")).to_have_attribute("aria-invalid", "true")

    name = fresh_name()
    username, token = create_registry(page, name)
    host = f"127.0.0.1:{server.registry_port}"
    # The one-time display is the answer to the POST itself, not a page one can return to.
    expect(page).to_have_url(re.compile(r"/registries$"))
    expect(page.get_by_role("alert")).to_contain_text("only time it is shown")
    assert username.startswith(f"{name}+") and token.startswith("nxr_")
    page.get_by_role("button", name="Copy Token").click()
    expect(page.get_by_role("button", name="Copy Token")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token
    expect(page.locator("#snippet-docker")).to_contain_text(
        f"echo '{token}' | docker login {host} --username '{username}' --password-stdin"
    )
    expect(page.locator("#snippet-docker")).to_contain_text(f"docker push {host}/{name}/app:latest")
    expect(page.locator("#snippet-github")).to_contain_text("secrets.NEXQ_REGISTRY_TOKEN")
    expect(page.locator("#snippet-github")).to_contain_text(f"registry: {host}")
    expect(page.locator("#snippet-gitlab")).to_contain_text(f"docker login {host}")
    expect(page.locator("#snippet-kubectl")).to_contain_text(f"--docker-server={host}")
    expect(page.locator("#snippet-kubectl")).to_contain_text(f"--docker-password='{token}'")
    assert token_response(server, username, token).status_code == 200
    guide_screenshot(page, "registry", "registry-created")

    # Taken names are refused across the installation.
    page.goto("/registries")
    row = page.get_by_role("row").filter(has_text=name)
    expect(row.get_by_role("cell")).to_have_text(
        [name, f"{host}/{name}", re.compile(r"^\d{4}-\d\d-\d\d "), "0 B", "Delete"]
    )
    readme_screenshot(page, "registries")
    page.get_by_label("Registry name").fill(name)
    page.get_by_role("button", name="Create registry").click()
    expect(page.locator("#registry-name-error")).to_contain_text("exists already")
    expect(page.get_by_text(token)).to_have_count(0)


def test_repositories_tags_and_deletes(tab_of_new_account: Tab, server: LiveServer) -> None:
    page = tab_of_new_account.page
    name = fresh_name()
    username, token = create_registry(page, name)
    page.get_by_role("link", name="Done, I saved the token").click()
    page.get_by_role("link", name="Repositories").click()
    expect(page.get_by_text("No repositories yet")).to_be_visible()

    v1 = push_image(server, username, token, f"{name}/frontend/web", "v1", [b"1" * 4096])
    v2 = push_image(server, username, token, f"{name}/frontend/web", "v2", [b"2" * 2048])
    push_image(server, username, token, f"{name}/api", "latest", [b"3" * 100])
    page.reload()
    expect(page.get_by_role("columnheader")).to_have_text(
        ["Repository", "Tags", "Last push", "Size"]
    )
    expect(
        page.get_by_role("row").filter(has_text="frontend/web").get_by_role("cell")
    ).to_have_text(
        ["frontend/web", "2", re.compile(r"^\d{4}-\d\d-\d\d "), re.compile(r"^\d+(\.\d)? kB$")]
    )
    expect(page.get_by_role("row").filter(has_text="api").get_by_role("cell").nth(1)).to_have_text(
        "1"
    )
    readme_screenshot(page, "registry-repositories")

    page.get_by_role("link", name="frontend/web").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("frontend/web")
    v2_row = page.get_by_role("row").filter(has_text="v2")
    expect(v2_row.get_by_role("cell").nth(1)).to_have_text(f"{v2[:19]}…")
    expect(v2_row.locator("code")).to_have_attribute("title", v2)
    expect(page.locator("#snippet-pull")).to_contain_text(f"{name}/frontend/web@")
    readme_screenshot(page, "registry-tags")

    v2_row.get_by_role("button", name="Delete tag v2").click()
    confirm_dialog(page, "Delete tag")
    expect(page.get_by_role("status")).to_have_text("Tag v2 deleted.")
    expect(page.get_by_role("row").filter(has_text="v2")).to_have_count(0)
    page.get_by_role("button", name="Delete the image of v1").click()
    confirm_dialog(page, "Delete image")
    expect(page.get_by_role("status")).to_contain_text(f"Image {v1} deleted")
    expect(page.get_by_text("No tags")).to_be_visible()
    # The emptied repository stays listed until it is deleted itself.
    page.get_by_role("button", name="Delete the repository frontend/web").click()
    confirm_dialog(page, "Delete repository")
    expect(page.get_by_role("status")).to_have_text(
        "Repository frontend/web deleted, with its images."
    )
    expect(page.get_by_role("row").filter(has_text="frontend/web")).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text="api")).to_have_count(1)


def test_credentials_add_rotate_revoke_delete(tab_of_new_account: Tab, server: LiveServer) -> None:
    page = tab_of_new_account.page
    name = fresh_name()
    username, token = create_registry(page, name)
    push_image(server, username, token, f"{name}/app", "v1", [b"x"])  # a last use to show
    page.goto(f"/registries/{name}/credentials")
    expect(page.get_by_role("columnheader")).to_have_text(
        ["Label", "Username", "Access", "Status", "Expires", "Last used", "Actions"]
    )
    default = page.get_by_role("row").filter(has_text=username).get_by_role("cell")
    expect(default).to_have_text(
        [
            "default",
            username,
            "Read-write",
            "Active",
            "Never",
            re.compile(r"^\d{4}-\d\d-\d\d "),
            re.compile(r"Rotate\s+Revoke\s+Delete"),
        ]
    )
    readme_screenshot(page, "registry-credentials")

    label = f"Cluster {XSS}"
    page.get_by_label("Label").fill(label)
    page.get_by_label("Read-only").check()
    page.get_by_label("Expires").fill("2099-01-31")
    page.get_by_role("button", name="Add credential").click()
    expect(page.get_by_role("heading", name="Credential created")).to_be_visible()
    reader = page.get_by_role("textbox", name="Username").input_value()
    reader_token = page.get_by_role("textbox", name="Token").input_value()
    expect(page.locator("dl.facts").first).to_contain_text("Read-only")
    expect(page.locator("img[src='x']")).to_have_count(0)
    assert token_response(server, reader, reader_token).status_code == 200

    page.get_by_role("link", name="Done, I saved the token").click()
    row = page.get_by_role("row").filter(has_text=reader)
    expect(row.get_by_role("cell").first).to_have_text(label)
    expect(row.get_by_role("cell").nth(4)).to_have_text("2099-01-31 00:00 UTC")
    row.get_by_role("button", name=f"Rotate {label}").click()
    confirm_dialog(page, "Rotate token")
    expect(page.get_by_role("heading", name="Token rotated")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("previous token has stopped working")
    rotated = page.get_by_role("textbox", name="Token").input_value()
    assert rotated != reader_token
    assert token_response(server, reader, reader_token).status_code == 401
    assert token_response(server, reader, rotated).status_code == 200

    page.goto(f"/registries/{name}/credentials")
    row = page.get_by_role("row").filter(has_text=reader)
    row.get_by_role("button", name=f"Revoke {label}").click()
    confirm_dialog(page, "Revoke")
    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(row.get_by_role("cell").nth(3)).to_have_text("Revoked")
    assert token_response(server, reader, rotated).status_code == 401
    row.get_by_role("button", name=f"Delete {label}").click()
    confirm_dialog(page, "Delete")
    expect(page.get_by_role("status")).to_contain_text("deleted")
    expect(page.get_by_role("row").filter(has_text=reader)).to_have_count(0)


def test_delete_a_registry_by_typing_its_name(tab_of_new_account: Tab, server: LiveServer) -> None:
    page = tab_of_new_account.page
    name = fresh_name()
    username, token = create_registry(page, name)
    page.goto(f"/registries/{name}")
    page.get_by_role("link", name="Delete registry").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Delete the registry {name}?")
    page.get_by_label(f"Type {name} to confirm").fill(name + "x")
    page.get_by_role("button", name="Delete registry").click()
    expect(page.locator("#confirm-name-error")).to_have_text(f"Type {name} exactly to delete it.")
    assert token_response(server, username, token).status_code == 200  # nothing was deleted
    page.get_by_label(f"Type {name} to confirm").fill(name)
    page.get_by_role("button", name="Delete registry").click()
    expect(page.get_by_role("status")).to_contain_text(f"Registry {name} deleted")
    expect(page.get_by_role("row").filter(has_text=name)).to_have_count(0)
    assert token_response(server, username, token).status_code == 401


def test_without_javascript_and_across_accounts(
    plain_tab: Tab, tab: Tab, server: LiveServer
) -> None:
    owner = make_account(server, "registry")
    plain_tab.sign_in(owner)
    page = plain_tab.page
    name = fresh_name()
    username, token = create_registry(page, name)
    push_image(server, username, token, f"{name}/app", "v1", [b"x"])
    page.goto(f"/registries/{name}/repositories/app")
    # No dialog without JavaScript: the server asks on a page of its own.
    page.get_by_role("button", name="Delete tag v1").click()
    expect(page.get_by_role("heading", name="Delete the tag v1?")).to_be_visible()
    page.get_by_role("button", name="Delete tag").click()
    expect(page.get_by_role("status")).to_have_text("Tag v1 deleted.")

    tab.sign_in(make_account(server, "stranger"))
    for path in (
        f"/registries/{name}",
        f"/registries/{name}/credentials",
        f"/registries/{name}/repositories/app",
        f"/registries/{name}/delete",
    ):
        other = tab.open(path)
        expect(other.get_by_role("heading", name="Not found")).to_be_visible()
        expect(other.get_by_text(username)).to_have_count(0)
