"""Static website hosting: Put/Get/DeleteBucketWebsite through boto3, and the website
endpoint (``<bucket>.s3-website.localhost``) as a browser reaches it, over real HTTP."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.compat.test_metering import restart, row, usage
from tests.live import LiveServer

WEBSITE_DOMAIN = "s3-website.localhost"  # the server's default (NEXQ_S3_WEBSITE_DOMAIN)
_n = itertools.count()
SITE = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"}}


def visit(
    server: LiveServer,
    bucket: str,
    path: str = "/",
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A request to the bucket's website, as a browser sends it (unsigned, by host name)."""
    port = server.endpoint.rsplit(":", 1)[1]
    host = {"Host": f"{bucket}.{WEBSITE_DOMAIN}:{port}", **(headers or {})}
    return httpx.request(method, f"{server.endpoint}{path}", headers=host, timeout=30)


def public(s3: Any, bucket: str) -> None:
    """Open the bucket's objects to anyone, as a website's are (a new bucket blocks it)."""
    s3.delete_public_access_block(Bucket=bucket)
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )


def put(s3: Any, bucket: str, key: str, body: bytes, **extra: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/html", **extra)


@pytest.fixture
def site(s3: Any, bucket: str) -> str:
    """A public bucket serving index.html, docs/index.html and error.html as a website."""
    public(s3, bucket)
    put(s3, bucket, "index.html", b"<h1>home</h1>")
    put(s3, bucket, "docs/index.html", b"<h1>docs</h1>")
    put(s3, bucket, "docs/page.html", b"<h1>page</h1>")
    put(s3, bucket, "error.html", b"<h1>oops</h1>")
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=SITE)
    return bucket


# --- the configuration ---------------------------------------------------------------------


def test_the_configuration_round_trips_and_is_deleted(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_website(Bucket=bucket)
    assert code(missing) == "NoSuchWebsiteConfiguration" and status(missing) == 404
    assert missing.value.response["Error"]["BucketName"] == bucket
    rules = [
        {
            "Condition": {"KeyPrefixEquals": "old/"},
            "Redirect": {"ReplaceKeyPrefixWith": "new/", "HttpRedirectCode": "302"},
        },
        {
            "Condition": {"HttpErrorCodeReturnedEquals": "404"},
            "Redirect": {"HostName": "example.com", "Protocol": "https"},
        },
    ]
    config = {**SITE, "RoutingRules": rules}
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=config)
    got = s3.get_bucket_website(Bucket=bucket)
    assert got["IndexDocument"] == {"Suffix": "index.html"}
    assert got["ErrorDocument"] == {"Key": "error.html"}
    assert got["RoutingRules"] == rules
    redirect_all = {"RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "https"}}
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=redirect_all)
    got = s3.get_bucket_website(Bucket=bucket)
    assert got["RedirectAllRequestsTo"] == redirect_all["RedirectAllRequestsTo"]
    assert "IndexDocument" not in got
    assert s3.delete_bucket_website(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as gone:
        s3.get_bucket_website(Bucket=bucket)
    assert code(gone) == "NoSuchWebsiteConfiguration"
    s3.delete_bucket_website(Bucket=bucket)  # nothing to delete is no error (as AWS)


def rules(*rule: dict[str, Any]) -> dict[str, Any]:
    return {**SITE, "RoutingRules": list(rule)}


TO_EXAMPLE = {"Redirect": {"HostName": "example.com"}}


@pytest.mark.parametrize(
    ("config", "error", "argument"),
    [
        ({"ErrorDocument": {"Key": "error.html"}}, "InvalidArgument", "IndexDocument"),
        ({"IndexDocument": {"Suffix": ""}}, "InvalidArgument", "IndexDocument"),
        ({"IndexDocument": {"Suffix": "/index.html"}}, "InvalidArgument", "IndexDocument"),
        (
            {**SITE, "RedirectAllRequestsTo": {"HostName": "example.com"}},
            "InvalidArgument",
            "RedirectAllRequestsTo",
        ),
        (
            {"RedirectAllRequestsTo": {"HostName": "a.com", "Protocol": "ftp"}},
            "InvalidRequest",
            None,
        ),
        (rules({"Redirect": {"Protocol": "protocol"}}), "InvalidRequest", None),
        (
            rules({"Redirect": {"ReplaceKeyWith": "a", "ReplaceKeyPrefixWith": "b"}}),
            "InvalidRequest",
            None,
        ),
        (rules({"Condition": {}, **TO_EXAMPLE}), "InvalidRequest", None),
        (rules({"Redirect": {"HttpRedirectCode": "300"}}), "InvalidRequest", None),
        (rules({"Redirect": {"HttpRedirectCode": "314"}}), "InvalidRequest", None),
        (
            rules({"Condition": {"HttpErrorCodeReturnedEquals": "200"}, **TO_EXAMPLE}),
            "InvalidRequest",
            None,
        ),
        (rules(*[TO_EXAMPLE] * 51), "InvalidRequest", None),
        (rules(), "MalformedXML", None),
    ],
)
def test_a_configuration_s3_refuses_is_refused_naming_what(
    s3: Any, bucket: str, config: dict[str, Any], error: str, argument: str | None
) -> None:
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=config)
    assert code(refused) == error and status(refused) == 400
    assert refused.value.response["Error"].get("ArgumentName") == argument
    with pytest.raises(ClientError) as kept:  # nothing was stored
        s3.get_bucket_website(Bucket=bucket)
    assert code(kept) == "NoSuchWebsiteConfiguration"


def test_an_object_redirect_must_be_a_path_or_a_url(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as refused:
        put(s3, bucket, "a.html", b"", WebsiteRedirectLocation="elsewhere.html")
    assert code(refused) == "InvalidRedirectLocation" and status(refused) == 400
    put(s3, bucket, "a.html", b"", WebsiteRedirectLocation="/b.html")
    head = s3.head_object(Bucket=bucket, Key="a.html")
    assert head["WebsiteRedirectLocation"] == "/b.html"
    # As S3: a copy never takes its source's redirect, only the one the request names...
    s3.copy_object(Bucket=bucket, Key="c.html", CopySource={"Bucket": bucket, "Key": "a.html"})
    assert "WebsiteRedirectLocation" not in s3.head_object(Bucket=bucket, Key="c.html")
    s3.copy_object(
        Bucket=bucket,
        Key="d.html",
        CopySource={"Bucket": bucket, "Key": "a.html"},
        WebsiteRedirectLocation="https://example.com/d",
    )
    head = s3.head_object(Bucket=bucket, Key="d.html")
    assert head["WebsiteRedirectLocation"] == "https://example.com/d"
    assert head["ContentType"] == "text/html"  # the rest is copied
    # ...and naming one makes a copy onto itself legal.
    s3.copy_object(
        Bucket=bucket,
        Key="a.html",
        CopySource={"Bucket": bucket, "Key": "a.html"},
        WebsiteRedirectLocation="/e.html",
    )
    assert s3.head_object(Bucket=bucket, Key="a.html")["WebsiteRedirectLocation"] == "/e.html"


# --- the website endpoint ------------------------------------------------------------------


def test_folders_answer_their_index_document(server: LiveServer, site: str) -> None:
    home = visit(server, site)
    assert home.status_code == 200 and home.content == b"<h1>home</h1>"
    assert home.headers["content-type"] == "text/html"
    assert visit(server, site, "/docs/").content == b"<h1>docs</h1>"
    assert visit(server, site, "/docs/page.html").content == b"<h1>page</h1>"
    # A folder named without its slash is sent to it, so its relative links resolve.
    folder = visit(server, site, "/docs")
    assert folder.status_code == 302 and folder.headers["location"] == "/docs/"
    head = visit(server, site, "/docs/", "HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(b"<h1>docs</h1>"))
    # Conditions and ranges hold, as on the REST endpoint.
    etag = home.headers["etag"]
    port = server.endpoint.rsplit(":", 1)[1]
    host = {"Host": f"{site}.{WEBSITE_DOMAIN}:{port}"}
    with httpx.Client(base_url=server.endpoint, headers=host, timeout=30) as browser:
        # A browser revalidating its cache, then asking again on the same connection.
        cached = browser.get("/", headers={"If-None-Match": etag})
        assert cached.status_code == 304 and cached.content == b""
        assert browser.get("/docs/").content == b"<h1>docs</h1>"
    ranged = visit(server, site, "/", headers={"Range": "bytes=4-7"})
    assert ranged.status_code == 206 and ranged.content == b"home"


def test_the_buckets_cors_rules_apply_to_its_website(
    server: LiveServer, site: str, s3: Any
) -> None:
    """A site's fonts or scripts fetched from another origin: the website answers with the
    bucket's CORS rules, preflights included, as the REST endpoint does."""
    origin = {"Origin": "https://app.example.com"}
    assert "access-control-allow-origin" not in visit(server, site, headers=origin).headers
    refused = visit(server, site, "/index.html", "OPTIONS", {**origin,
                    "Access-Control-Request-Method": "GET"})  # fmt: skip
    assert refused.status_code == 403 and "CORS is not enabled" in refused.text
    s3.put_bucket_cors(
        Bucket=site,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": ["https://*.example.com"],
                    "AllowedMethods": ["GET", "HEAD"],
                    "AllowedHeaders": ["range"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )
    page = visit(server, site, "/docs/", headers=origin)
    assert page.content == b"<h1>docs</h1>"
    assert page.headers["access-control-allow-origin"] == "https://app.example.com"
    assert (
        page.headers["vary"]
        == "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
    )
    missing = visit(server, site, "/nothing.html", headers=origin)  # errors too
    assert missing.status_code == 403
    assert missing.headers["access-control-allow-origin"] == "https://app.example.com"
    other = visit(server, site, headers={"Origin": "https://elsewhere.org"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    preflight = visit(server, site, "/index.html", "OPTIONS", {**origin,
                      "Access-Control-Request-Method": "GET",
                      "Access-Control-Request-Headers": "Range"})  # fmt: skip
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-methods"] == "GET, HEAD"
    assert preflight.headers["access-control-max-age"] == "600"
    put_refused = visit(server, site, "/index.html", "OPTIONS", {**origin,
                        "Access-Control-Request-Method": "PUT"})  # fmt: skip
    assert put_refused.status_code == 403
    assert visit(server, site, "/index.html", "OPTIONS").status_code == 400  # no Origin


def test_a_missing_page_is_the_error_document_with_its_status(
    server: LiveServer, site: str, s3: Any
) -> None:
    missing = visit(server, site, "/no/such/page.html")
    # A bucket that does not let anyone list it answers 403 for a missing key, as AWS.
    assert missing.status_code == 403 and missing.content == b"<h1>oops</h1>"
    assert missing.headers["content-type"] == "text/html"
    s3.delete_object(Bucket=site, Key="error.html")
    bare = visit(server, site, "/no/such/page.html")
    assert bare.status_code == 403
    assert bare.headers["content-type"] == "text/html; charset=utf-8"
    text = bare.text
    assert "<title>403 Forbidden</title>" in text and "<li>Code: AccessDenied</li>" in text
    assert "An Error Occurred While Attempting to Retrieve a Custom Error Document" in text
    assert "<li>Key: error.html</li>" in text


def test_without_an_error_document_errors_are_html_pages(
    server: LiveServer, s3: Any, bucket: str
) -> None:
    public(s3, bucket)
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    nowhere = visit(server, bucket)
    assert nowhere.status_code == 404
    assert "<li>Code: NoSuchWebsiteConfiguration</li>" in nowhere.text
    assert f"<li>BucketName: {bucket}</li>" in nowhere.text
    s3.put_bucket_website(
        Bucket=bucket, WebsiteConfiguration={"IndexDocument": SITE["IndexDocument"]}
    )
    missing = visit(server, bucket, "/gone.html")  # listing is open: 404, not 403
    assert missing.status_code == 404
    assert "<title>404 Not Found</title>" in missing.text
    assert "<li>Code: NoSuchKey</li>" in missing.text and "<li>Key: gone.html</li>" in missing.text
    assert "<li>RequestId: " in missing.text and "<li>HostId: " in missing.text
    folder = visit(server, bucket, "/gone/")
    assert folder.status_code == 404 and "<li>Key: gone/index.html</li>" in folder.text
    no_bucket = visit(server, "no-such-bucket-here")
    assert no_bucket.status_code == 404 and "<li>Code: NoSuchBucket</li>" in no_bucket.text
    refused = visit(server, bucket, "/", "PUT")
    assert refused.status_code == 405 and "<li>Code: MethodNotAllowed</li>" in refused.text
    assert visit(server, bucket, "/gone.html", "HEAD").content == b""


def test_private_objects_are_not_served(server: LiveServer, s3: Any, bucket: str) -> None:
    put(s3, bucket, "index.html", b"<h1>private</h1>")
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=SITE)
    refused = visit(server, bucket)
    assert refused.status_code == 403 and "<li>Code: AccessDenied</li>" in refused.text
    assert "private" not in refused.text
    # Credentials sent to the website endpoint change nothing: it serves anyone the same.
    port = server.endpoint.rsplit(":", 1)[1]
    signed = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "index.html"})
    query = signed.split("?", 1)[1]
    again = httpx.get(
        f"{server.endpoint}/index.html?{query}",
        headers={"Host": f"{bucket}.{WEBSITE_DOMAIN}:{port}"},
        timeout=30,
    )
    assert again.status_code == 403


def test_redirects_from_rules_objects_and_the_whole_bucket(
    server: LiveServer, site: str, s3: Any
) -> None:
    port = server.endpoint.rsplit(":", 1)[1]
    rules = [
        {
            "Condition": {"KeyPrefixEquals": "old/"},
            "Redirect": {"ReplaceKeyPrefixWith": "docs/", "HttpRedirectCode": "302"},
        },
        {"Condition": {"KeyPrefixEquals": "moved.html"}, "Redirect": {"ReplaceKeyWith": "docs/"}},
        {
            "Condition": {"KeyPrefixEquals": "app/", "HttpErrorCodeReturnedEquals": "403"},
            "Redirect": {"HostName": "app.example.com", "Protocol": "https"},
        },
    ]
    s3.put_bucket_website(Bucket=site, WebsiteConfiguration={**SITE, "RoutingRules": rules})
    prefixed = visit(server, site, "/old/page.html")
    assert prefixed.status_code == 302
    assert prefixed.headers["location"] == f"http://{site}.{WEBSITE_DOMAIN}:{port}/docs/page.html"
    replaced = visit(server, site, "/moved.html")
    assert replaced.status_code == 301
    assert replaced.headers["location"] == f"http://{site}.{WEBSITE_DOMAIN}:{port}/docs/"
    # An error rule applies only when the request meets that error.
    on_error = visit(server, site, "/app/missing")
    assert on_error.status_code == 301
    assert on_error.headers["location"] == "https://app.example.com/app/missing"
    put(s3, site, "app/there.html", b"<h1>app</h1>")
    assert visit(server, site, "/app/there.html").content == b"<h1>app</h1>"
    # An object's own redirect.
    put(s3, site, "legacy.html", b"", WebsiteRedirectLocation="https://example.org/new")
    legacy = visit(server, site, "/legacy.html")
    assert legacy.status_code == 301 and legacy.headers["location"] == "https://example.org/new"
    # Every request elsewhere, keys kept.
    everything = {"RedirectAllRequestsTo": {"HostName": "www.example.com"}}
    s3.put_bucket_website(Bucket=site, WebsiteConfiguration=everything)
    sent = visit(server, site, "/docs/page.html")
    assert sent.status_code == 301
    assert sent.headers["location"] == "http://www.example.com/docs/page.html"


def test_the_rest_endpoint_is_unchanged_by_a_website(
    server: LiveServer, site: str, s3: Any
) -> None:
    # A website configuration changes what the website endpoint serves, not the API.
    listing = s3.list_objects_v2(Bucket=site)
    assert {o["Key"] for o in listing["Contents"]} >= {"index.html", "error.html"}
    page = httpx.get(f"{server.endpoint}/{site}/docs/", timeout=30)
    assert page.status_code in (403, 404) and b"<Error>" in page.content


def test_website_requests_are_metered_to_the_buckets_owner(server: LiveServer) -> None:
    email = server.account(f"site-owner-{next(_n)}@example.com")
    owner = server.client(server.key(email))
    bucket = f"metered-site-{next(_n)}"
    owner.create_bucket(Bucket=bucket)  # A
    public(owner, bucket)  # DeletePublicAccessBlock (not billed), PutBucketPolicy (A)
    put(owner, bucket, "index.html", b"<h1>home</h1>")  # A
    rules = [{"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyWith": "/"}}]
    owner.put_bucket_website(  # A
        Bucket=bucket, WebsiteConfiguration={**SITE, "RoutingRules": rules}
    )
    assert visit(server, bucket).status_code == 200  # B, 13 bytes out
    assert visit(server, bucket, "/old/page").status_code == 301  # B: a redirect
    # Refused before the bucket is looked up, as S3 refuses it: counted for nobody.
    assert visit(server, bucket, "/", "POST").status_code == 405
    assert visit(server, bucket, "/gone.html").status_code == 403  # refused: not billed
    token = server.api_key(email, "site-usage")
    restart(server)
    counted = row(usage(server, token), bucket)
    assert (counted["class_a"], counted["class_b"]) == (4, 2)
    assert counted["data_out_bytes"] == len(b"<h1>home</h1>")
    assert counted["operations"] == 5 + 3
