"""Databases in a real browser: create one through the form (the owner's password shown once),
follow it to Running on its self-refreshing page, connect with psycopg over verified TLS
using what the page shows and the CA it offers, reset the password, see refusals on the form,
delete after typing the name; the same without JavaScript, and out of another account's
reach."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import TIMEOUT, Tab, csrf_of, make_account
from tests.console.test_storage import confirm_dialog
from tests.live import LiveServer

_count = iter(range(1_000_000))
# Running comes 2-3 s after create on an idle machine; a loaded CI machine takes longer.
RUNNING_WITHIN_MS = 60_000


def fresh_name() -> str:
    return f"web-db-{os.getpid()}-{next(_count)}"


def database_account(server: LiveServer) -> str:
    """An account with the Databases limits raised above the Free tier's one micro database."""
    email = make_account(server, "databases")
    server.raise_limits(
        email,
        databases=5,
        database_vcpus=10,
        database_memory_bytes="unlimited",
        database_storage_bytes="unlimited",
    )
    return email


def create_database(page: Page, name: str, plan: str = "micro") -> str:
    """Create ``name`` through Create Database; the owner's password it shows once."""
    page.goto("/databases/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Plan").select_option(plan)
    page.get_by_role("button", name="Create Database").click()
    expect(page.get_by_role("heading", name="Database created")).to_be_visible()
    return page.get_by_role("textbox", name="Password").input_value()


def shown(page: Page) -> dict[str, Any]:
    """The connection details as the database's page shows them."""
    return {
        "host": page.locator("#connection-host").inner_text(),
        "port": int(page.locator("#connection-port").inner_text()),
        "dbname": page.locator("#connection-database").inner_text(),
        "user": page.locator("#connection-user").inner_text(),
    }


def connect(details: dict[str, Any], password: str, ca: Path) -> psycopg.Connection[Any]:
    return psycopg.connect(
        **details,
        password=password,
        sslmode="verify-full",
        sslrootcert=str(ca),
        connect_timeout=10,
        autocommit=True,
    )


def wait_running(page: Page) -> None:
    """The page reloads itself while the database is on its way: no reload from here."""
    status = page.locator("#database-status .badge")
    expect(status).to_have_text("Running", timeout=RUNNING_WITHIN_MS)


@pytest.fixture
def account_tab(tab: Tab, server: LiveServer) -> Tab:
    tab.sign_in(database_account(server))
    return tab


def test_create_connect_reset_and_delete(
    account_tab: Tab, server: LiveServer, tmp_path: Path
) -> None:
    page = account_tab.open("/databases")
    nav = page.get_by_role("navigation", name="Services")
    expect(nav.get_by_role("link", name="Databases")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="No databases yet")).to_be_visible()
    page.get_by_role("link", name="Create Database").click()
    expect(page).to_have_url(re.compile(r"/databases/new$"))
    expect(page.get_by_label("Plan").locator("option")).to_contain_text(
        ["Micro — 1 vCPU · 512 MiB memory · 1 GiB storage", "Small — 1 vCPU · 1 GiB memory"]
    )
    expect(page.get_by_label("High availability")).to_be_disabled()
    expect(page.get_by_text("not available yet")).to_be_visible()
    expect(page.get_by_label("Automated backups")).to_be_checked()

    name = fresh_name()
    password = create_database(page, name)
    assert len(password) >= 24
    # Shown in the answer to the POST itself: no address carries it, no page to return to.
    expect(page).to_have_url(re.compile(r"/databases$"))
    expect(page.get_by_role("alert")).to_contain_text("only time it is shown")
    page.get_by_role("link", name="Done, I saved the password").click()
    expect(page).to_have_url(re.compile(rf"/databases/{name}$"))
    assert password not in page.content()
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    assert password not in page.content()

    wait_running(page)
    details = shown(page)
    # A loopback server names its databases' host localhost (the name their certificate has).
    assert details["host"] == "localhost" and details["port"] in server.database_ports
    assert (details["dbname"], details["user"]) == (name.replace("-", "_"), "dbadmin")
    facts = page.get_by_role("region", name="Configuration")
    expect(facts).to_contain_text("PostgreSQL 15")
    expect(facts).to_contain_text("Micro (1 vCPU · 512 MiB memory · 1 GiB storage)")
    expect(facts).to_contain_text("High availabilityOff (not available yet)")
    expect(facts).to_contain_text("Automated backupsOn")
    uri = (
        f"postgresql://dbadmin@localhost:{details['port']}/{details['dbname']}"
        "?sslmode=verify-full&sslrootcert=nexq-databases-ca.pem"
    )
    expect(page.locator("#snippet-uri")).to_have_text(uri)
    expect(page.locator("#snippet-psql")).to_have_text(f'psql "{uri}"')
    expect(page.get_by_role("row").filter(has_text=f"{name}-1").get_by_role("cell")).to_have_text(
        [f"{name}-1", "Primary", "Running", "—"]
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download nexq-databases-ca.pem").click()
    assert download.value.suggested_filename == "nexq-databases-ca.pem"
    ca = tmp_path / "nexq-databases-ca.pem"
    download.value.save_as(ca)
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    with connect(details, password, ca) as session:
        assert session.execute("select 1").fetchone() == (1,)

    page.goto("/databases/new")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create Database").click()
    expect(page.locator("#database-name-error")).to_contain_text(
        f"the account has a database named '{name}'"
    )

    page.goto(f"/databases/{name}")
    page.get_by_role("button", name="Reset password").click()
    confirm_dialog(page, "Reset password")
    expect(page.get_by_role("heading", name="Password reset")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("previous password has stopped working")
    new_password = page.get_by_role("textbox", name="Password").input_value()
    assert new_password != password
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(details, password, ca).close()
    with connect(details, new_password, ca) as session:
        assert session.execute("select 1").fetchone() == (1,)

    page.goto(f"/databases/{name}")
    page.get_by_role("link", name="Delete database").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Delete the database {name}?")
    page.get_by_label(f"Type {name} to confirm").fill(name + "x")
    page.get_by_role("button", name="Delete database").click()
    expect(page.locator("#confirm-name-error")).to_have_text(f"Type {name} exactly to delete it.")
    with connect(details, new_password, ca) as session:  # nothing was deleted
        assert session.execute("select 1").fetchone() == (1,)
    page.get_by_label(f"Type {name} to confirm").fill(name)
    page.get_by_role("button", name="Delete database").click()
    expect(page.get_by_role("status")).to_contain_text(f"Database {name} is being deleted")
    # The list reloads itself until the database has gone.
    expect(page.get_by_role("row").filter(has_text=name)).to_have_count(0, timeout=30_000)
    expect(page.get_by_role("heading", name="No databases yet")).to_be_visible()
    with pytest.raises(psycopg.OperationalError):
        connect(details, new_password, ca).close()
    expect(
        account_tab.open(f"/databases/{name}").get_by_role("heading", name="Not found")
    ).to_be_visible()


def test_refusals_are_shown_on_the_form_with_the_input_kept(tab: Tab, server: LiveServer) -> None:
    tab.sign_in(make_account(server, "free-databases"))  # the Free tier: micro only
    page = tab.open("/databases/new")
    page.get_by_label("Name").fill("Orders_DB")
    page.get_by_role("button", name="Create Database").click()
    expect(page.locator("#database-name-error")).to_contain_text(
        "'Orders_DB': 3 to 63 lowercase letters, digits and hyphens"
    )
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_have_value("Orders_DB")

    page.get_by_label("Name").fill("orders")
    page.get_by_label("Plan").select_option("small")
    page.get_by_label("Automated backups").uncheck()
    page.get_by_role("button", name="Create Database").click()
    expect(page.locator("#database-plan-error")).to_contain_text(
        "plan: small needs 1024 MiB of memory; the account's databases hold 0 of its limit of 512"
    )
    expect(page.get_by_label("Name")).to_have_value("orders")
    expect(page.get_by_label("Plan")).to_have_value("small")
    expect(page.get_by_label("Automated backups")).not_to_be_checked()
    page.goto("/databases")
    expect(page.get_by_role("heading", name="No databases yet")).to_be_visible()


def test_without_javascript_and_across_accounts(
    plain_tab: Tab, tab: Tab, server: LiveServer
) -> None:
    plain_tab.sign_in(make_account(server, "plain-databases"))  # Free: one micro database
    page = plain_tab.page
    name = fresh_name()
    password = create_database(page, name)
    page.get_by_role("link", name="Done, I saved the password").click()
    wait_running(page)  # the Refresh header reloads it: no script is needed
    page.goto("/databases")
    expect(page.get_by_role("row").filter(has_text=name).get_by_role("cell")).to_have_text(
        [name, "Running", "PostgreSQL 15", "Micro", "Off", re.compile(r"^\d{4}-\d\d-\d\d ")]
    )

    # The Free tier's one database is there: a second is refused, the limit named.
    page.goto("/databases/new")
    page.get_by_label("Name").fill(name + "-2")
    page.get_by_role("button", name="Create Database").click()
    expect(page.locator("#form-error")).to_contain_text("its databases limit")
    expect(page.locator("#form-error").get_by_role("link", name="See your limits")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value(name + "-2")

    # No dialog without JavaScript: the server asks on a page of its own.
    page.goto(f"/databases/{name}")
    page.get_by_role("button", name="Reset password").click()
    expect(page.get_by_role("heading", name=f"Reset the password of {name}?")).to_be_visible()
    page.get_by_role("button", name="Reset password").click()
    expect(page.get_by_role("heading", name="Password reset")).to_be_visible()
    assert page.get_by_role("textbox", name="Password").input_value() != password

    # A form from another site (no CSRF token) changes nothing.
    session = {c["name"]: c["value"] for c in plain_tab.context.cookies()}["nexq_session"]
    with httpx.Client(
        base_url=server.api_url, cookies={"nexq_session": session}, timeout=TIMEOUT
    ) as forger:
        for path, form in (
            (f"/databases/{name}/delete", {"confirm_name": name}),
            (f"/databases/{name}/reset-password", {"confirm": "yes"}),
            ("/databases", {"name": "forged", "plan": "micro"}),
        ):
            assert forger.post(path, data=form).status_code == 403, path
        csrf = csrf_of(forger.get(f"/databases/{name}").text)
        kept = forger.post(f"/databases/{name}/delete", data={"csrf_token": csrf})
        assert kept.status_code == 200  # the page asking for the name, nothing deleted

    tab.sign_in(make_account(server, "stranger"))
    for path in (f"/databases/{name}", f"/databases/{name}/delete"):
        other = tab.open(path)
        expect(other.get_by_role("heading", name="Not found")).to_be_visible()
    other = tab.open("/databases")
    expect(other.get_by_role("heading", name="No databases yet")).to_be_visible()
    for action in ("delete", "reset-password"):
        answer = other.request.post(
            f"/databases/{name}/{action}",
            form={"confirm": "yes", "confirm_name": name, "csrf_token": csrf_of(other.content())},
        )
        assert answer.status == 404, action

    page.goto(f"/databases/{name}/delete")
    page.get_by_label(f"Type {name} to confirm").fill(name)
    page.get_by_role("button", name="Delete database").click()
    expect(page.get_by_role("status")).to_contain_text(f"Database {name} is being deleted")
    expect(page.get_by_role("row").filter(has_text=name)).to_have_count(0, timeout=30_000)
