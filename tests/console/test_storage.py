"""Object Storage in the console: buckets, the object browser, uploads (multipart from the
browser), downloads, details, share links and deletes, checked against what S3 clients see."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from playwright.sync_api import Page, Route, expect

from tests.console.conftest import TIMEOUT, XSS, Tab, make_account
from tests.console.guide_screenshots import guide_screenshot
from tests.live import BURST, LiveServer

MIB = 1024 * 1024
BIG = 17 * MIB  # more than one 16 MiB part: the browser sends it as a multipart upload
_n = itertools.count()


@pytest.fixture(scope="module")
def user(server: LiveServer) -> str:
    """The module's customer, on the Free tier. Raised: s3_write_rps, for the 107 PUTs that
    test_folders_breadcrumbs_and_pages sends from 4 threads, so that it does not depend on the
    tier's rate."""
    email = make_account(server)
    server.raise_limits(email, s3_write_rps=BURST)  # before the account's first request
    return email


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"console-{next(_n)}-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    return name


def confirm_dialog(page: Page, button: str = "Delete") -> None:
    """Answer the console's own confirmation dialog (an HTML <dialog>, not window.confirm)."""
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=button).click()


def test_buckets_create_validate_and_delete_only_when_empty(
    signed_in: Tab, s3: Any, user: str
) -> None:
    page = signed_in.open("/storage/buckets")
    name_field = page.get_by_label("Bucket name")
    name_field.fill("Not_Valid")
    page.get_by_role("button", name="Create bucket").click()
    expect(page.locator("#bucket-name-error")).to_contain_text("lowercase letters, digits")
    expect(name_field).to_have_attribute("aria-invalid", "true")
    expect(name_field).to_have_value("Not_Valid")
    name_field.fill("192.168.10.20")
    page.get_by_role("button", name="Create bucket").click()
    expect(page.locator("#bucket-name-error")).to_contain_text("IP address")

    name = f"made-in-console-{os.getpid()}"
    name_field = page.get_by_label("Bucket name")
    name_field.fill(name)
    page.get_by_role("button", name="Create bucket").click()
    expect(page).to_have_url(re.compile(rf"/storage/buckets/{name}$"))
    expect(page.get_by_role("status")).to_contain_text(f"Bucket {name} created")
    expect(page.get_by_role("heading", name="This bucket is empty")).to_be_visible()
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    s3.put_object(Bucket=name, Key="keep.txt", Body=b"12345")
    page = signed_in.open("/storage/buckets")
    row = page.get_by_role("row").filter(has_text=name)
    expect(row.get_by_role("cell").nth(2)).to_have_text("1")
    expect(row.get_by_role("cell").nth(3)).to_have_text("5 B")
    guide_screenshot(page, "storage", "buckets")
    row.get_by_role("button", name=f"Delete bucket {name}").click()
    expect(page.get_by_role("dialog")).to_contain_text(f"Delete the bucket {name}?")
    confirm_dialog(page)
    expect(page.get_by_role("alert")).to_contain_text(f"The bucket {name} is not empty")
    expect(page.get_by_role("link", name=name)).to_be_visible()

    s3.delete_object(Bucket=name, Key="keep.txt")
    page.get_by_role("row").filter(has_text=name).get_by_role("button").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("link", name=name)).to_be_visible()  # cancelled: nothing happened
    page.get_by_role("row").filter(has_text=name).get_by_role("button").click()
    confirm_dialog(page)
    expect(page.get_by_role("status")).to_have_text(f"Bucket {name} deleted.")
    expect(page.get_by_role("link", name=name)).to_have_count(0)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_folders_breadcrumbs_and_pages(signed_in: Tab, s3: Any, bucket: str) -> None:
    keys = [f"logs/2026/day-{i:03}.log" for i in range(105)] + ["logs/readme.txt", "top.txt"]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
    page = signed_in.open(f"/storage/buckets/{bucket}")
    expect(page.get_by_text("107 objects")).to_be_visible()
    expect(page.get_by_role("link", name="top.txt", exact=True)).to_be_visible()
    guide_screenshot(page, "storage", "object-browser")
    page.get_by_role("link", name="logs/", exact=True).click()

    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs.get_by_role("link")).to_have_text(["Buckets", bucket, "logs"])
    expect(page.get_by_role("link", name="readme.txt", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="top.txt", exact=True)).to_have_count(0)
    page.get_by_role("link", name="2026/", exact=True).click()

    expect(crumbs.get_by_role("link")).to_have_text(["Buckets", bucket, "logs", "2026"])
    boxes = page.locator('input[name="key"]')
    expect(boxes).to_have_count(100)
    expect(page.get_by_role("link", name="day-000.log", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="day-105.log", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_text("Page 2")).to_be_visible()
    expect(boxes).to_have_count(5)
    expect(page.get_by_role("link", name="day-104.log", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    expect(boxes).to_have_count(100)
    crumbs.get_by_role("link", name="logs").click()
    expect(page.get_by_role("link", name="readme.txt", exact=True)).to_be_visible()


def test_upload_several_files_with_a_large_one_in_parts(
    signed_in: Tab, s3: Any, bucket: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(BIG))
    notes = tmp_path / "notes.txt"
    notes.write_text("hello from the browser\n")
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    page = signed_in.open(f"/storage/buckets/{bucket}?prefix=inbox/")

    # Hold the second part so the progress of the first can be seen mid-upload.
    held: list[Route] = []
    page.route(re.compile(r"/uploads/[^/]+/parts/2\?"), lambda route: held.append(route))
    page.get_by_label("Files", exact=True).set_input_files([big, notes, empty])
    page.get_by_role("button", name="Upload", exact=True).click()
    item = page.locator("#upload-list li").filter(has_text="big.bin")
    expect(item.locator(".status")).to_contain_text("of 17.8 MB")  # decimal, as billed
    page.wait_for_function(
        "() => document.querySelector('#upload-list progress').value >= 16 * 1024 * 1024"
    )
    assert held, "the second part was sent while the first was still running"
    expect(item.get_by_role("button", name="Cancel the upload of big.bin")).to_be_visible()
    held[0].continue_()

    # When every file is in, the page shows the folder again with the new objects.
    expect(page.get_by_role("link", name="big.bin", exact=True)).to_be_visible(timeout=60_000)
    expect(page.get_by_role("link", name="notes.txt", exact=True)).to_be_visible()
    stored = s3.get_object(Bucket=bucket, Key="inbox/big.bin")
    assert (
        hashlib.sha256(stored["Body"].read()).digest() == hashlib.sha256(big.read_bytes()).digest()
    )
    assert stored["ETag"].endswith('-2"')  # two parts: 16 MiB + 1 MiB
    text = s3.get_object(Bucket=bucket, Key="inbox/notes.txt")
    assert text["Body"].read() == b"hello from the browser\n"
    assert text["ContentType"] == "text/plain"
    assert s3.head_object(Bucket=bucket, Key="inbox/empty.dat")["ContentLength"] == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_failed_part_aborts_the_upload(
    signed_in: Tab, s3: Any, bucket: str, tmp_path: Path
) -> None:
    big = tmp_path / "doomed.bin"
    big.write_bytes(b"\0" * BIG)
    page = signed_in.open(f"/storage/buckets/{bucket}")
    page.route(re.compile(r"/parts/2\?"), lambda route: route.abort("failed"))
    page.get_by_label("Files", exact=True).set_input_files(big)
    page.get_by_role("button", name="Upload", exact=True).click()
    failed = page.locator("#upload-list li.failed")
    expect(failed).to_contain_text("The connection to Nexq failed.")
    expect(failed.get_by_role("button")).to_have_count(0)
    # The abort was sent: no upload is left behind and the bucket can be deleted.
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="doomed.bin")
    s3.delete_bucket(Bucket=bucket)


def test_details_download_share_link_and_deletes(signed_in: Tab, s3: Any, bucket: str) -> None:
    body = b"id,name\n1,Ada\n" * 1000
    put = s3.put_object(
        Bucket=bucket,
        Key="reports/q4.csv",
        Body=body,
        ContentType="text/csv",
        Metadata={"owner": XSS, "project": "apollo"},
    )
    for key in ("reports/a.txt", "reports/b.txt", "reports/c.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    page = signed_in.open(f"/storage/buckets/{bucket}?prefix=reports/")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download reports/q4.csv").click()
    saved = download.value
    assert saved.suggested_filename == "q4.csv"
    assert Path(saved.path()).read_bytes() == body

    page.get_by_role("link", name="q4.csv", exact=True).click()
    details = page.get_by_role("region", name="Details")
    expect(details).to_contain_text(f"{len(body):,} bytes")
    expect(details).to_contain_text("text/csv")
    expect(details).to_contain_text(put["ETag"])
    metadata = details.get_by_role("table")
    expect(metadata.get_by_role("row").filter(has_text="x-amz-meta-project")).to_contain_text(
        "apollo"
    )
    expect(metadata.get_by_role("cell", name=XSS, exact=True)).to_be_visible()  # text, not a tag
    expect(page.locator("img[src='x']")).to_have_count(0)

    page.get_by_label("Expires after").select_option(label="1 day")
    page.get_by_role("button", name="Create share link").click()
    link = page.get_by_role("textbox", name="Share link").input_value()
    assert "X-Amz-Expires=86400" in link and link.startswith(signed_in.server.endpoint)
    shared = httpx.get(link, timeout=TIMEOUT)
    assert shared.status_code == 200 and shared.content == body
    expect(page.get_by_role("button", name="Copy Share link")).to_be_visible()

    page.get_by_role("link", name="Back to reports/").click()
    page.get_by_label("Select reports/a.txt").check()
    page.get_by_label("Select reports/b.txt").check()
    page.get_by_role("button", name="Delete selected").click()
    expect(page.get_by_role("dialog")).to_contain_text("Delete the selected objects?")
    confirm_dialog(page)
    expect(page.get_by_role("status")).to_have_text("Deleted 2 objects.")
    expect(page.get_by_role("link", name="a.txt", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Delete reports/c.txt").click()
    expect(page.get_by_role("dialog")).to_contain_text("Delete reports/c.txt?")
    confirm_dialog(page)
    expect(page.get_by_role("status")).to_have_text("Deleted reports/c.txt.")
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert remaining == ["reports/q4.csv"]
    # A leaked link is revoked from the Access Keys page, with every other share link.
    keys = signed_in.open("/storage/access-keys")
    keys.get_by_role("button", name="Revoke all share links").click()
    expect(keys.get_by_role("dialog")).to_contain_text("stops working at once")
    confirm_dialog(keys, "Revoke all share links")
    expect(keys.get_by_role("status")).to_contain_text("share link made so far is revoked")
    assert httpx.get(link, timeout=TIMEOUT).status_code == 403


def test_object_keys_with_markup_are_shown_as_text(signed_in: Tab, s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket, Key=XSS, Body=b"<script>alert(2)</script>", ContentType="text/html"
    )
    page = signed_in.open(f"/storage/buckets/{bucket}")
    expect(page.get_by_role("link", name=XSS, exact=True)).to_be_visible()
    expect(page.locator("img[src='x']")).to_have_count(0)
    page.get_by_role("link", name=XSS, exact=True).click()
    expect(page.get_by_role("heading", name=XSS)).to_be_visible()
    expect(page.locator("img[src='x']")).to_have_count(0)
    # A download is always an attachment in a sandbox, never a page of the console's origin.
    response = signed_in.context.request.get(
        f"/storage/buckets/{bucket}/download", params={"key": XSS}
    )
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in response.headers["content-security-policy"]


def test_everything_works_without_javascript(
    plain_tab: Tab, user: str, s3: Any, bucket: str, tmp_path: Path
) -> None:
    plain_tab.sign_in(user)
    page = plain_tab.open(f"/storage/buckets/{bucket}")
    expect(page.get_by_role("button", name="Copy the S3 endpoint")).to_be_hidden()
    upload = tmp_path / "plain.txt"
    upload.write_bytes(b"no script needed")
    page.get_by_label("Files", exact=True).set_input_files(upload)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Uploaded 1 file.")
    assert s3.get_object(Bucket=bucket, Key="plain.txt")["Body"].read() == b"no script needed"

    # Deletes ask on a page of their own when no script can open a dialog.
    page.get_by_label("Select plain.txt").check()
    page.get_by_role("button", name="Delete selected").click()
    expect(page.get_by_role("heading", name="Delete plain.txt?")).to_be_visible()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Deleted plain.txt.")
    page = plain_tab.open("/storage/buckets")
    page.get_by_role("button", name=f"Delete bucket {bucket}").click()
    expect(page.get_by_role("heading", name=f"Delete the bucket {bucket}?")).to_be_visible()
    page.get_by_role("button", name="Delete bucket").click()
    expect(page.get_by_role("status")).to_have_text(f"Bucket {bucket} deleted.")
