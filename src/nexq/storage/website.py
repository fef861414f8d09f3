"""A bucket's website configuration, and what the website endpoint decides with it.

S3 serves a bucket with a website configuration as a static site on its own endpoint: the
index document answers for a "folder" (a key ending in ``/``, the root), the error
document for a 4xx, routing rules redirect by key prefix or by the error a request met, and
``RedirectAllRequestsTo`` sends every request elsewhere. The configuration is kept as JSON in
the bucket's settings (under :data:`SETTING`); the S3 codec (``s3/website_xml.py``) reads and
writes AWS's XML, the endpoint (``s3/website.py``) serves with it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

SETTING = "website"
# An object's own redirect, stored with its content headers.
REDIRECT_LOCATION = "x-amz-website-redirect-location"
PROTOCOLS = ("http", "https")
MAX_ROUTING_RULES = 50
DEFAULT_REDIRECT_CODE = "301"


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where a routing rule sends a request; an absent field keeps the request's own."""

    host_name: str | None = None
    protocol: str | None = None
    replace_key_prefix_with: str | None = None
    replace_key_with: str | None = None
    http_redirect_code: str | None = None


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """A redirect, and when it applies: keys starting with ``key_prefix_equals``, requests
    that met the error ``http_error_code_returned_equals``, or both."""

    redirect: Redirect
    key_prefix_equals: str | None = None
    http_error_code_returned_equals: str | None = None

    def matches(self, key: str, status: int | None) -> bool:
        """Whether the rule applies to ``key``; ``status`` is the error the request met, or
        None before the object is read (when only a rule without an error code can apply)."""
        if self.key_prefix_equals is not None and not key.startswith(self.key_prefix_equals):
            return False
        if self.http_error_code_returned_equals is None:
            return status is None
        return status is not None and str(status) == self.http_error_code_returned_equals


@dataclass(frozen=True, slots=True)
class RedirectAll:
    """``RedirectAllRequestsTo``: the host every request goes to, keys kept."""

    host_name: str
    protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Website:
    """A bucket's WebsiteConfiguration: an index document (with an optional error
    document and routing rules), or a redirect of every request."""

    index_suffix: str | None = None
    error_key: str | None = None
    redirect_all: RedirectAll | None = None
    routing_rules: tuple[RoutingRule, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Website:
        fields: dict[str, Any] = json.loads(text)
        redirect_all = fields.get("redirect_all")
        return cls(
            index_suffix=fields.get("index_suffix"),
            error_key=fields.get("error_key"),
            redirect_all=RedirectAll(**redirect_all) if redirect_all else None,
            routing_rules=tuple(
                RoutingRule(
                    redirect=Redirect(**rule["redirect"]),
                    key_prefix_equals=rule.get("key_prefix_equals"),
                    http_error_code_returned_equals=rule.get("http_error_code_returned_equals"),
                )
                for rule in fields.get("routing_rules", ())
            ),
        )

    def rule_for(self, key: str, status: int | None = None) -> RoutingRule | None:
        """The first routing rule that applies to ``key`` (``status``: see
        :meth:`RoutingRule.matches`)."""
        return next((rule for rule in self.routing_rules if rule.matches(key, status)), None)


@dataclass(frozen=True, slots=True)
class Redirection:
    """An answer that sends the client elsewhere: its status and ``Location``."""

    status: int
    location: str


def follow(rule: RoutingRule, key: str, host: str, protocol: str) -> Redirection:
    """Where ``rule`` sends a request for ``key`` that came to ``host`` over ``protocol``."""
    redirect = rule.redirect
    if redirect.replace_key_with is not None:
        target = redirect.replace_key_with
    elif redirect.replace_key_prefix_with is not None:
        matched = len(rule.key_prefix_equals or "")
        target = redirect.replace_key_prefix_with + key[matched:]
    else:
        target = key
    scheme = redirect.protocol or protocol
    where = redirect.host_name or host
    return Redirection(
        int(redirect.http_redirect_code or DEFAULT_REDIRECT_CODE),
        f"{scheme}://{where}/{quote(target)}",
    )
