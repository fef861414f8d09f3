"""dcp storage buckets website, run as a real process against a live server, and the same
configuration through aws-cli (``aws s3 website``, ``s3api get-bucket-website``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from tests.cli.conftest import Dcp
from tests.cli.test_bucket_settings import _bucket, _file

RULES = [{"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "new/"}}]


def test_serve_show_and_stop_a_website(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = _bucket(user, bucket_name)
    user.fails(4, "storage", "buckets", "website", bucket)  # not served yet
    shown = user(
        "storage",
        "buckets",
        "website",
        bucket,
        "--index-document",
        "index.html",
        "--error-document",
        "404.html",
    ).stdout
    url = user.json("storage", "buckets", "website", bucket)["url"]
    assert urlsplit(url).hostname == f"{bucket}.s3-website.localhost"
    assert shown == (
        f"url:            {url}\n"
        "index_document: index.html\n"
        "error_document: 404.html\n"
        "routing_rules:  0\n"
    )
    # The site answers at that address (nothing is public yet: 403, as an HTML page).
    parts = urlsplit(url)
    page = httpx.get(f"http://127.0.0.1:{parts.port}/", headers={"Host": parts.netloc}, timeout=30)
    assert page.status_code == 403 and "<li>Code: AccessDenied</li>" in page.text

    said = user("storage", "buckets", "website", bucket, "--delete").stdout
    assert said == f"Bucket {bucket} is no longer served as a website\n"
    user.fails(4, "storage", "buckets", "website", bucket)


def test_a_file_in_aws_clis_shape_and_aws_cli_itself(
    user: Dcp, bucket_name: Callable[[], str]
) -> None:
    bucket = _bucket(user, bucket_name)
    user("storage", "keys", "create", "--label", "cli", "--aws-profile", "nexq-site")
    document = {"IndexDocument": {"Suffix": "index.html"}, "RoutingRules": RULES}
    user("storage", "buckets", "website", bucket, "--set", _file(user, "site.json", document))
    got = user.aws("--profile", "nexq-site", "s3api", "get-bucket-website", "--bucket", bucket)
    assert json.loads(got.stdout) == document
    assert "routing_rules:  1" in user("storage", "buckets", "website", bucket).stdout

    # aws-cli's own command, read back through dcp.
    user.aws(
        "--profile",
        "nexq-site",
        "s3",
        "website",
        f"s3://{bucket}",
        "--index-document",
        "home.html",
        "--error-document",
        "oops.html",
    )
    shown = user.json("storage", "buckets", "website", bucket)
    assert shown["IndexDocument"] == {"Suffix": "home.html"}
    assert shown["ErrorDocument"] == {"Key": "oops.html"}

    redirect = {"RedirectAllRequestsTo": {"HostName": "www.example.com"}}
    user("storage", "buckets", "website", bucket, "--set", _file(user, "r.json", redirect))
    assert (
        "redirect_all: http://www.example.com"
        in user("storage", "buckets", "website", bucket).stdout
    )


def test_what_is_refused_says_why(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = _bucket(user, bucket_name)
    refused = user.fails(
        6, "storage", "buckets", "website", bucket, "--index-document", "a/index.html"
    )
    assert "The IndexDocument Suffix is not well formed" in refused
    both = {
        "IndexDocument": {"Suffix": "index.html"},
        "RedirectAllRequestsTo": {"HostName": "example.com"},
    }
    refused = user.fails(
        6, "storage", "buckets", "website", bucket, "--set", _file(user, "both.json", both)
    )
    assert "RedirectAllRequestsTo cannot be provided in conjunction" in refused
    user.fails(2, "storage", "buckets", "website", bucket, "--error-document", "404.html")
    user.fails(2, "storage", "buckets", "website", bucket, "--index-document", "i.html", "--delete")
    user.fails(4, "storage", "buckets", "website", bucket)  # nothing was stored
