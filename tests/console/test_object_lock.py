"""Object Lock in the console: the "Object lock" box of Create a bucket, the bucket's header,
and the default retention form of the Settings tab, each checked against what S3 clients
then see."""

from __future__ import annotations

import itertools
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import Tab, api_session, make_account, owner_s3
from tests.console.test_bucket_settings import s3_error, settings_of
from tests.live import LiveServer

_n = itertools.count()


@pytest.fixture(scope="module")
def user(server: LiveServer) -> str:
    """The module's customer. Raised: buckets, for fresh buckets per test (Free has 10)."""
    email = make_account(server)
    server.raise_limits(email, buckets=50)  # before the account's first request
    return email


def fresh_name(kind: str) -> str:
    return f"{kind}-{next(_n)}-{os.getpid()}"


@pytest.fixture
def locked(s3: Any) -> str:
    name = fresh_name("locked")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def create_in_console(page: Page, name: str, object_lock: bool) -> None:
    page.get_by_label("Bucket name").fill(name)
    box = page.get_by_role("checkbox", name="Object lock")
    if object_lock:
        box.check()
    page.get_by_role("button", name="Create bucket").click()


def test_a_bucket_is_created_with_object_lock(signed_in: Tab, s3: Any) -> None:
    page = signed_in.open("/storage/buckets")
    box = page.get_by_role("checkbox", name="Object lock")
    expect(box).not_to_be_checked()
    expect(page.locator("#object-lock-hint")).to_contain_text(
        "It turns versioning on, and it cannot be turned off."
    )
    # A refused name comes back with the box as it was ticked.
    create_in_console(page, "Not_Valid", object_lock=True)
    expect(page.locator("#bucket-name-error")).to_contain_text("lowercase letters, digits")
    expect(page.get_by_role("checkbox", name="Object lock")).to_be_checked()

    name = fresh_name("made-locked")
    page.get_by_label("Bucket name").fill(name)
    page.get_by_role("button", name="Create bucket").click()
    expect(page).to_have_url(re.compile(rf"/storage/buckets/{name}$"))
    expect(page.get_by_role("status")).to_contain_text(f"Bucket {name} created with object lock")
    expect(page.locator(".lock-summary")).to_have_text("Object lock no default retention")
    config = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"

    plain = fresh_name("made-plain")
    page = signed_in.open("/storage/buckets")
    create_in_console(page, plain, object_lock=False)
    expect(page.get_by_role("status")).to_have_text(
        f"Bucket {plain} created. Upload files or connect an S3 tool."
    )
    expect(page.locator(".lock-summary")).to_have_count(0)
    assert s3_error(s3.get_object_lock_configuration, Bucket=plain) == (
        "ObjectLockConfigurationNotFoundError"
    )


def test_the_default_retention_is_set_refused_and_removed(
    signed_in: Tab, s3: Any, locked: str
) -> None:
    page = settings_of(signed_in, locked)
    section = page.get_by_role("region", name="Object lock")
    expect(section).to_contain_text("On · no default retention")
    versioning = page.get_by_role("region", name="Versioning")
    expect(versioning).to_contain_text("Object lock keeps versioning enabled on this bucket.")
    expect(versioning.get_by_role("button", name="Suspend versioning")).to_have_count(0)

    section.get_by_label("Default retention mode").select_option("GOVERNANCE")
    section.get_by_label("Retention period").fill("30")
    section.get_by_label("Unit").select_option("days")
    section.get_by_role("button", name="Save default retention").click()
    expect(page.get_by_role("status")).to_have_text("Default retention saved.")
    section = page.get_by_role("region", name="Object lock")
    expect(section).to_contain_text("default retention GOVERNANCE for 30 days")
    expect(page.locator(".lock-summary")).to_contain_text("GOVERNANCE for 30 days")
    expect(section.get_by_label("Retention period")).to_have_value("30")
    rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}
    s3.put_object(Bucket=locked, Key="new", Body=b"x")
    left = s3.head_object(Bucket=locked, Key="new")["ObjectLockRetainUntilDate"]
    assert timedelta(days=29.9) < left - datetime.now(UTC) < timedelta(days=30.1)

    # Refused as S3 refuses it: the reason shows, the draft stays, nothing is stored.
    for period, unit, reason in (
        ("0", "days", "Default retention period must be a positive integer value"),
        ("101", "years", "Default retention period too large: at most 100 years"),
        ("ten", "days", "Retention period: a whole number of days or years."),
    ):
        section.get_by_label("Default retention mode").select_option("COMPLIANCE")
        section.get_by_label("Retention period").fill(period)
        section.get_by_label("Unit").select_option(unit)
        section.get_by_role("button", name="Save default retention").click()
        expect(page.locator("#object-lock-error")).to_have_text(reason)
        section = page.get_by_role("region", name="Object lock")
        expect(section.get_by_label("Retention period")).to_have_value(period)
        expect(section.get_by_label("Default retention mode")).to_have_value("COMPLIANCE")
        rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
        assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}

    expect(section.get_by_label("Unit")).to_have_value("days")  # as last typed
    section.get_by_label("Retention period").fill("2")
    section.get_by_label("Unit").select_option("years")
    section.get_by_role("button", name="Save default retention").click()
    expect(page.get_by_role("status")).to_have_text("Default retention saved.")
    rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}}

    section = page.get_by_role("region", name="Object lock")
    section.get_by_label("Default retention mode").select_option("")
    section.get_by_label("Retention period").fill("")
    section.get_by_role("button", name="Save default retention").click()
    expect(page.get_by_role("status")).to_have_text("Default retention removed.")
    expect(page.get_by_role("region", name="Object lock")).to_contain_text(
        "On · no default retention"
    )
    config = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}


def test_a_bucket_without_object_lock_shows_no_retention_form(
    signed_in: Tab, s3: Any, server: LiveServer, user: str
) -> None:
    name = fresh_name("unlocked")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    page = settings_of(signed_in, name)
    section = page.get_by_role("region", name="Object lock")
    expect(section).to_contain_text("Off")
    expect(section).to_contain_text("can only be turned on when a bucket is created")
    expect(section.get_by_role("button")).to_have_count(0)
    # A form posted anyway (an old page, a script) locks nothing.
    token = page.locator('input[name="csrf_token"]').first.input_value()
    answer = signed_in.context.request.post(
        f"/storage/buckets/{name}/settings/object-lock",
        form={"mode": "COMPLIANCE", "period": "1", "unit": "days", "csrf_token": token},
    )
    assert answer.status == 400
    assert "only be turned on when a bucket is created" in answer.text()
    assert s3_error(s3.get_object_lock_configuration, Bucket=name) == (
        "ObjectLockConfigurationNotFoundError"
    )
    with api_session(server, user) as api:
        shown = api.get(f"/v1/storage/buckets/{name}/object-lock").json()
    assert shown["enabled"] is False


def test_object_lock_works_without_javascript(plain_tab: Tab, user: str, s3: Any) -> None:
    plain_tab.sign_in(user)
    page = plain_tab.open("/storage/buckets")
    name = fresh_name("plain-locked")
    create_in_console(page, name, object_lock=True)
    expect(page.get_by_role("status")).to_contain_text(f"Bucket {name} created with object lock")
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"

    page = settings_of(plain_tab, name)
    section = page.get_by_role("region", name="Object lock")
    section.get_by_label("Default retention mode").select_option("COMPLIANCE")
    section.get_by_label("Retention period").fill("1")
    section.get_by_label("Unit").select_option("years")
    section.get_by_role("button", name="Save default retention").click()
    expect(page.get_by_role("status")).to_have_text("Default retention saved.")
    rule = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 1}}
    expect(page.get_by_role("region", name="Object lock")).to_contain_text(
        "default retention COMPLIANCE for 1 year"
    )


def test_another_accounts_bucket_takes_no_retention(
    signed_in: Tab, server: LiveServer, locked: str
) -> None:
    other = owner_s3(server, make_account(server))
    name = fresh_name("not-yours")
    other.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    token = settings_of(signed_in, locked).locator('input[name="csrf_token"]').first.input_value()
    answer = signed_in.context.request.post(
        f"/storage/buckets/{name}/settings/object-lock",
        form={"mode": "COMPLIANCE", "period": "1", "unit": "years", "csrf_token": token},
    )
    assert answer.status == 404
    config = other.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
