"""Bucket CORS: the ``CORSConfiguration`` document and how S3 answers browsers with it.

PutBucketCors parses and validates the document, GetBucketCors renders it back, and the
data plane evaluates it: :func:`preflight` for ``OPTIONS`` requests, and
:func:`actual_response_headers` for every other request that carries an ``Origin``.

The first rule that matches wins. A rule matches when one of its AllowedOrigin patterns
matches the ``Origin`` header (``*`` stands for any run of characters, the empty one
included), the method (a preflight's ``Access-Control-Request-Method``) is one of its
AllowedMethod, and, for a preflight, every name in ``Access-Control-Request-Headers``
matches one of its AllowedHeader patterns (case-insensitively).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nexq.storage.s3.document import Fields, parse_integer, root_of
from nexq.storage.s3.errors import S3Error, invalid_argument, invalid_request, malformed_xml
from nexq.storage.s3.xml import document, escape

MAX_RULES = 100
MAX_DOCUMENT_BYTES = 64 * 1024
MAX_ID_CHARS = 255
METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")

# S3 compat: every preflight and matched response varies on these three request headers.
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

_RULE_FIELDS = frozenset(
    {"ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader", "MaxAgeSeconds"}
)


@dataclass(frozen=True, slots=True)
class CORSRule:
    """One CORSRule, its lists in the order the document gave them."""

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None
    id: str | None = None


# --- the document --------------------------------------------------------------------------


def parse_cors(body: bytes) -> list[CORSRule]:
    """PutBucketCors' body as rules, or the S3 error AWS gives for it."""
    # S3 compat: AWS documents the 64 KB limit and the 100 rules but no error code for
    # either; past them the document is refused as not matching the schema.
    root = root_of(body, "CORSConfiguration", MAX_DOCUMENT_BYTES)
    fields = Fields(root, frozenset({"CORSRule"}))
    elements = fields.many("CORSRule")
    if not elements or len(elements) > MAX_RULES:
        raise malformed_xml()
    rules = [_rule(Fields(element, _RULE_FIELDS)) for element in elements]
    for rule in rules:
        _validate(rule)
    return rules


def _rule(fields: Fields) -> CORSRule:
    origins, methods = fields.texts("AllowedOrigin"), fields.texts("AllowedMethod")
    if not origins or not methods:
        raise malformed_xml()
    max_age = fields.text("MaxAgeSeconds")
    seconds = None if max_age is None else parse_integer(max_age)
    if seconds is not None and seconds < 0:
        raise malformed_xml()  # a delta-seconds cannot be negative
    return CORSRule(
        allowed_origins=tuple(origins),
        allowed_methods=tuple(methods),
        allowed_headers=tuple(fields.texts("AllowedHeader")),
        expose_headers=tuple(fields.texts("ExposeHeader")),
        max_age_seconds=seconds,
        id=fields.text("ID"),
    )


def _validate(rule: CORSRule) -> None:
    if rule.id is not None and len(rule.id) > MAX_ID_CHARS:
        raise invalid_argument(
            f"ID length should not exceed allowed limit of {MAX_ID_CHARS}", "ID", rule.id
        )
    for method in rule.allowed_methods:
        # S3 compat: methods are matched as written; "get" is as unsupported as "PATCH".
        if method not in METHODS:
            raise invalid_request(
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )
    for origin in rule.allowed_origins:
        if origin.count("*") > 1:
            raise invalid_request(f'AllowedOrigin "{origin}" can not have more than one wildcard.')
    for header in rule.allowed_headers:
        if header.count("*") > 1:
            raise invalid_request(f'AllowedHeader "{header}" can not have more than one wildcard.')
    for header in rule.expose_headers:
        if "*" in header:
            raise invalid_request(
                f'ExposeHeader "{header}" contains wildcard. We currently do not support '
                "wildcard for ExposeHeader."
            )


def render_cors(rules: Sequence[CORSRule]) -> str:
    """GetBucketCors' document."""
    return document("CORSConfiguration", "".join(_render_rule(rule) for rule in rules))


def _render_rule(rule: CORSRule) -> str:
    parts = [f"<ID>{escape(rule.id)}</ID>"] if rule.id is not None else []
    parts += [f"<AllowedOrigin>{escape(o)}</AllowedOrigin>" for o in rule.allowed_origins]
    parts += [f"<AllowedMethod>{m}</AllowedMethod>" for m in rule.allowed_methods]
    parts += [f"<AllowedHeader>{escape(h)}</AllowedHeader>" for h in rule.allowed_headers]
    if rule.max_age_seconds is not None:
        parts.append(f"<MaxAgeSeconds>{rule.max_age_seconds}</MaxAgeSeconds>")
    parts += [f"<ExposeHeader>{escape(h)}</ExposeHeader>" for h in rule.expose_headers]
    return f"<CORSRule>{''.join(parts)}</CORSRule>"


# --- evaluation ----------------------------------------------------------------------------


def wildcard_match(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern``, where one ``*`` stands for any run of
    characters (also none); the pattern is anchored at both ends."""
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def _matching_origin(rule: CORSRule, origin: str) -> str | None:
    # S3 compat: origins are compared as sent (scheme, host and port), case included.
    return next((o for o in rule.allowed_origins if wildcard_match(o, origin)), None)


def _header_allowed(rule: CORSRule, name: str) -> bool:
    return any(wildcard_match(p.lower(), name) for p in rule.allowed_headers)


def requested_headers(value: str | None) -> list[str]:
    """The names of ``Access-Control-Request-Headers``: lowercased, in order, once each."""
    names: list[str] = []
    for item in (value or "").split(","):
        name = item.strip().lower()
        if name and name not in names:
            names.append(name)
    return names


def _match(
    rules: Sequence[CORSRule], origin: str, method: str, headers: Sequence[str]
) -> tuple[CORSRule, str] | None:
    for rule in rules:
        allowed_origin = _matching_origin(rule, origin)
        if allowed_origin is None or method not in rule.allowed_methods:
            continue
        if all(_header_allowed(rule, name) for name in headers):
            return rule, allowed_origin
    return None


def _headers(rule: CORSRule, allowed_origin: str, origin: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    if allowed_origin == "*":
        # S3 compat: a rule open to every origin answers "*", and so no credentials.
        headers["Access-Control-Allow-Origin"] = "*"
    else:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
    # S3 compat: every method of the rule, not just the one asked for.
    headers["Access-Control-Allow-Methods"] = ", ".join(rule.allowed_methods)
    if rule.expose_headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if rule.max_age_seconds is not None:
        headers["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    headers["Vary"] = VARY
    return headers


def preflight(
    rules: Sequence[CORSRule] | None,
    origin: str | None,
    method: str | None,
    request_headers: str | None,
    resource_type: str = "OBJECT",
) -> dict[str, str]:
    """The headers of a 200 answer to an ``OPTIONS`` preflight, or the S3Error S3 refuses it
    with. ``rules`` is None when the bucket has no CORS configuration; ``method`` and
    ``request_headers`` are the ``Access-Control-Request-*`` headers as sent;
    ``resource_type`` is ``BUCKET`` when the URL names the bucket itself."""
    if not origin:
        raise S3Error("BadRequest", "Insufficient information. Origin request header needed.", 400)
    if rules is None:
        # S3 compat: this refusal always says BUCKET, and OPTIONS when no method was asked.
        raise _forbidden(
            "CORSResponse: CORS is not enabled for this bucket.", method or "OPTIONS", "BUCKET"
        )
    if not method:
        raise S3Error("BadRequest", "Invalid Access-Control-Request-Method: null", 400)
    names = requested_headers(request_headers)
    matched = _match(rules, origin, method, names)
    if matched is None:
        raise _forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the "
            "evalution of Origin, request method / Access-Control-Request-Method or "
            "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            method,
            resource_type,
        )
    rule, allowed_origin = matched
    headers = _headers(rule, allowed_origin, origin)
    if names:
        # S3 compat: the names asked for, lowercased, in the order asked.
        headers["Access-Control-Allow-Headers"] = ", ".join(names)
    return headers


def _forbidden(message: str, method: str, resource_type: str) -> S3Error:
    return S3Error(
        "AccessForbidden", message, 403, {"Method": method, "ResourceType": resource_type}
    )


def actual_response_headers(
    rules: Sequence[CORSRule] | None,
    origin: str | None,
    method: str,
    request_method: str | None = None,
    request_headers: str | None = None,
) -> dict[str, str]:
    """The CORS headers of the answer to a request that is not a preflight: none without an
    ``Origin``, a configuration or a matching rule (the request itself goes ahead either way:
    it is the browser that withholds the answer). Its own headers are not checked, but an
    ``Access-Control-Request-Method`` (``request_method``) and ``-Headers``
    (``request_headers``) it carries are matched as a preflight's, as S3 does."""
    if not origin or rules is None:
        return {}
    matched = _match(rules, origin, request_method or method, requested_headers(request_headers))
    if matched is None:
        return {}
    rule, allowed_origin = matched
    return _headers(rule, allowed_origin, origin)
