"""The Access Keys page, step by step as SPEC.md describes it, proven with boto3."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError
from playwright.sync_api import Page, expect

from tests.console.conftest import XSS, Tab, s3_client
from tests.console.guide_screenshots import guide_screenshot, readme_screenshot
from tests.live import LiveServer


def denied(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def rgb(page: Page, selector: str) -> tuple[int, int, int]:
    colour = page.locator(selector).first.evaluate("e => getComputedStyle(e).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", colour)[:3])
    return red, green, blue


def test_scoped_key_from_creation_to_deletion(signed_in: Tab, server: LiveServer, s3: Any) -> None:
    s3.create_bucket(Bucket="granted-bucket")
    s3.create_bucket(Bucket="other-bucket")
    signed_in.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = signed_in.open("/storage/access-keys")
    page.get_by_role("link", name="Create Access Key").click()

    label = f"Deploy {XSS}"
    page.get_by_label("Label").fill(label)
    expect(page.get_by_label("Buckets", exact=True)).to_be_hidden()  # only for Specific Buckets
    page.get_by_label("Specific Buckets").check()
    page.get_by_label("Buckets", exact=True).select_option(["granted-bucket"])
    page.get_by_role("button", name="Create Access Key").click()

    # The one-time display is the answer to the POST itself, not a page one can return to.
    expect(page.get_by_role("heading", name="Access key created")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/storage/access-keys$"))
    expect(page.get_by_role("alert")).to_contain_text("will not be shown again")
    key_id = page.get_by_role("textbox", name="Access Key ID").input_value()
    secret = page.get_by_role("textbox", name="Secret Access Key").input_value()
    assert re.fullmatch(r"NQAK[a-z0-9]{16}", key_id)
    assert len(secret) == 40
    page.get_by_role("button", name="Copy Secret Access Key").click()
    expect(page.get_by_role("button", name="Copy Secret Access Key")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.get_by_role("button", name="Copy Access Key ID").click()
    assert page.evaluate("navigator.clipboard.readText()") == key_id
    expect(page.get_by_text(label, exact=True)).to_be_visible()  # the label is text, not a tag
    expect(page.locator("img[src='x']")).to_have_count(0)

    scoped = s3_client(server, key_id, secret)
    scoped.put_object(Bucket="granted-bucket", Key="hello.txt", Body=b"hi")
    assert scoped.get_object(Bucket="granted-bucket", Key="hello.txt")["Body"].read() == b"hi"
    assert [b["Name"] for b in scoped.list_buckets()["Buckets"]] == ["granted-bucket"]
    assert denied(lambda: scoped.put_object(Bucket="other-bucket", Key="x", Body=b"x")) == (
        "AccessDenied"
    )

    page.get_by_role("link", name="Done, I saved the secret").click()
    row = page.get_by_role("row").filter(has_text=key_id)
    expect(page.get_by_role("columnheader")).to_have_text(
        ["Label", "Access Key ID", "Buckets", "Status", "Created", "Actions"]
    )
    expect(row.get_by_role("cell")).to_have_text(
        [
            label,
            key_id,
            "granted-bucket",
            "Active",
            re.compile(r"^\d{4}-\d\d-\d\d "),
            re.compile(r"Revoke\s+Delete"),
        ]
    )
    assert secret not in page.content()  # never shown again
    revoke = row.get_by_role("button", name=f"Revoke {label}")
    delete = row.get_by_role("button", name=f"Delete {label}")
    assert rgb(page, ".btn-warning")[0] > 150 > rgb(page, ".btn-warning")[2]  # orange
    assert rgb(page, ".btn-danger")[0] > 150 > rgb(page, ".btn-danger")[1]  # red
    expect(revoke).to_have_class(re.compile("btn-warning"))
    expect(delete).to_have_class(re.compile("btn-danger"))

    revoke.click()  # asked first (issue 19), then at once, as the spec's Revoke acts
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Revoke {label}? Requests signed with it are refused at once.")
    expect(dialog.get_by_role("button", name="Revoke")).to_have_class(re.compile("btn-warning"))
    dialog.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(row.get_by_role("cell").nth(3)).to_have_text("Revoked")
    expect(row.get_by_role("button", name=f"Revoke {label}")).to_have_count(0)
    assert denied(lambda: scoped.get_object(Bucket="granted-bucket", Key="hello.txt")) == (
        "AccessDenied"
    )

    row.get_by_role("button", name=f"Delete {label}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete the access key {label} ({key_id}) permanently?")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("deleted")
    expect(page.get_by_role("row").filter(has_text=key_id)).to_have_count(0)
    assert denied(lambda: scoped.list_buckets()) in ("InvalidAccessKeyId", "AccessDenied")


def test_all_buckets_key_and_form_errors(signed_in: Tab, server: LiveServer, s3: Any) -> None:
    page = signed_in.open("/storage/access-keys/new")
    page.get_by_label("Label").fill("   ")  # passes the browser's "required", not the server
    page.get_by_role("button", name="Create Access Key").click()
    expect(page.get_by_role("alert")).to_contain_text("Label must be 1-128 characters")
    page.get_by_label("Label").fill("Needs a bucket")
    page.get_by_label("Specific Buckets").check()
    page.get_by_role("button", name="Create Access Key").click()
    expect(page.get_by_role("alert")).to_contain_text("Specific Buckets needs at least one bucket")
    expect(page.get_by_label("Label")).to_have_value("Needs a bucket")
    expect(page.get_by_label("Specific Buckets")).to_be_checked()

    page.get_by_label("All Buckets").check()
    page.get_by_role("button", name="Create Access Key").click()
    key_id = page.get_by_role("textbox", name="Access Key ID").input_value()
    secret = page.get_by_role("textbox", name="Secret Access Key").input_value()
    snippet = page.locator("#snippet-boto3").text_content() or ""
    assert server.endpoint in snippet and key_id in snippet
    guide_screenshot(page, "storage", "access-key-created")
    everything = s3_client(server, key_id, secret)
    everything.create_bucket(Bucket="made-later")  # All Buckets includes ones created later
    everything.put_object(Bucket="made-later", Key="k", Body=b"v")
    page = signed_in.open("/storage/access-keys")
    expect(page.get_by_role("row").filter(has_text=key_id)).to_contain_text("All Buckets")
    readme_screenshot(page, "access-keys")


def test_revoke_asks_first_without_javascript(
    plain_tab: Tab, server: LiveServer, user: str
) -> None:
    """Without script no dialog opens: the server's own confirmation page asks (issue 19),
    for an access key as for an API key, and Cancel changes nothing."""
    key = server.key(user, label="nightly")
    plain_tab.sign_in(user)
    page = plain_tab.open("/storage/access-keys")
    row = page.get_by_role("row").filter(has_text=key.access_key_id)
    row.get_by_role("button", name="Revoke nightly").click()
    expect(page.get_by_role("heading", name="Revoke the access key nightly?")).to_be_visible()
    expect(
        page.get_by_text(f"Requests signed with {key.access_key_id} are refused at once")
    ).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(row.get_by_role("cell").nth(3)).to_have_text("Active")  # cancelled: still works
    assert server.client(key).list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200

    row.get_by_role("button", name="Revoke nightly").click()
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(row.get_by_role("cell").nth(3)).to_have_text("Revoked")

    # An API key's Revoke asks the same way.
    server.api_key(user, name="ci-token")
    page = plain_tab.open("/account/api-keys")
    page.get_by_role("button", name="Revoke ci-token").click()
    expect(page.get_by_role("heading", name="Revoke the API key ci-token?")).to_be_visible()
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_have_text("API key ci-token revoked.")
