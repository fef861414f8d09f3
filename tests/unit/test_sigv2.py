"""SigV2 verification re-derives exactly the signatures of botocore's HmacV1Auth/HmacV1QueryAuth."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nexq.storage.s3 import sigv2
from nexq.storage.s3.sigv2 import SigV2Error
from nexq.storage.s3.sigv4 import parse_query

SECRET = "se/cr+et=key~"
CREDENTIALS = Credentials("AKIDEXAMPLE", SECRET)
SESSION = Credentials("AKIDEXAMPLE", SECRET, "session/token+=")

KEYS = [
    "plain.txt",
    "with space/and more  spaces",
    "unicodé/日本語/😀",
    "plus+equals=tilde~",
    "odd!'()*;:@&$,",
    "dir/",
]
QUERIES = [
    "",
    "acl",
    "uploads",
    "list-type=2&prefix=a%2Fb&delimiter=%2F",
    "uploadId=abc%2Bdef&partNumber=3",
    "versionId=v%3D1&response-content-type=text%2Fplain%3B%20charset%3Dutf-8",
    "tagging&versionId=1",
    "delete",
]


def url_for(key: str, query: str = "", host: str = "localhost:9000") -> str:
    url = f"http://{host}/bucket/{quote(key, safe='/~')}"
    return f"{url}?{query}" if query else url


@dataclass
class Received:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


def received(request: AWSRequest) -> Received:
    parts = urlsplit(request.url)
    return Received(request.method, parts.path, parts.query, list(request.headers.items()))


def expected_signature(r: Received, *, bucket: str | None = None, secret: str = SECRET) -> str:
    """The signature the server computes for a request, and the one the client sent."""
    query = parse_query(r.raw_query)
    if sigv2.is_presigned(query):
        credential = sigv2.parse_presigned_query(query)
        date = str(credential.expires)
        # A presigned URL carries the x-amz-* headers it was signed with in its query.
        amz = sigv2.canonical_amz_headers(
            [*r.headers, *((n, v or "") for n, v in query if n.lower().startswith("x-amz-"))]
        )
    else:
        authorization = r.header("authorization")
        assert authorization is not None
        credential = sigv2.parse_authorization_header(authorization)
        date = sigv2.date_line(r.header("date"), r.header("x-amz-date"))
        amz = sigv2.canonical_amz_headers(r.headers)
    sts = sigv2.string_to_sign(
        r.method,
        r.header("content-md5") or "",
        r.header("content-type") or "",
        date,
        amz,
        sigv2.canonical_resource(bucket, r.raw_path, query),
    )
    return sigv2.sign(secret, sts)


def sent_signature(r: Received) -> str:
    query = parse_query(r.raw_query)
    if sigv2.is_presigned(query):
        return sigv2.parse_presigned_query(query).signature
    authorization = r.header("authorization")
    assert authorization is not None
    return sigv2.parse_authorization_header(authorization).signature


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("credentials", [CREDENTIALS, SESSION])
def test_header_signed_requests_verify(key: str, query: str, credentials: Credentials) -> None:
    request = AWSRequest(
        "PUT",
        url_for(key, query),
        headers={
            "Content-Type": "  text/plain ",
            "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==",
            "X-Amz-Meta-B": " 2 ",
            "x-amz-meta-a": "1",
            "Cache-Control": "not signed",
        },
        data=b"hello world",
    )
    HmacV1Auth(credentials).add_auth(request)
    r = received(request)
    assert sigv2.verify(expected_signature(r), sent_signature(r))


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
def test_presigned_urls_verify(key: str, query: str) -> None:
    request = AWSRequest("GET", url_for(key, query), headers={"X-Amz-Meta-B": " 2 "})
    HmacV1QueryAuth(SESSION, expires=600).add_auth(request)
    # The presigned URL is then used on its own, without the headers it was signed with.
    r = received(AWSRequest("GET", request.url))
    credential = sigv2.parse_presigned_query(parse_query(r.raw_query))
    assert credential.access_key_id == "AKIDEXAMPLE"
    assert credential.expires is not None
    assert sigv2.verify(expected_signature(r), credential.signature)


def test_repeated_amz_headers_are_joined() -> None:
    request = AWSRequest("GET", url_for("k"))
    request.headers.add_header("X-Amz-Meta-Multi", " one ")
    request.headers.add_header("x-amz-meta-multi", "two")
    HmacV1Auth(CREDENTIALS).add_auth(request)
    r = received(request)
    assert sigv2.canonical_amz_headers(r.headers)["x-amz-meta-multi"] == "one,two"
    assert sigv2.verify(expected_signature(r), sent_signature(r))


def test_virtual_hosted_request() -> None:
    request = AWSRequest("GET", "http://bucket.localhost:9000/some%20key?acl")
    request.auth_path = "/bucket/some%20key"
    HmacV1Auth(CREDENTIALS).add_auth(request)
    r = received(request)
    assert sigv2.verify(expected_signature(r, bucket="bucket"), sent_signature(r))
    assert not sigv2.verify(expected_signature(r), sent_signature(r))


def test_any_change_to_the_request_changes_the_signature() -> None:
    request = AWSRequest(
        "PUT",
        url_for("k", "uploadId=1&partNumber=2"),
        headers={"Content-Type": "a/b", "Content-MD5": "md5", "X-Amz-Meta-A": "1"},
    )
    HmacV1Auth(CREDENTIALS).add_auth(request)
    r = received(request)
    sent = sent_signature(r)
    assert expected_signature(r) == sent

    def changed(**fields: Any) -> Received:
        return dataclasses.replace(r, **fields)

    def replace_header(name: str, value: str) -> list[tuple[str, str]]:
        return [(k, value if k.lower() == name else v) for k, v in r.headers]

    variants = [
        changed(method="POST"),
        changed(raw_path=r.raw_path + "x"),
        changed(raw_query="uploadId=1&partNumber=3"),
        changed(raw_query="uploadId=1&partNumber=2&acl"),
        changed(headers=replace_header("content-type", "a/c")),
        changed(headers=replace_header("content-md5", "other")),
        changed(headers=replace_header("x-amz-meta-a", "2")),
        changed(headers=replace_header("date", "Thu, 01 Jan 2099 00:00:00 GMT")),
        changed(headers=[*r.headers, ("x-amz-meta-new", "1")]),
    ]
    for variant in variants:
        assert expected_signature(variant) != sent, variant
    assert expected_signature(r, secret=SECRET + "x") != sent
    # Parameters outside S3's sub-resources are not signed.
    assert expected_signature(changed(raw_query=r.raw_query + "&list-type=2")) == sent


# ------------------------------------------------------------------------- pieces


def test_string_to_sign_layout() -> None:
    sts = sigv2.string_to_sign(
        "PUT",
        " md5 ",
        "text/plain",
        "Tue, 27 Mar 2007 21:15:45 +0000",
        {"x-amz-meta-b": "2", "x-amz-acl": "public-read"},
        "/bucket/k",
    )
    assert sts == (
        "PUT\nmd5\ntext/plain\nTue, 27 Mar 2007 21:15:45 +0000\n"
        "x-amz-acl:public-read\nx-amz-meta-b:2\n/bucket/k"
    )
    assert sigv2.string_to_sign("GET", "", "", "", {}, "/") == "GET\n\n\n\n/"


def test_aws_documentation_example() -> None:
    # The "Object GET" example of S3's REST authentication (SigV2) documentation.
    sts = sigv2.string_to_sign(
        "GET",
        "",
        "",
        "Tue, 27 Mar 2007 19:36:42 +0000",
        {},
        "/awsexamplebucket1/photos/puppy.jpg",
    )
    assert sigv2.sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sts) == (
        "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
    )


def test_date_line() -> None:
    assert sigv2.date_line("Tue, 27 Mar 2007 19:36:42 +0000", None) == (
        "Tue, 27 Mar 2007 19:36:42 +0000"
    )
    assert (
        sigv2.date_line("Tue, 27 Mar 2007 19:36:42 +0000", "Tue, 27 Mar 2007 21:20:26 +0000") == ""
    )
    assert sigv2.date_line(None, None) == ""


def test_canonical_resource() -> None:
    query = parse_query(
        "versionId=a%2Fb&uploads&list-type=2&acl=&partNumber=2&uploadId=x"
        "&response-content-type=text%2Fplain&prefix=p"
    )
    assert sigv2.canonical_resource(None, "/bucket/k%20x", query) == (
        "/bucket/k%20x?acl=&partNumber=2&response-content-type=text/plain"
        "&uploadId=x&uploads&versionId=a/b"
    )
    assert sigv2.canonical_resource(None, "/bucket/", []) == "/bucket/"
    assert sigv2.canonical_resource("bucket", "/", [("acl", None)]) == "/bucket/?acl"
    assert sigv2.canonical_resource("bucket", b"/k\xff", []) == "/bucket/k\udcff"
    assert sigv2.canonical_resource(None, "", []) == "/"


def test_parse_authorization_header() -> None:
    credential = sigv2.parse_authorization_header("AWS AKID:abc/def+=")
    assert credential == sigv2.SigV2Credential("AKID", "abc/def+=")
    for bad in ["AWS4-HMAC-SHA256 Credential=x", "AWS AKID", "AWS :sig", "AWS AKID:", "Basic x"]:
        with pytest.raises(SigV2Error):
            sigv2.parse_authorization_header(bad)


def test_parse_presigned_query() -> None:
    query = [("AWSAccessKeyId", "AKID"), ("Signature", "s+/="), ("Expires", "1700000000")]
    assert sigv2.parse_presigned_query(query) == sigv2.SigV2Credential("AKID", "s+/=", 1700000000)
    for bad in [query[:2], [*query[:2], ("Expires", "soon")], [*query, ("Signature", "again")]]:
        with pytest.raises(SigV2Error):
            sigv2.parse_presigned_query(bad)
    assert sigv2.is_presigned(query)
    assert not sigv2.is_presigned([("acl", None)])


def test_verify() -> None:
    assert sigv2.verify("abc=", "abc=")
    assert not sigv2.verify("abc=", "abd=")
    assert not sigv2.verify("abc=", "é")
