"""Bucket CORS: the CORSConfiguration document and S3's answers to browsers."""

from __future__ import annotations

import pytest

from nexq.storage.s3.cors import (
    VARY,
    CORSRule,
    actual_response_headers,
    parse_cors,
    preflight,
    render_cors,
    requested_headers,
    wildcard_match,
)
from nexq.storage.s3.errors import S3Error

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
    "are not whitelisted by the resource's CORS spec."
)


def doc(*rules: str, ns: bool = True) -> bytes:
    root = f"<CORSConfiguration {NS}>" if ns else "<CORSConfiguration>"
    return f"{root}{''.join(rules)}</CORSConfiguration>".encode()


def rule(*inner: str) -> str:
    return f"<CORSRule>{''.join(inner)}</CORSRule>"


def refused(body: bytes) -> S3Error:
    with pytest.raises(S3Error) as caught:
        parse_cors(body)
    return caught.value


# --- the document --------------------------------------------------------------------------


def test_a_full_rule_is_read_in_document_order() -> None:
    body = doc(
        rule(
            "<ID>site</ID>",
            "<AllowedOrigin>https://app.example.com</AllowedOrigin>",
            "<AllowedOrigin>https://*.example.org</AllowedOrigin>",
            "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>",
            "<AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader>",
            "<ExposeHeader>ETag</ExposeHeader>",
            "<MaxAgeSeconds> 3000 </MaxAgeSeconds>",
        ),
        rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"),
    )
    assert parse_cors(body) == [
        CORSRule(
            allowed_origins=("https://app.example.com", "https://*.example.org"),
            allowed_methods=("PUT", "GET"),
            allowed_headers=("x-amz-*", "Content-Type"),
            expose_headers=("ETag",),
            max_age_seconds=3000,
            id="site",
        ),
        CORSRule(allowed_origins=("*",), allowed_methods=("GET",)),
    ]


def test_the_document_may_come_without_namespace() -> None:
    body = doc(
        rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod>"), ns=False
    )
    assert parse_cors(body)[0].allowed_methods == ("HEAD",)


def test_an_empty_origin_is_kept() -> None:
    body = doc(rule("<AllowedOrigin></AllowedOrigin><AllowedMethod>GET</AllowedMethod>"))
    assert parse_cors(body)[0].allowed_origins == ("",)


def test_rendering_gives_back_what_was_put() -> None:
    rules = [
        CORSRule(
            allowed_origins=("http://a.example", "http://b.example:8080"),
            allowed_methods=("GET", "POST", "DELETE"),
            allowed_headers=("*",),
            expose_headers=("x-amz-request-id", "ETag"),
            max_age_seconds=0,
            id="a <&> rule",
        ),
        CORSRule(allowed_origins=("*",), allowed_methods=("HEAD",)),
    ]
    text = render_cors(rules)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<CORSConfiguration ' + NS)
    assert "<ID>a &lt;&amp;&gt; rule</ID>" in text
    assert parse_cors(text.encode()) == rules


def test_render_writes_each_rule_in_s3s_order() -> None:
    text = render_cors([CORSRule(("o",), ("GET",), ("h",), ("e",), 5, "r")])
    assert (
        "<CORSRule><ID>r</ID><AllowedOrigin>o</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
        "<AllowedHeader>h</AllowedHeader><MaxAgeSeconds>5</MaxAgeSeconds>"
        "<ExposeHeader>e</ExposeHeader></CORSRule>"
    ) in text


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<Cors/>",
        doc(),
        doc("<CORSRule/>"),
        doc(rule("<AllowedMethod>GET</AllowedMethod>")),
        doc(rule("<AllowedOrigin>*</AllowedOrigin>")),
        doc(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Bogus/>")),
        doc(rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"), "<Other/>"),
        doc(
            rule(
                "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                "<MaxAgeSeconds>soon</MaxAgeSeconds>"
            )
        ),
        doc(
            rule(
                "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                "<MaxAgeSeconds>-1</MaxAgeSeconds>"
            )
        ),
        doc(
            rule(
                "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                "<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>2</MaxAgeSeconds>"
            )
        ),
        doc(
            rule(
                "<ID>a</ID><ID>b</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            )
        ),
        doc(*[rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")] * 101),
        doc(
            rule(
                "<AllowedOrigin>"
                + "a" * 70_000
                + "</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            )
        ),
    ],
    ids=[
        "not-xml",
        "wrong-root",
        "no-rule",
        "empty-rule",
        "no-origin",
        "no-method",
        "unknown-element",
        "unknown-rule-sibling",
        "max-age-not-a-number",
        "max-age-negative",
        "max-age-twice",
        "id-twice",
        "101-rules",
        "over-64-kib",
    ],
)
def test_documents_outside_the_schema_are_malformed(body: bytes) -> None:
    error = refused(body)
    assert (error.code, error.status) == ("MalformedXML", 400)


def test_100_rules_are_accepted() -> None:
    body = doc(*[rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>")] * 100)
    assert len(parse_cors(body)) == 100


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "get", ""])
def test_a_method_s3_does_not_support_is_named(method: str) -> None:
    error = refused(
        doc(rule(f"<AllowedOrigin>*</AllowedOrigin><AllowedMethod>{method}</AllowedMethod>"))
    )
    assert (error.code, error.status) == ("InvalidRequest", 400)
    assert error.message == (
        f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
    )


def test_an_origin_with_two_wildcards_is_refused() -> None:
    error = refused(
        doc(rule("<AllowedOrigin>*example*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"))
    )
    assert (error.code, error.status) == ("InvalidRequest", 400)
    assert error.message == 'AllowedOrigin "*example*.com" can not have more than one wildcard.'


def test_an_allowed_header_with_two_wildcards_is_refused() -> None:
    error = refused(
        doc(
            rule(
                "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                "<AllowedHeader>x-*-*</AllowedHeader>"
            )
        )
    )
    assert (error.code, error.message) == (
        "InvalidRequest",
        'AllowedHeader "x-*-*" can not have more than one wildcard.',
    )


def test_an_expose_header_wildcard_is_refused() -> None:
    error = refused(
        doc(
            rule(
                "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                "<ExposeHeader>*</ExposeHeader>"
            )
        )
    )
    assert (error.code, error.message) == (
        "InvalidRequest",
        'ExposeHeader "*" contains wildcard. We currently do not support wildcard for '
        "ExposeHeader.",
    )


def test_an_id_longer_than_255_characters_is_refused() -> None:
    any_get = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
    assert parse_cors(doc(rule(f"<ID>{'i' * 255}</ID>", any_get)))[0].id == "i" * 255
    error = refused(doc(rule(f"<ID>{'i' * 256}</ID>", any_get)))
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.message == "ID length should not exceed allowed limit of 255"
    assert error.extra == {"ArgumentName": "ID", "ArgumentValue": "i" * 256}


# --- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("*suffix", "foo.suffix", True),
        ("*suffix", "suffix", True),
        ("*suffix", "foo.suffix.get", False),
        ("start*end", "startend", True),
        ("start*end", "start12end", True),
        ("start*end", "0start12end", False),
        ("start*end", "startend1", False),
        ("ab*ba", "aba", False),  # head and tail may not share characters
        ("prefix*", "prefix.suffix", True),
        ("prefix*", "bla.prefix", False),
        ("*", "", True),
        ("*", "anything at all", True),
        ("http://a.example", "http://a.example", True),
        ("http://a.example", "http://A.example", False),
    ],
)
def test_wildcards(pattern: str, value: str, matches: bool) -> None:
    assert wildcard_match(pattern, value) is matches


def test_requested_headers_are_lowercased_in_order_once_each() -> None:
    assert requested_headers("X-Amz-Date, content-type,,Content-Type ,x-b") == [
        "x-amz-date",
        "content-type",
        "x-b",
    ]
    assert requested_headers(None) == []


# --- preflight -----------------------------------------------------------------------------

SITE = CORSRule(
    allowed_origins=("https://localhost:4200",),
    allowed_methods=("GET", "PUT"),
    allowed_headers=("*",),
    max_age_seconds=3000,
)
EVERYONE = CORSRule(allowed_origins=("*",), allowed_methods=("HEAD",))


def refusal(
    rules: list[CORSRule] | None,
    origin: str | None,
    method: str | None,
    request_headers: str | None,
    resource_type: str = "OBJECT",
) -> S3Error:
    with pytest.raises(S3Error) as caught:
        preflight(rules, origin, method, request_headers, resource_type)
    return caught.value


def test_a_preflight_from_an_allowed_origin_echoes_it_with_credentials() -> None:
    assert preflight([SITE], "https://localhost:4200", "PUT", None) == {
        "Access-Control-Allow-Origin": "https://localhost:4200",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "GET, PUT",
        "Access-Control-Max-Age": "3000",
        "Vary": VARY,
    }


def test_a_rule_open_to_every_origin_answers_a_star_without_credentials() -> None:
    assert preflight([EVERYONE], "http://random:1234", "HEAD", None) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "HEAD",
        "Vary": VARY,
    }


def test_expose_headers_are_listed() -> None:
    rule_ = CORSRule(("*",), ("GET",), expose_headers=("x-amz-id-2", "x-amz-request-id"))
    headers = preflight([rule_], "localhost:4566", "GET", None)
    assert headers["Access-Control-Expose-Headers"] == "x-amz-id-2, x-amz-request-id"


def test_the_first_matching_rule_wins() -> None:
    first = CORSRule(("https://*.example.com",), ("GET",), max_age_seconds=10)
    second = CORSRule(("*",), ("GET", "PUT"), max_age_seconds=20)
    assert (
        preflight([first, second], "https://a.example.com", "GET", None)["Access-Control-Max-Age"]
        == "10"
    )
    # PUT is not in the first rule: the second answers.
    headers = preflight([first, second], "https://a.example.com", "PUT", None)
    assert headers["Access-Control-Max-Age"] == "20"
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_requested_headers_match_case_insensitively_and_come_back_lowercase() -> None:
    rule_ = CORSRule(
        ("*",),
        ("PUT",),
        allowed_headers=("x-amz-expected-bucket-owner", "x-AMZ-server-SIDE-encryption", "x-meta-*"),
    )
    headers = preflight(
        [rule_],
        "https://x",
        "PUT",
        "x-AMZ-expected-BUCKET-owner,X-Amz-Server-Side-Encryption, X-Meta-Color",
    )
    assert headers["Access-Control-Allow-Headers"] == (
        "x-amz-expected-bucket-owner, x-amz-server-side-encryption, x-meta-color"
    )


def test_a_star_allowed_header_allows_any_requested_header() -> None:
    headers = preflight(
        [SITE], "https://localhost:4200", "GET", "x-amz-request-payer, Authorization"
    )
    assert headers["Access-Control-Allow-Headers"] == "x-amz-request-payer, authorization"


def test_a_header_no_rule_allows_refuses_the_preflight() -> None:
    rule_ = CORSRule(("*",), ("GET",), allowed_headers=("x-amz-date",))
    error = refusal([rule_], "https://x", "GET", "x-amz-date, x-amz-request-payer")
    assert (error.code, error.status, error.message) == ("AccessForbidden", 403, NOT_ALLOWED)
    assert error.extra == {"Method": "GET", "ResourceType": "OBJECT"}


def test_a_rule_without_allowed_headers_allows_none() -> None:
    error = refusal([EVERYONE], "https://x", "HEAD", "x-amz-meta-header2")
    assert error.code == "AccessForbidden"


@pytest.mark.parametrize(
    ("origin", "method"),
    [
        ("http://localhost:4200", "PUT"),  # another scheme
        ("https://localhost:4201", "PUT"),  # another port
        ("https://localhost:4200/", "PUT"),  # a trailing slash
        ("https://LOCALHOST:4200", "PUT"),  # origins are compared as sent
        ("https://localhost:4200", "DELETE"),  # a method the rule does not allow
        ("https://localhost:4200", "PATCH"),
        ("https://localhost:4200", "put"),
    ],
)
def test_a_preflight_no_rule_matches_is_forbidden(origin: str, method: str) -> None:
    error = refusal([SITE], origin, method, None, resource_type="BUCKET")
    assert (error.code, error.status, error.message) == ("AccessForbidden", 403, NOT_ALLOWED)
    assert error.extra == {"Method": method, "ResourceType": "BUCKET"}


def test_a_preflight_without_origin_is_a_bad_request() -> None:
    for origin in (None, ""):
        error = refusal([SITE], origin, "GET", None)
        assert (error.code, error.status) == ("BadRequest", 400)
        assert error.message == "Insufficient information. Origin request header needed."
    # Checked before the configuration is.
    assert refusal(None, None, None, None).code == "BadRequest"


def test_a_preflight_to_a_bucket_without_cors_is_forbidden() -> None:
    error = refusal(None, "https://x", "PUT", None)
    assert (error.code, error.status) == ("AccessForbidden", 403)
    assert error.message == "CORSResponse: CORS is not enabled for this bucket."
    assert error.extra == {"Method": "PUT", "ResourceType": "BUCKET"}
    assert refusal(None, "https://x", None, None).extra == {
        "Method": "OPTIONS",
        "ResourceType": "BUCKET",
    }


def test_a_preflight_without_request_method_is_a_bad_request() -> None:
    error = refusal([SITE], "https://localhost:4200", None, None)
    assert (error.code, error.status) == ("BadRequest", 400)
    assert error.message == "Invalid Access-Control-Request-Method: null"


def test_an_allowed_origin_that_is_not_a_url_matches_as_text() -> None:
    rules = [
        CORSRule(("*suffix",), ("GET",)),
        CORSRule(("start*end",), ("GET",)),
        CORSRule(("prefix*",), ("GET",)),
        CORSRule(("*.put",), ("PUT",)),
    ]
    for origin in ("foo.suffix", "startend", "start12end", "prefix", "prefix.suffix"):
        assert preflight(rules, origin, "GET", None)["Access-Control-Allow-Origin"] == origin
    for origin in ("foo.bar", "foo.suffix.get", "0start12end", "bla.prefix", "foo.put"):
        assert refusal(rules, origin, "GET", None).code == "AccessForbidden"
    assert preflight(rules, "foo.put", "PUT", None)["Access-Control-Allow-Methods"] == "PUT"


# --- actual requests -----------------------------------------------------------------------


def test_an_actual_request_from_an_allowed_origin_gets_the_rules_headers() -> None:
    assert actual_response_headers([SITE], "https://localhost:4200", "GET") == {
        "Access-Control-Allow-Origin": "https://localhost:4200",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "GET, PUT",
        "Access-Control-Max-Age": "3000",
        "Vary": VARY,
    }
    assert (
        actual_response_headers([EVERYONE], "https://x", "HEAD")["Access-Control-Allow-Origin"]
        == "*"
    )


def test_an_actual_request_gets_no_cors_headers_unless_a_rule_matches() -> None:
    assert actual_response_headers([SITE], None, "GET") == {}
    assert actual_response_headers(None, "https://localhost:4200", "GET") == {}
    assert actual_response_headers([SITE], "http://localhost:4200", "GET") == {}
    assert actual_response_headers([SITE], "https://localhost:4200", "DELETE") == {}


def test_an_actual_request_is_matched_on_its_request_method_header_if_any() -> None:
    rules = [CORSRule(("*",), ("GET",))]
    assert actual_response_headers(rules, "https://x", "GET", request_method="PUT") == {}
    assert actual_response_headers(rules, "https://x", "PUT", request_method="GET") != {}
