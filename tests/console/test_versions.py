"""Object versions in the console's object browser: "Show versions" lists every version and
delete marker of each key; Download, Restore and Delete version act on one, checked against
what S3 clients then see."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.console.conftest import XSS, Tab, make_account
from tests.console.guide_screenshots import readme_screenshot
from tests.console.test_bucket_settings import s3_error
from tests.console.test_storage import confirm_dialog
from tests.live import BURST, LiveServer

_n = itertools.count()


@pytest.fixture(scope="module")
def user(server: LiveServer) -> str:
    """The module's customer. Raised: s3_write_rps, for the 101 versions that
    test_versions_come_in_pages writes (Free allows 50 writes/s), and buckets, for a fresh
    bucket per test (Free has 10)."""
    email = make_account(server)
    server.raise_limits(email, s3_write_rps=BURST, buckets=50)  # before its first request
    return email


@pytest.fixture
def versioned(s3: Any) -> str:
    name = f"versions-{next(_n)}-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def versions_of(page: Page, key: str) -> Locator:
    """The rows of one key's versions (a row group of the versions table)."""
    group = page.locator("tbody.version-group").filter(
        has=page.get_by_role("rowheader", name=key, exact=True)
    )
    return group.get_by_role("row")


def listed(s3: Any, bucket: str, key: str) -> list[tuple[str, bool]]:
    """(version id, is latest) of the versions of ``key`` as S3 lists them: newest first."""
    answer = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [(v["VersionId"], v["IsLatest"]) for v in answer.get("Versions", []) if v["Key"] == key]


def test_show_versions_lists_each_keys_versions_and_downloads_one(
    signed_in: Tab, s3: Any, versioned: str
) -> None:
    first = s3.put_object(Bucket=versioned, Key="notes.txt", Body=b"first")["VersionId"]
    second = s3.put_object(Bucket=versioned, Key="notes.txt", Body=b"second draft")["VersionId"]
    s3.put_object(Bucket=versioned, Key="gone.txt", Body=b"bye")
    marker = s3.delete_object(Bucket=versioned, Key="gone.txt")["VersionId"]
    s3.put_object(Bucket=versioned, Key="docs/a.txt", Body=b"a")
    s3.put_object(Bucket=versioned, Key=XSS, Body=b"x")

    page = signed_in.open(f"/storage/buckets/{versioned}")
    expect(page.get_by_role("link", name="gone.txt")).to_have_count(0)
    page.get_by_role("link", name="Show versions").click()
    expect(page).to_have_url(re.compile(rf"/storage/buckets/{versioned}/versions$"))

    notes = versions_of(page, "notes.txt")
    expect(notes).to_have_count(2)
    expect(notes.nth(0)).to_contain_text(second)
    expect(notes.nth(0)).to_contain_text("Latest")
    expect(notes.nth(0)).to_contain_text("12 B")
    expect(notes.nth(1)).to_contain_text(first)
    expect(notes.nth(1)).not_to_contain_text("Latest")
    expect(notes.nth(0).get_by_role("button", name=re.compile("^Restore"))).to_have_count(0)
    gone = versions_of(page, "gone.txt")
    expect(gone).to_have_count(2)
    expect(gone.nth(0)).to_contain_text(marker)
    expect(gone.nth(0)).to_contain_text("Delete marker")
    expect(gone.nth(0).get_by_role("link", name=re.compile("^Download"))).to_have_count(0)
    expect(page.get_by_role("rowheader", name=XSS, exact=True)).to_be_visible()
    expect(page.locator("img[src='x']")).to_have_count(0)
    readme_screenshot(page, "object-versions")

    with page.expect_download() as download:
        page.get_by_role("link", name=f"Download version {first} of notes.txt").click()
    assert download.value.suggested_filename == "notes.txt"
    assert Path(download.value.path()).read_bytes() == b"first"

    page.get_by_role("link", name="docs/", exact=True).click()
    expect(page).to_have_url(re.compile(r"/versions\?prefix=docs%2F$"))
    expect(versions_of(page, "a.txt")).to_have_count(1)
    page.get_by_role("link", name="Hide versions").click()
    expect(page).to_have_url(re.compile(rf"/storage/buckets/{versioned}\?prefix=docs%2F$"))
    expect(page.get_by_role("link", name="a.txt", exact=True)).to_be_visible()


def test_restore_makes_an_older_version_current(signed_in: Tab, s3: Any, versioned: str) -> None:
    first = s3.put_object(Bucket=versioned, Key="report.csv", Body=b"v1")["VersionId"]
    second = s3.put_object(Bucket=versioned, Key="report.csv", Body=b"v2, wrong")["VersionId"]
    page = signed_in.open(f"/storage/buckets/{versioned}/versions")
    restore = page.get_by_role("button", name=f"Restore version {first} of report.csv")
    restore.click()
    expect(page.get_by_role("dialog")).to_contain_text(f"Restore version {first} of report.csv?")
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    assert s3.get_object(Bucket=versioned, Key="report.csv")["Body"].read() == b"v2, wrong"

    restore.click()
    confirm_dialog(page, "Restore")
    expect(page.get_by_role("status")).to_contain_text(
        f"Restored report.csv: version {first} is current again"
    )
    current = s3.get_object(Bucket=versioned, Key="report.csv")
    assert current["Body"].read() == b"v1"
    assert current["VersionId"] not in (first, second)
    # Nothing was lost: the version it replaced is kept, below the restored copy.
    assert listed(s3, versioned, "report.csv") == [
        (current["VersionId"], True),
        (second, False),
        (first, False),
    ]
    rows = versions_of(page, "report.csv")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(current["VersionId"])


def test_delete_version_removes_it_for_good_and_a_marker_brings_the_object_back(
    signed_in: Tab, s3: Any, versioned: str
) -> None:
    first = s3.put_object(Bucket=versioned, Key="data.bin", Body=b"old")["VersionId"]
    second = s3.put_object(Bucket=versioned, Key="data.bin", Body=b"new")["VersionId"]
    s3.put_object(Bucket=versioned, Key="undo.txt", Body=b"still here")
    marker = s3.delete_object(Bucket=versioned, Key="undo.txt")["VersionId"]
    page = signed_in.open(f"/storage/buckets/{versioned}/versions")

    page.get_by_role("button", name=f"Delete version {second} of data.bin").click()
    expect(page.get_by_role("dialog")).to_contain_text("permanently? It cannot be recovered.")
    confirm_dialog(page, "Delete version")
    expect(page.get_by_role("status")).to_have_text(
        f"Deleted version {second} of data.bin permanently."
    )
    assert s3_error(s3.get_object, Bucket=versioned, Key="data.bin", VersionId=second) == (
        "NoSuchVersion"
    )
    assert listed(s3, versioned, "data.bin") == [(first, True)]
    assert s3.get_object(Bucket=versioned, Key="data.bin")["Body"].read() == b"old"
    expect(versions_of(page, "data.bin")).to_have_count(1)

    assert s3_error(s3.head_object, Bucket=versioned, Key="undo.txt") == "404"
    page.get_by_role("button", name=f"Delete version {marker} of undo.txt").click()
    expect(page.get_by_role("dialog")).to_contain_text("Remove this delete marker of undo.txt?")
    confirm_dialog(page, "Delete version")
    expect(page.get_by_role("status")).to_have_text(
        f"Removed the delete marker {marker} of undo.txt."
    )
    assert s3.get_object(Bucket=versioned, Key="undo.txt")["Body"].read() == b"still here"
    expect(versions_of(page, "undo.txt")).to_have_count(1)


def test_an_unversioned_bucket_shows_its_null_versions(signed_in: Tab, s3: Any) -> None:
    name = f"plain-{next(_n)}-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="only.txt", Body=b"one and only")
    page = signed_in.open(f"/storage/buckets/{name}/versions")
    rows = versions_of(page, "only.txt")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("null")
    expect(rows.nth(0)).to_contain_text("Latest")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download version null of only.txt").click()
    assert Path(download.value.path()).read_bytes() == b"one and only"
    page.get_by_role("button", name="Delete version null of only.txt").click()
    confirm_dialog(page, "Delete version")
    expect(page.get_by_role("heading", name="No versions yet")).to_be_visible()
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_versions_come_in_pages(signed_in: Tab, s3: Any, versioned: str) -> None:
    made = [
        s3.put_object(Bucket=versioned, Key="busy.log", Body=str(i).encode())["VersionId"]
        for i in range(101)
    ]
    page = signed_in.open(f"/storage/buckets/{versioned}/versions")
    rows = versions_of(page, "busy.log")
    expect(rows).to_have_count(100)
    expect(rows.nth(0)).to_contain_text(made[-1])
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_text("Versions · page 2")).to_be_visible()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text(made[0])
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    expect(rows).to_have_count(100)


def test_restore_and_delete_version_without_javascript(
    plain_tab: Tab, user: str, s3: Any, versioned: str
) -> None:
    plain_tab.sign_in(user)
    first = s3.put_object(Bucket=versioned, Key="a/plan.md", Body=b"plan A")["VersionId"]
    second = s3.put_object(Bucket=versioned, Key="a/plan.md", Body=b"plan B")["VersionId"]
    page = plain_tab.open(f"/storage/buckets/{versioned}/versions?prefix=a/")
    page.get_by_role("button", name=f"Restore version {first} of a/plan.md").click()
    expect(
        page.get_by_role("heading", name=f"Restore version {first} of a/plan.md?")
    ).to_be_visible()
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text(f"version {first} is current again")
    expect(page).to_have_url(re.compile(r"/versions\?prefix=a%2F$"))
    assert s3.get_object(Bucket=versioned, Key="a/plan.md")["Body"].read() == b"plan A"

    page.get_by_role("button", name=f"Delete version {second} of a/plan.md").click()
    expect(
        page.get_by_role("heading", name=f"Delete version {second} of a/plan.md permanently?")
    ).to_be_visible()
    page.get_by_role("button", name="Delete version").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Deleted version {second} of a/plan.md permanently."
    )
    assert second not in [v for v, _ in listed(s3, versioned, "a/plan.md")]
