"""Databases in a real browser: create one through the form (the owner's password shown once),
follow it to Running on its self-refreshing page, connect with psycopg over verified TLS
using what the page shows and the CA it offers, reset the password, see refusals on the form,
delete after typing the name; the same without JavaScript, and out of another account's
reach. Backups without JavaScript: the history and recovery window on the Backups tab,
Back up now, and Restore from Backup into a new database that holds what the source had."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Locator, Page, expect

from nexq.core.errors import Invalid
from nexq.databases.console import ago, parse_utc, took, utc_text
from tests.console.conftest import TIMEOUT, Tab, csrf_of, make_account
from tests.console.guide_screenshots import guide_screenshot
from tests.console.test_storage import confirm_dialog
from tests.live import LiveServer

_count = iter(range(1_000_000))
# Running comes 2-3 s after create on an idle machine; a loaded CI machine takes longer.
RUNNING_WITHIN_MS = 60_000
# A database is deleted once a backup it is in ends (backups go one at a time).
DELETED_WITHIN_MS = 120_000


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
        database_replicas=2,
    )
    return email


def create_database(page: Page, name: str, plan: str = "micro", replicas: int = 0) -> str:
    """Create ``name`` through Create Database; the owner's password it shows once."""
    page.goto("/databases/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Plan").select_option(plan)
    if replicas:
        page.get_by_label("High availability").select_option(str(replicas))
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


def wait_running(page: Page, within_ms: int = RUNNING_WITHIN_MS) -> None:
    """The page reloads itself while the database is on its way: no reload from here."""
    status = page.locator("#database-status .badge")
    expect(status).to_have_text("Running", timeout=within_ms)


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
    expect(page.get_by_label("High availability")).to_have_value("0")
    expect(page.get_by_label("High availability").locator("option")).to_have_text(
        ["Off: one server", "On: a primary and 1 replica", "On: a primary and 2 replicas"]
    )
    expect(page.get_by_label("Synchronous commits")).to_be_checked()
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
    expect(facts).to_contain_text("High availabilityOff")
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
    guide_screenshot(page, "databases", "database")
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
    expect(page.get_by_role("row").filter(has_text=name)).to_have_count(
        0, timeout=DELETED_WITHIN_MS
    )
    expect(page.get_by_role("heading", name="No databases yet")).to_be_visible()
    with pytest.raises(psycopg.OperationalError):
        connect(details, new_password, ca).close()
    expect(
        account_tab.open(f"/databases/{name}").get_by_role("heading", name="Not found")
    ).to_be_visible()


def test_high_availability_shows_the_primary_and_its_replica(account_tab: Tab) -> None:
    name = fresh_name()
    create_database(account_tab.page, name, replicas=1)
    page = account_tab.page
    page.get_by_role("link", name="Done, I saved the password").click()
    wait_running(page, RUNNING_WITHIN_MS * 2)
    facts = page.get_by_role("region", name="Configuration")
    expect(facts).to_contain_text("High availabilityOn (1 replica) (synchronous commits)")
    nodes = page.get_by_role("table", name=f"Nodes of {name}").locator("tbody tr")
    expect(nodes).to_have_count(2)
    # The primary first: either node, the one that won the race to make the cluster.
    expect(nodes.nth(0)).to_have_accessible_name(re.compile(rf"^{name}-[12] Primary Running"))
    # The replica confirms every commit: the one a failover promotes.
    expect(nodes.nth(1)).to_have_accessible_name(
        re.compile(rf"^{name}-[12] Replica \(synchronous\) Running")
    )
    page.get_by_role("link", name="Delete database").click()
    page.get_by_label(f"Type {name} to confirm").fill(name)
    page.get_by_role("button", name="Delete database").click()
    expect(page.get_by_role("row").filter(has_text=name)).to_have_count(
        0, timeout=DELETED_WITHIN_MS
    )


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
            (f"/databases/{name}/backups", {}),
            ("/databases", {"name": "forged", "plan": "micro"}),
            ("/databases", {"name": "forged", "plan": "micro", "mode": "restore", "source": name}),
        ):
            assert forger.post(path, data=form).status_code == 403, path
        csrf = csrf_of(forger.get(f"/databases/{name}").text)
        kept = forger.post(f"/databases/{name}/delete", data={"csrf_token": csrf})
        assert kept.status_code == 200  # the page asking for the name, nothing deleted

    tab.sign_in(make_account(server, "stranger"))
    for path in (f"/databases/{name}", f"/databases/{name}/delete", f"/databases/{name}/backups"):
        other = tab.open(path)
        expect(other.get_by_role("heading", name="Not found")).to_be_visible()
    # Another account's database is no source to restore from, nor named on the form.
    other = tab.open(f"/databases/new?mode=restore&source={name}")
    expect(other.get_by_role("heading", name="No database to restore from yet")).to_be_visible()
    assert name not in other.content()
    other = tab.open("/databases")
    expect(other.get_by_role("heading", name="No databases yet")).to_be_visible()
    stolen = other.request.post(
        "/databases",
        form={
            "mode": "restore",
            "source": name,
            "name": "stolen",
            "plan": "micro",
            "csrf_token": csrf_of(other.content()),
        },
    )
    assert stolen.status == 400
    assert f"The account has no database named '{name}'." in html.unescape(stolen.text())
    for action in ("delete", "reset-password", "backups"):
        answer = other.request.post(
            f"/databases/{name}/{action}",
            form={"confirm": "yes", "confirm_name": name, "csrf_token": csrf_of(other.content())},
        )
        assert answer.status == 404, action

    page.goto(f"/databases/{name}/delete")
    page.get_by_label(f"Type {name} to confirm").fill(name)
    page.get_by_role("button", name="Delete database").click()
    expect(page.get_by_role("status")).to_contain_text(f"Database {name} is being deleted")
    expect(page.get_by_role("row").filter(has_text=name)).to_have_count(
        0, timeout=DELETED_WITHIN_MS
    )


# ------------------------------------------------------------------------ backups, restore

# The first full backup is taken within ~5 s of Running, one asked for within ~5 s; a
# restored database is Running in ~10-20 s. A loaded CI machine takes longer: backups are
# taken one at a time and write to Nexq's own S3, whose fsyncs wait on the other suite's disk
# writes (a backup took over 60 s in CI once, when pgBackRest still stored each file apart).
BACKUP_WITHIN_MS = 120_000
RESTORED_WITHIN_MS = 120_000
UTC_SECOND = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")


def ca_of(page: Page, folder: Path) -> Path:
    """The CA certificate the console offers, saved as a client keeps it."""
    answer = page.request.get("/databases/nexq-databases-ca.pem")
    assert answer.ok, answer.status
    path = folder / "nexq-databases-ca.pem"
    path.write_bytes(answer.body())
    return path


def history_rows(page: Page, kind: str) -> Locator:
    """The rows of the backup history whose Type is ``kind`` (FULL or WAL)."""
    rows = page.locator("#backup-history tbody tr")
    return rows.filter(has=page.get_by_role("cell", name=kind, exact=True))


def delete_database(page: Page, name: str) -> None:
    page.goto(f"/databases/{name}/delete")
    page.get_by_label(f"Type {name} to confirm").fill(name)
    page.get_by_role("button", name="Delete database").click()
    expect(page.get_by_role("status")).to_contain_text(f"Database {name} is being deleted")


def test_back_up_now_and_restore_from_backup_without_javascript(
    plain_tab: Tab, server: LiveServer, tmp_path: Path
) -> None:
    plain_tab.sign_in(database_account(server))
    page = plain_tab.page
    name = fresh_name()
    password = create_database(page, name)
    page.get_by_role("link", name="Done, I saved the password").click()

    # While the first backup is on its way: a database without backups has none to show and
    # none to restore from.
    plain = f"{name}-plain"
    page.goto("/databases/new")
    page.get_by_label("Name").fill(plain)
    page.get_by_label("Automated backups").uncheck()
    page.get_by_role("button", name="Create Database").click()
    expect(page.get_by_role("heading", name="Database created")).to_be_visible()
    page.goto(f"/databases/{plain}")
    page.get_by_role("navigation", name="Database").get_by_role("link", name="Backups").click()
    expect(page).to_have_url(re.compile(rf"/databases/{plain}/backups$"))
    expect(page.get_by_role("heading", name="Automated backups are off")).to_be_visible()
    expect(page.get_by_role("button", name="Back up now")).to_have_count(0)
    page.goto(f"/databases/new?mode=restore&source={plain}")
    expect(page.get_by_label("Source database")).to_have_value(plain)
    expect(page.locator("#restore-source-help")).to_contain_text(
        f"{plain} cannot be restored from: its automated backups are off."
    )
    page.get_by_label("Name").fill(f"{name}-copy")
    page.get_by_role("button", name="Restore Database").click()
    expect(page.locator("#restore-source-error")).to_have_text(
        f"'{plain}' has no backups (automated backups are off)."
    )
    expect(page.get_by_label("Name")).to_have_value(f"{name}-copy")
    expect(page.get_by_label("Source database")).to_have_value(plain)
    delete_database(page, plain)

    page.goto(f"/databases/{name}")
    wait_running(page)
    details = shown(page)
    ca = ca_of(page, tmp_path)
    with connect(details, password, ca) as session:
        session.execute("CREATE TABLE orders (id int, item text)")
        session.execute("INSERT INTO orders VALUES (1, 'written before the restore')")

    page.get_by_role("navigation", name="Database").get_by_role("link", name="Backups").click()
    expect(page).to_have_url(re.compile(rf"/databases/{name}/backups$"))
    # The page reloads itself until the first full backup is there: no reload from here.
    expect(history_rows(page, "FULL")).to_have_count(1, timeout=BACKUP_WITHIN_MS)
    first = history_rows(page, "FULL").first
    expect(first.get_by_role("cell")).to_have_text(
        [
            re.compile(r"^\d{8}-\d{6}F$"),
            "FULL",
            re.compile(r"^(just now|\d+ (second|minute)s? ago)$"),
            re.compile(r"^\d+(\.\d)? (B|kB|MB|GB)$"),  # decimal, as billed
            re.compile(r"^\d+\.\d s$"),
        ]
    )
    taken = first.locator("time").get_attribute("title") or ""
    assert UTC_SECOND.match(taken), taken
    # The window opens the second after the first full backup stopped.
    opens = parse_utc(taken.removesuffix(" UTC").replace(" ", "T")) + 1
    expect(page.locator("#recovery-oldest")).to_have_text(utc_text(opens))
    expect(page.locator("#recovery-latest")).to_have_text(UTC_SECOND)
    assert page.locator("#recovery-latest").inner_text() >= taken

    page.get_by_role("button", name="Back up now").click()
    expect(page).to_have_url(re.compile(rf"/databases/{name}/backups$"))
    expect(page.locator(".flash")).to_contain_text(f"Backup requested: a full backup of {name}")
    expect(history_rows(page, "FULL")).to_have_count(2, timeout=BACKUP_WITHIN_MS)
    expect(history_rows(page, "WAL").get_by_role("cell")).to_have_text(
        ["continuous", "WAL", re.compile(r" ago$|^just now$"), "—", "Continuous"]
    )

    page.get_by_role("link", name="Restore to a new database").click()
    expect(page).to_have_url(re.compile(rf"/databases/new\?mode=restore&source={name}$"))
    modes = page.get_by_role("navigation", name="Create Database")
    expect(modes.get_by_role("link", name="Restore from Backup")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_label("Source database")).to_have_value(name)
    expect(page.get_by_role("radio", name="Latest")).to_be_checked()
    expect(page.locator("#restore-window")).to_contain_text(
        f"Recovery window of {name}: from {utc_text(opens)} to "
    )

    # Out of the window: refused on the form, the input kept.
    page.get_by_label("Name").fill(f"{name}-old")
    page.get_by_role("radio", name="Point in time").check()
    page.get_by_label("Date and time (UTC)").fill("2020-01-01T00:00")
    page.get_by_role("button", name="Restore Database").click()
    error = page.locator("#restore-target-time-error")
    expect(error).to_contain_text("2020-01-01T00:00:00Z is outside the recovery window")
    oldest = utc_text(opens).removesuffix(" UTC").replace(" ", "T")
    expect(error).to_contain_text(f"of '{name}', {oldest}Z to now.")
    expect(page.get_by_label("Date and time (UTC)")).to_have_value("2020-01-01T00:00")
    expect(page.get_by_role("radio", name="Point in time")).to_be_checked()
    expect(page.get_by_label("Name")).to_have_value(f"{name}-old")
    expect(page.get_by_label("Source database")).to_have_value(name)
    # Latest resets the point: the time still typed is not looked at (the refusal is now
    # about the name, which is checked after the restore point).
    page.get_by_role("radio", name="Latest").check()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Restore Database").click()
    expect(page.locator("#database-name-error")).to_contain_text(
        f"the account has a database named '{name}'"
    )
    expect(page.locator("#restore-target-time-error")).to_have_count(0)

    restored = f"{name}-copy"
    page.get_by_label("Name").fill(restored)
    page.get_by_role("button", name="Restore Database").click()
    expect(page.get_by_role("heading", name="Database created")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/databases$"))  # the answer to the POST
    new_password = page.get_by_role("textbox", name="Password").input_value()
    assert len(new_password) >= 24 and new_password != password
    page.get_by_role("link", name="Done, I saved the password").click()
    expect(page).to_have_url(re.compile(rf"/databases/{restored}$"))
    assert new_password not in page.content()
    expect(page.locator("#restored-from")).to_have_text(f"{name}, at its latest point")
    wait_running(page, RESTORED_WITHIN_MS)
    with connect(shown(page), new_password, ca) as session:
        rows = session.execute("SELECT id, item FROM orders").fetchall()
    assert rows == [(1, "written before the restore")]
    with connect(details, password, ca) as session:  # the source is untouched
        assert session.execute("SELECT count(*) FROM orders").fetchone() == (1,)
    delete_database(page, restored)
    delete_database(page, name)


def test_backup_times_are_written_for_people() -> None:
    assert [ago(s) for s in (0, 4.9, 5, 61, 3 * 3600, 86400 * 2)] == [
        "just now",
        "just now",
        "5 seconds ago",
        "1 minute ago",
        "3 hours ago",
        "2 days ago",
    ]
    assert (took(4.24), took(185)) == ("4.2 s", "3 min 5 s")
    assert parse_utc("2027-01-31T12:00") == parse_utc(" 2027-01-31T12:00:00.000 ")
    assert parse_utc("2027-01-31T12:00:01") - parse_utc("2027-01-31T12:00") == 1
    assert parse_utc("0001-01-01T00:00") < 0
    for wrong in ("", "2027-01-31", "2027-02-30T12:00", "٢٠٢٧-01-31T12:00", "2027-01-31T12:00Z"):
        with pytest.raises(Invalid, match=r"restore\.target_time: give the date and time"):
            parse_utc(wrong)
