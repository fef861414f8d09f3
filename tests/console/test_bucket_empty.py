"""Empty bucket (issue 19's first hour): a full bucket, versioned and with one version under a
legal hold, is emptied from its Settings page by the background job, with progress shown
without JavaScript, and then deleted; the REST API starts and follows the same job. And the
Buckets page on a phone: the table and the aws-cli snippet fit the screen."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import ViewportSize, expect

from tests.console.conftest import Tab, api_session, make_account, owner_s3
from tests.live import BURST, LiveServer

PHONE: ViewportSize = {"width": 375, "height": 800}
EMPTYING_SECONDS = 60_000  # a few hundred deletes take well under a second; CI is slow


@pytest.fixture(scope="module")
def user(server: LiveServer) -> str:
    email = make_account(server, "emptier")
    server.raise_limits(email, s3_write_rps=BURST, s3_read_rps=BURST)
    return email


@pytest.fixture(scope="module")
def s3(server: LiveServer, user: str) -> Any:
    return owner_s3(server, user)


def fill(s3: Any, bucket: str, objects: int) -> str:
    """``objects`` keys in a bucket made with object lock (so versioned), every tenth written
    twice and every twentieth then deleted (a delete marker); the version id of the one
    version put under a legal hold."""
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    for n in range(objects):
        s3.put_object(Bucket=bucket, Key=f"data/{n:04}", Body=b"x" * 100)
        if n % 10 == 0:
            s3.put_object(Bucket=bucket, Key=f"data/{n:04}", Body=b"y" * 50)
        if n % 20 == 0:
            s3.delete_object(Bucket=bucket, Key=f"data/{n:04}")
    s3.create_multipart_upload(Bucket=bucket, Key="never-finished")
    held = s3.put_object(
        Bucket=bucket, Key="evidence", Body=b"keep me", ObjectLockLegalHoldStatus="ON"
    )
    return str(held["VersionId"])


def test_a_full_bucket_is_emptied_without_javascript_then_deleted(
    plain_tab: Tab, server: LiveServer, user: str, s3: Any
) -> None:
    bucket = "empty-me"
    held = fill(s3, bucket, 300)  # 300 + 30 second versions + 15 markers, and the held one
    plain_tab.sign_in(user)
    page = plain_tab.open(f"/storage/buckets/{bucket}/settings")
    section = page.locator("#empty")
    expect(section.get_by_role("heading", name="Empty bucket")).to_be_visible()

    # The name must be typed: anything else is refused and nothing is deleted.
    section.get_by_label(f"Type {bucket} to confirm").fill("empty-m")
    section.get_by_role("button", name="Empty bucket").click()
    expect(page.locator("#confirm-name-error")).to_have_text(
        "Type the bucket's name exactly to confirm."
    )
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 286

    page.get_by_label(f"Type {bucket} to confirm").fill(bucket)
    page.get_by_role("button", name="Empty bucket").click()
    expect(page).to_have_url(f"{server.api_url}/storage/buckets/{bucket}/empty")
    # Running, the page reloads itself (a meta refresh: no script runs here) until done.
    done = page.locator("#empty-progress")
    expect(done).to_contain_text("Done", timeout=EMPTYING_SECONDS)
    expect(done).to_contain_text(
        "345 versions and delete markers deleted, 1 unfinished upload aborted."
    )
    expect(page.locator("#empty-kept")).to_contain_text(
        "1 version was kept because object lock protects it: 1 under a legal hold"
    )
    expect(page.locator("#bucket-holds")).to_have_text("1 object · 7 B in this bucket now")
    with api_session(server, user) as api:
        shown = api.get(f"/v1/storage/buckets/{bucket}").json()
        status = api.get(f"/v1/storage/buckets/{bucket}/empty").json()
    assert (shown["object_count"], shown["stored_bytes"]) == (1, 7), shown  # stored bytes exact
    assert status["status"] == "Done" and status["kept"]["legal_hold"] == 1, status

    # The hold lifted, emptying again leaves nothing, and the page offers Delete.
    s3.put_object_legal_hold(
        Bucket=bucket, Key="evidence", VersionId=held, LegalHold={"Status": "OFF"}
    )
    page.get_by_label(f"Type {bucket} to confirm").fill(bucket)
    page.get_by_role("button", name="Empty bucket").click()
    expect(page.locator("#empty-next")).to_have_text(
        "The bucket is empty: it can be deleted now.", timeout=EMPTYING_SECONDS
    )
    page.get_by_role("button", name="Delete bucket").click()
    expect(page.get_by_role("heading", name=f"Delete the bucket {bucket}?")).to_be_visible()
    page.get_by_role("button", name="Delete bucket").click()
    expect(page.get_by_role("status")).to_have_text(f"Bucket {bucket} deleted.")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_the_rest_api_empties_a_bucket_in_the_background(
    server: LiveServer, user: str, s3: Any
) -> None:
    bucket = "empty-by-api"
    s3.create_bucket(Bucket=bucket)
    for n in range(120):
        s3.put_object(Bucket=bucket, Key=f"k{n}", Body=b"z" * 10)
    with api_session(server, user) as api:
        assert api.get(f"/v1/storage/buckets/{bucket}/empty").status_code == 404
        started = api.post(f"/v1/storage/buckets/{bucket}/empty")
        assert started.status_code == 202, started.text
        assert started.json()["status"] in ("Running", "Done")
        deadline = time.monotonic() + EMPTYING_SECONDS / 1000
        while api.get(f"/v1/storage/buckets/{bucket}/empty").json()["status"] != "Done":
            assert time.monotonic() < deadline, "the bucket was not emptied in time"
            time.sleep(0.2)  # the job runs in the server's background, at its own pace
        status = api.get(f"/v1/storage/buckets/{bucket}/empty").json()
        assert (status["deleted"], status["uploads_aborted"], status["kept"]["retention"]) == (
            120,
            0,
            0,
        )
        assert api.delete(f"/v1/storage/buckets/{bucket}").status_code == 204
        assert api.get(f"/v1/storage/buckets/{bucket}").status_code == 404


def test_the_buckets_page_fits_a_phone(tab: Tab, server: LiveServer, user: str, s3: Any) -> None:
    s3.create_bucket(Bucket="a-rather-long-bucket-name-for-phones-0123456789")
    tab.page.set_viewport_size(PHONE)
    tab.sign_in(user)
    page = tab.open("/storage/buckets")
    page.locator("details.connect summary").click()
    table = page.get_by_role("table", name="Your buckets")
    expect(table).to_be_visible()
    fits = page.evaluate(
        """() => {
          const wrap = document.querySelector('.table-wrap');
          const table = wrap.querySelector('table').getBoundingClientRect();
          const snippet = document.querySelector('#snippet-awscli');
          return {
            page: document.documentElement.scrollWidth,
            table: table.right,
            wrap: [wrap.scrollWidth, wrap.clientWidth],
            snippet: [snippet.scrollWidth, snippet.clientWidth,
                      snippet.getBoundingClientRect().right],
          };
        }"""
    )
    assert fits["page"] <= PHONE["width"], fits  # nothing widens the page itself
    assert fits["table"] <= PHONE["width"], fits  # the table's right edge is on screen
    assert fits["wrap"][0] <= fits["wrap"][1], fits
    # The aws-cli snippet wraps inside its box: nothing of it is clipped.
    assert fits["snippet"][0] <= fits["snippet"][1], fits
    assert fits["snippet"][2] <= PHONE["width"], fits
    expect(page.locator("#snippet-awscli")).to_contain_text("s3 cp ./file.txt s3://my-bucket/")
    expect(table.get_by_role("button", name="Delete bucket a-rather-long")).to_be_in_viewport()
