"""PutBucketWebsite's ``WebsiteConfiguration`` document, read and checked as S3 checks it,
and GetBucketWebsite's, rendered back from the stored configuration."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from nexq.storage.s3.document import Fields, root_of
from nexq.storage.s3.errors import S3Error, invalid_argument, invalid_request, malformed_xml
from nexq.storage.s3.xml import document, escape
from nexq.storage.website import (
    MAX_ROUTING_RULES,
    PROTOCOLS,
    Redirect,
    RedirectAll,
    RoutingRule,
    Website,
)

_ROOT_FIELDS = frozenset(
    {"IndexDocument", "ErrorDocument", "RedirectAllRequestsTo", "RoutingRules"}
)
_REDIRECT_FIELDS = frozenset(
    {"HostName", "Protocol", "ReplaceKeyPrefixWith", "ReplaceKeyWith", "HttpRedirectCode"}
)
_CONDITION_FIELDS = frozenset({"KeyPrefixEquals", "HttpErrorCodeReturnedEquals"})


def parse_website(body: bytes) -> Website:
    """PutBucketWebsite's body as a configuration, or the S3 error AWS gives for it."""
    fields = Fields(root_of(body, "WebsiteConfiguration"), _ROOT_FIELDS)
    everything = fields.element("RedirectAllRequestsTo")
    if everything is not None:
        if fields.names() != ["RedirectAllRequestsTo"]:
            raise invalid_argument(
                "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
                "RedirectAllRequestsTo",
                "not null",
            )
        return Website(redirect_all=_redirect_all(Fields(everything, _ROOT_REDIRECT)))
    index = fields.element("IndexDocument")
    if index is None:
        raise invalid_argument(
            "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
            "IndexDocument",
            "null",
        )
    suffix = Fields(index, frozenset({"Suffix"})).required_text("Suffix")
    if not suffix or "/" in suffix:
        raise invalid_argument(
            "The IndexDocument Suffix is not well formed", "IndexDocument", suffix
        )
    error = fields.element("ErrorDocument")
    error_key = None if error is None else Fields(error, frozenset({"Key"})).required_text("Key")
    if error_key == "":
        raise invalid_argument("The ErrorDocument Key is not well formed", "ErrorDocument", "")
    rules_element = fields.element("RoutingRules")
    rules: tuple[RoutingRule, ...] = ()
    if rules_element is not None:
        elements = Fields(rules_element, frozenset({"RoutingRule"})).many("RoutingRule")
        if not elements:
            raise malformed_xml()
        if len(elements) > MAX_ROUTING_RULES:
            raise invalid_request(
                f"{len(elements)} routing rules provided, the number of routing rules in a "
                f"website configuration is limited to {MAX_ROUTING_RULES}."
            )
        rules = tuple(_rule(element) for element in elements)
    return Website(index_suffix=suffix, error_key=error_key, routing_rules=rules)


_ROOT_REDIRECT = frozenset({"HostName", "Protocol"})


def _redirect_all(fields: Fields) -> RedirectAll:
    host = fields.required_text("HostName")
    return RedirectAll(host_name=host, protocol=_protocol(fields))


def _protocol(fields: Fields) -> str | None:
    protocol = fields.text("Protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        raise invalid_request(
            "Invalid protocol, protocol can be http or https. If not defined the protocol will "
            "be selected automatically."
        )
    return protocol


def _rule(element: Element) -> RoutingRule:
    fields = Fields(element, frozenset({"Condition", "Redirect"}))
    redirect_element = fields.element("Redirect")
    if redirect_element is None:
        raise malformed_xml()
    redirect_fields = Fields(redirect_element, _REDIRECT_FIELDS)
    if not redirect_fields.names():
        raise _empty_redirect()
    redirect = Redirect(
        host_name=redirect_fields.text("HostName"),
        protocol=_protocol(redirect_fields),
        replace_key_prefix_with=redirect_fields.text("ReplaceKeyPrefixWith"),
        replace_key_with=redirect_fields.text("ReplaceKeyWith"),
        http_redirect_code=redirect_fields.text("HttpRedirectCode"),
    )
    if redirect.replace_key_with is not None and redirect.replace_key_prefix_with is not None:
        raise invalid_request("You can only define ReplaceKeyPrefix or ReplaceKey but not both.")
    code = redirect.http_redirect_code
    if code is not None and not _is_redirect_code(code):
        raise invalid_request(
            f"The provided HTTP redirect code ({code}) is not valid. Valid codes are 3XX except "
            "300."
        )
    condition = fields.element("Condition")
    if condition is None:
        return RoutingRule(redirect=redirect)
    condition_fields = Fields(condition, _CONDITION_FIELDS)
    prefix = condition_fields.text("KeyPrefixEquals")
    error_code = condition_fields.text("HttpErrorCodeReturnedEquals")
    if prefix is None and error_code is None:
        raise invalid_request(
            "Condition cannot be empty. To redirect all requests without a condition, the "
            "condition element shouldn't be present."
        )
    if error_code is not None and not _is_error_code(error_code):
        raise invalid_request(
            f"The provided HTTP error code ({error_code}) is not valid. Valid codes are 4XX or 5XX."
        )
    return RoutingRule(
        redirect=redirect, key_prefix_equals=prefix, http_error_code_returned_equals=error_code
    )


def _empty_redirect() -> S3Error:
    return invalid_request(
        "A redirect must specify at least one of HostName, Protocol, ReplaceKeyPrefixWith, "
        "ReplaceKeyWith or HttpRedirectCode."
    )


# S3 compat: the 3xx codes S3 accepts (the message says "3XX except 300", but 306, a code
# HTTP no longer defines, and the unassigned ones are refused too).
_REDIRECT_CODES = frozenset({"301", "302", "303", "304", "305", "307", "308"})


def _is_redirect_code(code: str) -> bool:
    return code in _REDIRECT_CODES


def _is_error_code(code: str) -> bool:
    return len(code) == 3 and code.isdigit() and code[0] in "45"


def render_website(website: Website) -> str:
    """GetBucketWebsite's document."""
    if website.redirect_all is not None:
        target = website.redirect_all
        inner = _element("HostName", target.host_name) + _element("Protocol", target.protocol)
        return document(
            "WebsiteConfiguration", f"<RedirectAllRequestsTo>{inner}</RedirectAllRequestsTo>"
        )
    parts = [f"<IndexDocument>{_element('Suffix', website.index_suffix)}</IndexDocument>"]
    if website.error_key is not None:
        parts.append(f"<ErrorDocument>{_element('Key', website.error_key)}</ErrorDocument>")
    if website.routing_rules:
        rules = "".join(_render_rule(rule) for rule in website.routing_rules)
        parts.append(f"<RoutingRules>{rules}</RoutingRules>")
    return document("WebsiteConfiguration", "".join(parts))


def _render_rule(rule: RoutingRule) -> str:
    condition = _element("HttpErrorCodeReturnedEquals", rule.http_error_code_returned_equals)
    condition += _element("KeyPrefixEquals", rule.key_prefix_equals)
    redirect = rule.redirect
    inner = "".join(
        (
            _element("HostName", redirect.host_name),
            _element("HttpRedirectCode", redirect.http_redirect_code),
            _element("Protocol", redirect.protocol),
            _element("ReplaceKeyPrefixWith", redirect.replace_key_prefix_with),
            _element("ReplaceKeyWith", redirect.replace_key_with),
        )
    )
    head = f"<Condition>{condition}</Condition>" if condition else ""
    return f"<RoutingRule>{head}<Redirect>{inner}</Redirect></RoutingRule>"


def _element(name: str, value: str | None) -> str:
    return "" if value is None else f"<{name}>{escape(value)}</{name}>"
