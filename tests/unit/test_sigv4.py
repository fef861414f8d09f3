"""SigV4 verification re-derives exactly the signatures botocore (pure Python and CRT) makes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.crt.auth import CrtS3SigV4Auth, CrtS3SigV4QueryAuth

from nexq.storage.s3 import sigv4
from nexq.storage.s3.sigv4 import SigV4Error

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CREDENTIALS = Credentials("AKIDEXAMPLE", SECRET)
SESSION = Credentials("ASIAEXAMPLE", SECRET, "session/token+=")

KEYS = [
    "plain.txt",
    "with space/and more  spaces",
    "unicodé/日本語/😀",
    "plus+equals=tilde~",
    "odd!'()*;:@&$,?#[]",
    "dir/",
    "a%2Fb literal percent",
]
QUERIES = [
    "",
    "list-type=2&prefix=a%2Fb&delimiter=%2F",
    "uploads",
    "uploadId=abc%2Bdef&partNumber=3",
    "versionId=v%3D1&response-content-type=text%2Fplain%3B%20charset%3Dutf-8",
    "prefix=%E2%82%AC%20x&max-keys=10&marker=a~b",
]
HEADER_SIGNERS = [S3SigV4Auth, CrtS3SigV4Auth]
QUERY_SIGNERS = [S3SigV4QueryAuth, CrtS3SigV4QueryAuth]


def url_for(key: str, query: str = "", host: str = "localhost:9000") -> str:
    """The URL botocore's serializer makes: the key quoted with '/' and '~' kept."""
    url = f"http://{host}/bucket/{quote(key, safe='/~')}"
    return f"{url}?{query}" if query else url


@dataclass
class Received:
    """A signed request as the server sees it."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, list[str]]


def received(request: AWSRequest) -> Received:
    """What would arrive on the wire for a request botocore signed."""
    parts = urlsplit(request.url)
    headers: dict[str, list[str]] = {}
    # request.headers (not .prepare()) keeps repeated headers, which botocore signs.
    for name, value in request.headers.items():
        raw = value.encode("latin-1") if isinstance(value, str) else value
        headers.setdefault(name.lower(), []).append(sigv4.decode_header_value(raw))
    headers.setdefault("host", [parts.netloc])
    return Received(request.method, parts.path, parts.query, headers)


def header(r: Received, name: str) -> str | None:
    values = r.headers.get(name)
    return values[0] if values else None


def server_signatures(
    r: Received,
    *,
    secret: str = SECRET,
    cache: sigv4.SigningKeyCache | None = None,
) -> tuple[sigv4.SigV4Credential, list[str]]:
    """Parse the request's credential and compute every signature it may legitimately carry."""
    query = sigv4.parse_query(r.raw_query)
    presigned = sigv4.is_presigned(query)
    if presigned:
        credential = sigv4.parse_presigned_query(query)
        assert credential.amz_date is not None
        amz_date = credential.amz_date
        payload_hash = sigv4.UNSIGNED_PAYLOAD
    else:
        authorization = header(r, "authorization")
        assert authorization is not None
        credential = sigv4.parse_authorization_header(authorization)
        amz_date = sigv4.request_amz_date(header(r, "x-amz-date"), header(r, "date"))
        payload_hash = header(r, "x-amz-content-sha256") or sigv4.EMPTY_SHA256
    key = (cache or sigv4.SigningKeyCache()).key(
        secret, credential.date, credential.region, credential.service
    )
    signatures = [
        sigv4.signature(key, sigv4.string_to_sign(amz_date, credential.scope, canonical))
        for canonical in sigv4.canonical_request_variants(
            r.method,
            r.raw_path,
            r.raw_query,
            r.headers,
            credential.signed_headers,
            payload_hash,
            exclude_signature=presigned,
        )
    ]
    return credential, signatures


def accepted(r: Received, **kwargs: object) -> bool:
    credential, signatures = server_signatures(r, **kwargs)  # type: ignore[arg-type]
    return any(sigv4.verify(s, credential.signature) for s in signatures)


# ------------------------------------------------------------------ against botocore


@pytest.mark.parametrize("signer", HEADER_SIGNERS)
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
def test_header_signed_requests_verify(signer: type, key: str, query: str) -> None:
    request = AWSRequest(
        "PUT",
        url_for(key, query),
        headers={
            "Content-Type": "text/plain",
            "X-Amz-Meta-Spaced": "  several   spaces\tand tab  ",
            "X-Amz-Meta-Mark": "+=~/",
        },
        data=b"hello world",
    )
    signer(CREDENTIALS, "s3", "us-east-1").add_auth(request)
    r = received(request)
    credential, signatures = server_signatures(r)
    # An SDK's URL is already canonical, so the first form must be the one that matches.
    assert sigv4.verify(signatures[0], credential.signature)


@pytest.mark.parametrize("signer", QUERY_SIGNERS)
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
def test_presigned_urls_verify(signer: type, key: str, query: str) -> None:
    request = AWSRequest("GET", url_for(key, query))
    signer(SESSION, "s3", "eu-west-3", expires=900).add_auth(request)
    r = received(request)
    credential, signatures = server_signatures(r)
    assert credential.expires == 900
    assert credential.region == "eu-west-3"
    assert credential.amz_date is not None
    assert credential.date == credential.amz_date[:8]
    assert sigv4.verify(signatures[0], credential.signature)


@pytest.mark.parametrize("signer", HEADER_SIGNERS)
def test_repeated_and_non_ascii_headers(signer: type) -> None:
    request = AWSRequest(
        "GET", url_for("k"), headers={"Range": "bytes=0-9", "X-Amz-Meta-Latin": "café"}
    )
    request.headers.add_header("X-Amz-Meta-Multi", "one")
    request.headers.add_header("X-Amz-Meta-Multi", "  two   three ")
    signer(SESSION, "s3", "us-east-1").add_auth(request)
    r = received(request)
    assert [v.strip() for v in r.headers["x-amz-meta-multi"]] == ["one", "two   three"]
    assert accepted(r)


def test_raw_utf8_header_bytes_are_signed_as_sent() -> None:
    # curl and most SDKs put UTF-8 on the wire and sign those very bytes.
    assert sigv4.decode_header_value("日本".encode()) == "日本"
    # botocore signs str as UTF-8 but http.client sends it as Latin-1.
    assert sigv4.decode_header_value("café".encode("latin-1")) == "café"


@pytest.mark.parametrize("signer", HEADER_SIGNERS)
def test_date_header_instead_of_x_amz_date(signer: type) -> None:
    request = AWSRequest("GET", url_for("k"), headers={"Date": "placeholder"})
    signer(CREDENTIALS, "s3", "us-east-1").add_auth(request)
    assert accepted(received(request))


@pytest.mark.parametrize("signer", HEADER_SIGNERS)
@pytest.mark.parametrize(
    ("key", "query"),
    [
        ("odd!'()*", "q=!'()*"),  # not AWS-encoded on the wire
        ("k", "list-type=2&prefix=a%2Fb&delimiter=/"),
        ("a%2fb", "x=a+b"),  # lowercase escape; a literal plus
    ],
)
def test_non_canonical_urls_verify_through_a_variant(signer: type, key: str, query: str) -> None:
    request = AWSRequest("GET", f"http://localhost:9000/bucket/{key}?{query}")
    signer(CREDENTIALS, "s3", "us-east-1").add_auth(request)
    assert accepted(received(request))


@pytest.mark.parametrize("signer", HEADER_SIGNERS + QUERY_SIGNERS)
def test_wrong_secret_is_rejected(signer: type) -> None:
    request = AWSRequest("GET", url_for("k", "uploads"))
    signer(CREDENTIALS, "s3", "us-east-1").add_auth(request)
    assert accepted(received(request))
    assert not accepted(received(request), secret=SECRET + "x")


# ------------------------------------------------------------------------- tampering


def _signed_get() -> tuple[Received, sigv4.SigV4Credential]:
    request = AWSRequest(
        "GET",
        url_for("dir/obj", "list-type=2&prefix=a%2Fb&delimiter=%2F"),
        headers={"Range": "bytes=0-9", "X-Amz-Meta-A": "1"},
    )
    S3SigV4Auth(CREDENTIALS, "s3", "us-east-1").add_auth(request)
    r = received(request)
    authorization = header(r, "authorization")
    assert authorization is not None
    return r, sigv4.parse_authorization_header(authorization)


def _signature_of(
    r: Received,
    credential: sigv4.SigV4Credential,
    *,
    method: str | None = None,
    path: str | None = None,
    query: str | None = None,
    headers: dict[str, list[str]] | None = None,
    payload_hash: str | None = None,
    amz_date: str | None = None,
    region: str | None = None,
) -> str:
    region = region or credential.region
    scope = f"{credential.date}/{region}/{credential.service}/aws4_request"
    canonical = sigv4.canonical_request(
        method or r.method,
        path if path is not None else r.raw_path,
        query if query is not None else r.raw_query,
        headers or r.headers,
        credential.signed_headers,
        payload_hash or r.headers["x-amz-content-sha256"][0],
    )
    key = sigv4.derive_signing_key(SECRET, credential.date, region, credential.service)
    return sigv4.signature(
        key, sigv4.string_to_sign(amz_date or r.headers["x-amz-date"][0], scope, canonical)
    )


def test_any_change_to_the_request_changes_the_signature() -> None:
    r, credential = _signed_get()
    assert _signature_of(r, credential) == credential.signature
    altered_headers = {**r.headers, "range": ["bytes=0-10"]}
    dropped_header = {k: v for k, v in r.headers.items() if k != "x-amz-meta-a"}
    signed_at = r.headers["x-amz-date"][0]
    # Another second of the same minute (the clock may already be at :59).
    next_second = signed_at[:-3] + ("58Z" if signed_at.endswith("59Z") else "59Z")
    changes: list[dict[str, object]] = [
        {"method": "PUT"},
        {"path": r.raw_path + "x"},
        {"path": r.raw_path.upper()},
        {"query": r.raw_query.replace("a%2Fb", "a%2Fc")},
        {"query": r.raw_query + "&extra=1"},
        {"headers": altered_headers},
        {"headers": dropped_header},
        {"payload_hash": hashlib.sha256(b"x").hexdigest()},
        {"amz_date": next_second},
        {"region": "us-west-2"},
    ]
    for change in changes:
        assert _signature_of(r, credential, **change) != credential.signature, change  # type: ignore[arg-type]


def test_unsigned_headers_do_not_matter() -> None:
    r, credential = _signed_get()
    extra = {**r.headers, "user-agent": ["something else"]}
    assert _signature_of(r, credential, headers=extra) == credential.signature


# -------------------------------------------------------------------- AWS's examples


def test_aws_documentation_get_object_example() -> None:
    # "Example: GET Object" of the S3 SigV4 header-auth documentation.
    headers = {
        "host": ["examplebucket.s3.amazonaws.com"],
        "range": ["bytes=0-9"],
        "x-amz-content-sha256": [sigv4.EMPTY_SHA256],
        "x-amz-date": ["20130524T000000Z"],
    }
    signed = ("host", "range", "x-amz-content-sha256", "x-amz-date")
    canonical = sigv4.canonical_request("GET", "/test.txt", "", headers, signed, sigv4.EMPTY_SHA256)
    key = sigv4.derive_signing_key(
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3"
    )
    sts = sigv4.string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", canonical)
    expected = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    assert sigv4.signature(key, sts) == expected


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "value",
    [
        "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc123",
        "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;x-amz-date,Signature=abc123",
        "AWS4-HMAC-SHA256  Credential=AKID/20250101/us-east-1/s3/aws4_request ,  "
        "SignedHeaders=host;x-amz-date ,Signature=abc123 ",
        "AWS4-HMAC-SHA256 Signature=abc123 Credential=AKID/20250101/us-east-1/s3/aws4_request "
        "SignedHeaders=host;x-amz-date",
    ],
)
def test_parse_authorization_header_variants(value: str) -> None:
    credential = sigv4.parse_authorization_header(value)
    assert credential == sigv4.SigV4Credential(
        access_key_id="AKID",
        date="20250101",
        region="us-east-1",
        service="s3",
        signed_headers=("host", "x-amz-date"),
        signature="abc123",
    )
    assert credential.scope == "20250101/us-east-1/s3/aws4_request"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("AWS AKID:sig", "InvalidArgument"),
        ("AWS4-ECDSA-P256-SHA256 Credential=a/b/c/d/e", "InvalidArgument"),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request",
            "AuthorizationHeaderMalformed",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3, "
            "SignedHeaders=host, Signature=a",
            "AuthorizationHeaderMalformed",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/2025011/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=a",
            "AuthorizationHeaderMalformed",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws5_request, "
            "SignedHeaders=host, Signature=a",
            "AuthorizationHeaderMalformed",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;;x, Signature=a",
            "AuthorizationHeaderMalformed",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, "
            "SignedHeaders=Host, Signature=a",
            "AuthorizationHeaderMalformed",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=a, Signature=b",
            "AuthorizationHeaderMalformed",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=",
            "AuthorizationHeaderMalformed",
        ),
    ],
)
def test_parse_authorization_header_errors(value: str, code: str) -> None:
    with pytest.raises(SigV4Error) as raised:
        sigv4.parse_authorization_header(value)
    assert raised.value.code == code


def _presigned_query(**overrides: str | None) -> list[tuple[str, str | None]]:
    params: dict[str, str | None] = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "AKID/20250101/us-east-1/s3/aws4_request",
        "X-Amz-Date": "20250101T120000Z",
        "X-Amz-Expires": "3600",
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": "abc",
    }
    params.update(overrides)
    return [("versionId", "1"), *((k, v) for k, v in params.items() if v is not None)]


def test_parse_presigned_query() -> None:
    credential = sigv4.parse_presigned_query(_presigned_query())
    assert credential.amz_date == "20250101T120000Z"
    assert credential.expires == 3600
    assert credential.signed_headers == ("host",)
    assert sigv4.parse_presigned_query(_presigned_query(**{"X-Amz-Expires": "604800"}))
    assert sigv4.parse_presigned_query(_presigned_query(**{"X-Amz-Expires": "1"}))
    # Zero is non-negative: parsed, and refused later as expired (tests/compat/test_auth.py).
    assert sigv4.parse_presigned_query(_presigned_query(**{"X-Amz-Expires": "0"})).expires == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"X-Amz-Expires": "604801"},
        {"X-Amz-Expires": "-5"},
        {"X-Amz-Expires": "1e3"},
        {"X-Amz-Expires": None},
        {"X-Amz-Signature": None},
        {"X-Amz-Signature": ""},
        {"X-Amz-Algorithm": "AWS4-HMAC-SHA1"},
        {"X-Amz-Date": "2025-01-01T12:00:00Z"},
        {"X-Amz-Date": "20250102T120000Z"},  # not the credential's date
        {"X-Amz-Credential": "AKID/20250101/us-east-1/s3"},
    ],
)
def test_parse_presigned_query_errors(overrides: dict[str, str | None]) -> None:
    with pytest.raises(SigV4Error) as raised:
        sigv4.parse_presigned_query(_presigned_query(**overrides))
    assert raised.value.code == "AuthorizationQueryParametersError"


def test_duplicate_presigned_parameter_is_rejected() -> None:
    query = [*_presigned_query(), ("X-Amz-Signature", "again")]
    with pytest.raises(SigV4Error):
        sigv4.parse_presigned_query(query)


def test_is_presigned() -> None:
    assert sigv4.is_presigned(_presigned_query())
    assert not sigv4.is_presigned([("uploads", None)])


# -------------------------------------------------------------------- canonical forms


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("/bucket/a%20b", "/bucket/a%20b"),
        ("/bucket/a b", "/bucket/a%20b"),
        ("/bucket/a%2fb", "/bucket/a%2Fb"),
        ("/bucket/a%2Fb/c", "/bucket/a%2Fb/c"),
        ("/bucket/a+b=c~d", "/bucket/a%2Bb%3Dc~d"),
        ("/bucket/!'()*", "/bucket/%21%27%28%29%2A"),
        ("/bucket/./../x", "/bucket/./../x"),
        ("/bucket//double", "/bucket//double"),
        ("/bucket/%E2%82%AC", "/bucket/%E2%82%AC"),
        ("/bucket/100%", "/bucket/100%25"),
        (b"/bucket/\xe2\x82\xac", "/bucket/%E2%82%AC"),
        (b"/bucket/\xff", "/bucket/%FF"),
        ("/bucket/€", "/bucket/%E2%82%AC"),
    ],
)
def test_canonical_uri(raw: str | bytes, canonical: str) -> None:
    assert sigv4.canonical_uri(raw) == canonical


def test_parse_query_keeps_plus_and_bare_names() -> None:
    assert sigv4.parse_query("a=1+2&uploads&b=&&c=%2F%zz&d=x=y") == [
        ("a", "1+2"),
        ("uploads", None),
        ("b", ""),
        ("c", "/%zz"),
        ("d", "x=y"),
    ]
    assert sigv4.parse_query(b"k=%FF") == [("k", "\udcff")]


def test_canonical_query_string() -> None:
    query = sigv4.parse_query("prefix=a%2Fb&delimiter=/&list-type=2&uploads&b=2&b=1&%7E=~&sp=a+b")
    assert sigv4.canonical_query_string(query) == (
        "b=1&b=2&delimiter=%2F&list-type=2&prefix=a%2Fb&sp=a%2Bb&uploads=&~=~"
    )
    presigned = [("X-Amz-Signature", "x"), ("a", "1")]
    assert sigv4.canonical_query_string(presigned, exclude_signature=True) == "a=1"
    assert sigv4.canonical_query_string(presigned) == "X-Amz-Signature=x&a=1"
    assert sigv4.canonical_query_string([("k", "\udcff")]) == "k=%FF"


def test_canonical_headers_trim_collapse_and_join() -> None:
    headers = {"a": ["  x   y  ", "z"], "b": ["\tq\t\tr "], "c": ["non\xa0breaking  space"]}
    assert sigv4.canonical_headers(headers, ("a", "b", "c", "missing")) == (
        "a:x y,z\nb:q r\nc:non\xa0breaking space\nmissing:\n"
    )
    assert sigv4.canonical_headers(lambda name: ["v"], ("x",)) == "x:v\n"


def test_canonical_request_layout() -> None:
    canonical = sigv4.canonical_request(
        "GET",
        "/b/k",
        [("X-Amz-Signature", "s"), ("a", None)],
        {"host": ["h"]},
        ("host",),
        sigv4.UNSIGNED_PAYLOAD,
        exclude_signature=True,
    )
    assert canonical == "GET\n/b/k\na=\nhost:h\n\nhost\nUNSIGNED-PAYLOAD"


def test_canonical_request_variants_only_add_forms_when_needed() -> None:
    args = ({"host": ["h"]}, ("host",), sigv4.EMPTY_SHA256)
    assert len(sigv4.canonical_request_variants("GET", "/b/k%20x", "a=%2F", *args)) == 1
    assert len(sigv4.canonical_request_variants("GET", "/b/k!", "a=%2F", *args)) == 2
    assert len(sigv4.canonical_request_variants("GET", "/b/k!", "a=/", *args)) == 3
    assert len(sigv4.canonical_request_variants("GET", "/b/k", "a=/", *args)) == 2


# ---------------------------------------------------------------- keys, dates, verify


def test_signing_key_cache_derives_once_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    real = sigv4.derive_signing_key

    def counting(*args: str) -> bytes:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(sigv4, "derive_signing_key", counting)
    cache = sigv4.SigningKeyCache(max_entries=2)
    first = cache.key("s", "20250101", "us-east-1", "s3")
    assert cache.key("s", "20250101", "us-east-1", "s3") is first
    assert len(calls) == 1
    assert first == real("s", "20250101", "us-east-1", "s3")
    cache.key("s", "20250102", "us-east-1", "s3")
    cache.key("s", "20250103", "us-east-1", "s3")
    assert len(cache) == 2
    cache.key("s", "20250101", "us-east-1", "s3")  # evicted, so derived again
    assert len(calls) == 4


def test_signing_key_matches_botocore() -> None:
    signer = S3SigV4Auth(CREDENTIALS, "s3", "us-east-1")
    request = AWSRequest("GET", "http://h/")
    request.context["timestamp"] = "20250101T000000Z"
    expected = signer.signature("sts", request)
    key = sigv4.derive_signing_key(SECRET, "20250101", "us-east-1", "s3")
    assert sigv4.signature(key, "sts") == expected


def test_request_amz_date() -> None:
    assert sigv4.request_amz_date("20250101T010203Z", None) == "20250101T010203Z"
    assert sigv4.request_amz_date(None, "Wed, 01 Jan 2025 01:02:03 GMT") == "20250101T010203Z"
    assert sigv4.request_amz_date(None, "Wed, 01 Jan 2025 01:02:03 -0000") == "20250101T010203Z"
    assert sigv4.request_amz_date(None, "Wed, 01 Jan 2025 03:02:03 +0200") == "20250101T010203Z"
    assert sigv4.request_amz_date("20250101T010203Z", "Thu, 02 Jan 2025 00:00:00 GMT") == (
        "20250101T010203Z"
    )
    for bad in [(None, None), ("yesterday", None), (None, "not a date")]:
        with pytest.raises(SigV4Error) as raised:
            sigv4.request_amz_date(*bad)
        assert raised.value.code == "AccessDenied"


def test_parse_amz_date() -> None:
    parsed = sigv4.parse_amz_date("20250101T010203Z")
    assert parsed.isoformat() == "2025-01-01T01:02:03+00:00"
    with pytest.raises(ValueError):
        sigv4.parse_amz_date("2025-01-01")


def test_verify() -> None:
    assert sigv4.verify("ab" * 32, "ab" * 32)
    assert sigv4.verify("ab" * 32, "AB" * 32)
    assert not sigv4.verify("ab" * 32, "ac" * 32)
    assert not sigv4.verify("ab" * 32, "ab")
    assert not sigv4.verify("ab" * 32, "ü")


def test_streaming_strings_to_sign() -> None:
    assert sigv4.chunk_string_to_sign("T", "S", "prev", "hash") == (
        f"AWS4-HMAC-SHA256-PAYLOAD\nT\nS\nprev\n{sigv4.EMPTY_SHA256}\nhash"
    )
    assert sigv4.trailer_string_to_sign("T", "S", "prev", "hash") == (
        "AWS4-HMAC-SHA256-TRAILER\nT\nS\nprev\nhash"
    )
    assert (
        sigv4.canonical_trailers(
            {"X-Amz-Checksum-Crc32": " NhCmhg== ", "x-amz-trailer-signature": "s"}
        )
        == b"x-amz-checksum-crc32:NhCmhg==\n"
    )


def test_blocklisted_headers_are_not_signed_by_botocore() -> None:
    # The server must use the client's SignedHeaders list, never its own idea of it.
    request = AWSRequest("GET", url_for("k"), headers={"User-Agent": "ua", "Expect": "100"})
    S3SigV4Auth(CREDENTIALS, "s3", "us-east-1").add_auth(request)
    r = received(request)
    credential, _ = server_signatures(r)
    assert "user-agent" not in credential.signed_headers
    assert "expect" not in credential.signed_headers
    assert "user-agent" in botocore.auth.SIGNED_HEADERS_BLACKLIST
    assert accepted(r)
