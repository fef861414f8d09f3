"""A bucket's static website from its Settings tab in the console, checked against what S3
clients see and what the website endpoint serves."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import expect

from tests.compat.test_website import public
from tests.console.conftest import XSS, Tab
from tests.console.test_bucket_settings import bucket, s3_error, settings_of, user
from tests.console.test_storage import confirm_dialog
from tests.live import LiveServer

__all__ = ["bucket", "user"]  # fixtures shared with test_bucket_settings


def test_a_bucket_is_served_changed_and_stopped(
    signed_in: Tab, s3: Any, bucket: str, server: LiveServer
) -> None:
    public(s3, bucket)
    s3.put_object(Bucket=bucket, Key="home.html", Body=b"<h1>home</h1>", ContentType="text/html")
    page = settings_of(signed_in, bucket)
    section = page.get_by_role("region", name="Static website")
    expect(section).to_contain_text("Serve this bucket as a static site")
    section.get_by_label("Index document").fill("home.html")
    section.get_by_label("Error document (optional)").fill("404.html")
    page.get_by_role("button", name="Serve as website").click()
    port = server.endpoint.rsplit(":", 1)[1]
    url = f"http://{bucket}.s3-website.localhost:{port}/"
    expect(page.get_by_role("status")).to_have_text(f"{bucket} is served at {url}")
    expect(section.get_by_role("link", name=url)).to_have_attribute("href", url)
    got = s3.get_bucket_website(Bucket=bucket)
    assert got["IndexDocument"] == {"Suffix": "home.html"}
    assert got["ErrorDocument"] == {"Key": "404.html"}
    served = httpx.get(f"{server.endpoint}/", headers={"Host": urlsplit(url).netloc}, timeout=30)
    assert served.status_code == 200 and served.content == b"<h1>home</h1>"

    # Routing rules set by an S3 tool stay when the documents change here.
    rules = [{"Condition": {"KeyPrefixEquals": "a/"}, "Redirect": {"ReplaceKeyPrefixWith": "b/"}}]
    s3.put_bucket_website(
        Bucket=bucket,
        WebsiteConfiguration={"IndexDocument": {"Suffix": "home.html"}, "RoutingRules": rules},
    )
    page = settings_of(signed_in, bucket)
    expect(section).to_contain_text("1 routing rule (set with the API, dcp or aws-cli)")
    section.get_by_label("Index document").fill("index.html")
    page.get_by_role("button", name="Save website").click()
    expect(page.get_by_role("status")).to_have_text(f"{bucket} is served at {url}")
    got = s3.get_bucket_website(Bucket=bucket)
    assert got["IndexDocument"] == {"Suffix": "index.html"} and got["RoutingRules"] == rules

    page.get_by_role("button", name="Stop serving").click()
    confirm_dialog(page, "Stop serving")
    expect(page.get_by_role("status")).to_have_text("The website is no longer served.")
    assert s3_error(s3.get_bucket_website, Bucket=bucket) == "NoSuchWebsiteConfiguration"


def test_a_document_s3_refuses_comes_back_as_typed(signed_in: Tab, s3: Any, bucket: str) -> None:
    page = settings_of(signed_in, bucket)
    section = page.get_by_role("region", name="Static website")
    section.get_by_label("Index document").fill("pages/index.html")
    page.get_by_role("button", name="Serve as website").click()
    expect(page.locator("#website-error")).to_have_text(
        "The IndexDocument Suffix is not well formed"
    )
    expect(section.get_by_label("Index document")).to_have_value("pages/index.html")
    assert s3_error(s3.get_bucket_website, Bucket=bucket) == "NoSuchWebsiteConfiguration"


def test_a_redirect_put_by_an_s3_tool_shows_as_text(signed_in: Tab, s3: Any, bucket: str) -> None:
    s3.put_bucket_website(
        Bucket=bucket, WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": XSS}}
    )
    page = settings_of(signed_in, bucket)
    section = page.get_by_role("region", name="Static website")
    expect(section).to_contain_text(f"Every request is redirected to http://{XSS}")
    expect(page.locator("img[src='x']")).to_have_count(0)
