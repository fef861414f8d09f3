"""CORS on the S3 endpoint: preflights and the headers of actual requests, over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from defusedxml.ElementTree import fromstring

from tests.compat.test_metering import restart, row, usage
from tests.live import REGION, Key, LiveServer

APP = "https://app.example.com"
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
    "are not whitelisted by the resource's CORS spec."
)
SITE_RULE: dict[str, Any] = {
    "AllowedOrigins": [APP, "https://*.example.org"],
    "AllowedMethods": ["PUT", "GET"],
    "AllowedHeaders": ["content-type", "x-amz-*"],
    "ExposeHeaders": ["ETag"],
    "MaxAgeSeconds": 600,
}


def options(
    server: LiveServer, path: str, headers: dict[str, str] | None = None, query: str = ""
) -> httpx.Response:
    url = f"{server.endpoint}{path}" + (f"?{query}" if query else "")
    return httpx.request("OPTIONS", url, headers=headers or {}, timeout=30)


def error(response: httpx.Response) -> dict[str, str]:
    """The S3 error document's fields by name."""
    return {child.tag: child.text or "" for child in fromstring(response.content)}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-") or name == "vary"
    }


@pytest.fixture
def site(s3: Any, bucket: str) -> str:
    """A bucket whose CORS rules let APP (and *.example.org) PUT and GET."""
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [SITE_RULE]})
    return bucket


# --- preflights ----------------------------------------------------------------------------


def test_an_allowed_preflight_answers_the_rule(server: LiveServer, site: str) -> None:
    answer = options(
        server,
        f"/{site}/photos/cat.jpg",
        {
            "Origin": APP,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Content-Type,X-Amz-Meta-Owner",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.content == b""
    assert cors_headers(answer) == {
        "access-control-allow-origin": APP,
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "PUT, GET",
        "access-control-allow-headers": "content-type, x-amz-meta-owner",
        "access-control-expose-headers": "ETag",
        "access-control-max-age": "600",
        "vary": VARY,
    }
    assert answer.headers["x-amz-request-id"]


def test_a_preflight_is_answered_whatever_the_query_of_the_request_it_asks_about(
    server: LiveServer, site: str
) -> None:
    # The parts of a multipart upload, and a presigned URL (its signature is not checked).
    for query in ("partNumber=1&uploadId=abc", "uploads", "X-Amz-Signature=forged&x=1"):
        answer = options(
            server,
            f"/{site}/big.bin",
            {"Origin": "https://cdn.example.org", "Access-Control-Request-Method": "PUT"},
            query,
        )
        assert answer.status_code == 200, (query, answer.text)
        assert answer.headers["access-control-allow-origin"] == "https://cdn.example.org"


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("https://evil.example.com", "PUT", ""),  # origin not listed
        ("https://app.example.com:8443", "GET", ""),  # the port is part of the origin
        (APP, "DELETE", ""),  # method not allowed
        (APP, "PUT", "authorization"),  # a header no AllowedHeader matches
    ],
)
def test_a_refused_preflight_is_403_access_forbidden(
    server: LiveServer, site: str, origin: str, method: str, headers: str
) -> None:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        sent["Access-Control-Request-Headers"] = headers
    answer = options(server, f"/{site}/k", sent)
    assert answer.status_code == 403
    fields = error(answer)
    assert (fields["Code"], fields["Message"]) == ("AccessForbidden", NOT_ALLOWED)
    assert (fields["Method"], fields["ResourceType"]) == (method, "OBJECT")
    assert not cors_headers(answer)


def test_a_refused_preflight_to_the_bucket_url_names_the_bucket(
    server: LiveServer, site: str
) -> None:
    answer = options(server, f"/{site}", {"Origin": APP, "Access-Control-Request-Method": "POST"})
    assert answer.status_code == 403
    assert (error(answer)["Method"], error(answer)["ResourceType"]) == ("POST", "BUCKET")


def test_a_bucket_without_cors_configuration_refuses_every_preflight(
    server: LiveServer, bucket: str
) -> None:
    answer = options(
        server, f"/{bucket}/k", {"Origin": APP, "Access-Control-Request-Method": "GET"}
    )
    assert answer.status_code == 403
    fields = error(answer)
    assert fields["Code"] == "AccessForbidden"
    assert fields["Message"] == "CORSResponse: CORS is not enabled for this bucket."
    assert (fields["Method"], fields["ResourceType"]) == ("GET", "BUCKET")
    # Without a requested method S3 names OPTIONS.
    alone = options(server, f"/{bucket}/k", {"Origin": APP})
    assert (alone.status_code, error(alone)["Method"]) == (403, "OPTIONS")


def test_a_preflight_needs_an_origin_and_a_method(server: LiveServer, site: str) -> None:
    no_origin = options(server, f"/{site}/k", {"Access-Control-Request-Method": "GET"})
    assert no_origin.status_code == 400
    assert error(no_origin)["Code"] == "BadRequest"
    assert error(no_origin)["Message"] == "Insufficient information. Origin request header needed."
    no_method = options(server, f"/{site}/k", {"Origin": APP})
    assert no_method.status_code == 400
    assert error(no_method)["Message"] == "Invalid Access-Control-Request-Method: null"


def test_a_preflight_to_a_missing_bucket(server: LiveServer) -> None:
    answer = options(
        server, "/no-such-bucket-here/k", {"Origin": APP, "Access-Control-Request-Method": "PUT"}
    )
    assert answer.status_code == 403
    fields = error(answer)
    assert (fields["Code"], fields["Message"]) == (
        "AccessForbidden",
        "CORSResponse: Bucket not found",
    )
    assert (fields["Method"], fields["ResourceType"]) == ("PUT", "BUCKET")
    without_origin = options(server, "/no-such-bucket-here/k")
    assert (without_origin.status_code, error(without_origin)["Code"]) == (400, "BadRequest")
    at_the_root = options(server, "/", {"Origin": APP, "Access-Control-Request-Method": "GET"})
    assert error(at_the_root)["Message"] == "CORSResponse: Bucket not found"


def test_a_rule_open_to_every_origin_answers_star_without_credentials(
    server: LiveServer, s3: Any, bucket: str
) -> None:
    rule = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    answer = options(
        server,
        f"/{bucket}/k",
        {"Origin": "http://anything:1234", "Access-Control-Request-Method": "GET"},
    )
    assert answer.status_code == 200
    assert cors_headers(answer) == {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "GET, HEAD",
        "vary": VARY,
    }
    # A rule without AllowedHeader allows no requested header.
    asking = options(
        server,
        f"/{bucket}/k",
        {
            "Origin": "http://anything:1234",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert asking.status_code == 403


def test_a_changed_configuration_applies_at_once(server: LiveServer, s3: Any, site: str) -> None:
    asked = {"Origin": APP, "Access-Control-Request-Method": "GET"}
    assert options(server, f"/{site}/k", asked).status_code == 200
    s3.put_bucket_cors(
        Bucket=site,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": [APP], "AllowedMethods": ["PUT"]}]},
    )
    assert options(server, f"/{site}/k", asked).status_code == 403
    s3.delete_bucket_cors(Bucket=site)
    gone = options(server, f"/{site}/k", asked)
    assert error(gone)["Message"] == "CORSResponse: CORS is not enabled for this bucket."


# --- actual requests -----------------------------------------------------------------------


def test_get_and_put_from_an_allowed_origin_carry_the_headers(
    server: LiveServer, s3: Any, site: str
) -> None:
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": site, "Key": "page.txt"})
    put = httpx.put(put_url, content=b"hello", headers={"Origin": APP}, timeout=30)
    assert put.status_code == 200, put.text
    expected = {
        "access-control-allow-origin": APP,
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "PUT, GET",
        "access-control-expose-headers": "ETag",
        "access-control-max-age": "600",
        "vary": VARY,
    }
    assert cors_headers(put) == expected
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": site, "Key": "page.txt"})
    got = httpx.get(get_url, headers={"Origin": APP}, timeout=30)
    assert (got.status_code, got.content) == (200, b"hello")
    assert cors_headers(got) == expected


def test_an_error_to_an_allowed_origin_carries_the_headers(
    server: LiveServer, s3: Any, site: str
) -> None:
    url = s3.generate_presigned_url("get_object", Params={"Bucket": site, "Key": "missing"})
    missing = httpx.get(url, headers={"Origin": "https://www.example.org"}, timeout=30)
    assert missing.status_code == 404
    assert error(missing)["Code"] == "NoSuchKey"
    assert missing.headers["access-control-allow-origin"] == "https://www.example.org"
    assert missing.headers["vary"] == VARY
    # Refused before any signature is checked: still the bucket's headers.
    unsigned = httpx.get(f"{server.endpoint}/{site}/missing", headers={"Origin": APP}, timeout=30)
    assert unsigned.status_code == 403
    assert unsigned.headers["access-control-allow-origin"] == APP


def test_requests_the_rules_do_not_allow_get_no_cors_headers(
    server: LiveServer, s3: Any, site: str
) -> None:
    s3.put_object(Bucket=site, Key="k", Body=b"data")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": site, "Key": "k"})
    for origin in ("https://evil.example.com", None):
        headers = {"Origin": origin} if origin else {}
        answer = httpx.get(url, headers=headers, timeout=30)
        # The request itself is served: it is the browser that withholds the answer.
        assert (answer.status_code, answer.content) == (200, b"data")
        assert not cors_headers(answer), origin
    # Request headers the rules do not allow, named as a preflight names them (AWS matches
    # them as a preflight's even on an actual request); allowed ones get the headers.
    asking = {"Origin": APP, "Access-Control-Request-Headers": "x-requested-with"}
    answer = httpx.get(url, headers=asking, timeout=30)
    assert (answer.status_code, answer.content) == (200, b"data")
    assert not cors_headers(answer)
    asking["Access-Control-Request-Headers"] = "X-Amz-Meta-Color"
    assert cors_headers(httpx.get(url, headers=asking, timeout=30))
    # DELETE is not among the rule's methods.
    url = s3.generate_presigned_url("delete_object", Params={"Bucket": site, "Key": "k"})
    deleted = httpx.delete(url, headers={"Origin": APP}, timeout=30)
    assert deleted.status_code == 204
    assert not cors_headers(deleted)


def test_a_bucket_without_configuration_adds_nothing(
    server: LiveServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    answer = httpx.get(url, headers={"Origin": APP}, timeout=30)
    assert answer.status_code == 200
    assert not cors_headers(answer)


def test_a_browser_uploads_with_a_presigned_url(server: LiveServer, s3: Any, site: str) -> None:
    """What a page on APP does: preflight, then PUT to a presigned URL, then reads the ETag."""
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": site, "Key": "upload.bin", "ContentType": "image/png"}
    )
    path, query = urlsplit(url).path, urlsplit(url).query
    preflight = options(
        server,
        path,
        {
            "Origin": APP,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
        query,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-headers"] == "content-type"
    put = httpx.put(
        url,
        content=b"\x89PNG...",
        headers={"Origin": APP, "Content-Type": "image/png"},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    assert put.headers["access-control-allow-origin"] == APP
    assert "ETag" in put.headers["access-control-expose-headers"]
    assert put.headers["etag"]
    assert s3.get_object(Bucket=site, Key="upload.bin")["ContentType"] == "image/png"


def test_the_console_origin_has_no_allowance_of_its_own(server: LiveServer, bucket: str) -> None:
    """The console uploads through its own origin (docs/s3-compatibility.md, "CORS"): the S3
    endpoint gives the console's origin nothing the bucket's rules do not."""
    answer = options(
        server, f"/{bucket}/k", {"Origin": server.api_url, "Access-Control-Request-Method": "PUT"}
    )
    assert answer.status_code == 403


def test_virtual_hosted_preflight(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "vh", extra=("--s3-domain", "s3.localtest"))
    live.data_dir.mkdir()
    live.start()
    try:
        key = live.key(live.account("vh-cors@example.com"))
        live.client(key).put_bucket_cors(
            Bucket=_created(live, key, "vhost-cors"),
            CORSConfiguration={"CORSRules": [SITE_RULE]},
        )
        url = f"http://127.0.0.1:{live.s3_port}/a/key"
        asked = {"Origin": APP, "Access-Control-Request-Method": "PUT"}
        answer = httpx.request(
            "OPTIONS", url, headers={"host": "vhost-cors.s3.localtest", **asked}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == APP
        missing = httpx.request(
            "OPTIONS", url, headers={"host": "nothere.s3.localtest", **asked}, timeout=30
        )
        assert error(missing)["Message"] == "CORSResponse: Bucket not found"
        # An actual request addressed by host name gets the headers too.
        signer = boto3.client(
            "s3",
            endpoint_url="http://s3.localtest",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            region_name=REGION,
            config=Config(s3={"addressing_style": "virtual"}),
        )
        presigned = urlsplit(
            signer.generate_presigned_url("put_object", Params={"Bucket": "vhost-cors", "Key": "v"})
        )
        put = httpx.put(
            urlunsplit(presigned._replace(netloc=f"127.0.0.1:{live.s3_port}")),
            content=b"virtual",
            headers={"host": presigned.netloc, "Origin": APP},
            timeout=30,
        )
        assert put.status_code == 200, put.text
        assert put.headers["access-control-allow-origin"] == APP
    finally:
        live.stop()


def _created(live: LiveServer, key: Key, name: str) -> str:
    live.client(key).create_bucket(Bucket=name)
    return name


# --- metering (restarts the module's server: keep last) ------------------------------------


def test_preflights_are_metered_for_the_bucket_owner(
    server: LiveServer, s3: Any, owner: Key, site: str
) -> None:
    allowed = {"Origin": APP, "Access-Control-Request-Method": "GET"}
    refused = {"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"}
    for _ in range(3):
        assert options(server, f"/{site}/k", allowed).status_code == 200
    for _ in range(2):
        assert options(server, f"/{site}/k", refused).status_code == 403
    assert options(server, "/no-such-bucket-here/k", allowed).status_code == 403
    token = server.api_key(owner.account, "cors-usage")
    restart(server)
    counted = row(usage(server, token), site)
    # create_bucket and put_bucket_cors (A), the allowed preflights (B), the refused ones
    # shown but not billed.
    assert (counted["class_a"], counted["class_b"]) == (2, 3)
    assert counted["operations"] == 2 + 3 + 2
