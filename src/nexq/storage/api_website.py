"""A bucket's static website through the REST API: ``/v1/storage/buckets/{name}/website``.

The document is the JSON shape aws-cli uses (``aws s3api put-bucket-website
--website-configuration file://website.json``), checked by the very code PutBucketWebsite
runs (``s3/website_xml.py``), so that the API refuses what S3 refuses, in S3's words. GET
adds where the site is served (``url``), which PUT ignores.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from nexq.core.errors import Invalid, NotFound
from nexq.core.identity import Principal
from nexq.storage.api_settings import BucketName, owned_bucket
from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.website_xml import parse_website
from nexq.storage.s3.xml import document, escape
from nexq.storage.service import ObjectStorage
from nexq.storage.website import SETTING, Redirect, RoutingRule, Website
from nexq.web.rest.security import Authorizer


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IndexShape(_Shape):
    Suffix: Annotated[str, Field(description="Appended to a folder's key: `index.html`.")]


class ErrorShape(_Shape):
    Key: Annotated[str, Field(description="The object answered, with its status, for a 4xx.")]


class RedirectAllShape(_Shape):
    HostName: str
    Protocol: Annotated[str | None, Field(description="http or https; default: the request's.")] = (
        None
    )


class ConditionShape(_Shape):
    KeyPrefixEquals: str | None = None
    HttpErrorCodeReturnedEquals: Annotated[str | None, Field(description="A 4xx or 5xx.")] = None


class RedirectShape(_Shape):
    HostName: str | None = None
    HttpRedirectCode: Annotated[str | None, Field(description="A 3xx; default 301.")] = None
    Protocol: str | None = None
    ReplaceKeyPrefixWith: str | None = None
    ReplaceKeyWith: str | None = None


class RoutingRuleShape(_Shape):
    Condition: ConditionShape | None = None
    Redirect: RedirectShape


class WebsiteDocument(_Shape):
    """An index document (with an optional error document and routing rules), or
    ``RedirectAllRequestsTo`` alone."""

    IndexDocument: IndexShape | None = None
    ErrorDocument: ErrorShape | None = None
    RedirectAllRequestsTo: RedirectAllShape | None = None
    RoutingRules: list[RoutingRuleShape] | None = None
    url: Annotated[
        str | None,
        Field(description="Where the site is served (answered by GET; ignored by PUT)."),
    ] = None


def website_of(body: WebsiteDocument) -> Website:
    """The configuration ``body`` describes, or Invalid with S3's reason."""
    try:
        return parse_website(_as_xml(body).encode())
    except S3Error as exc:
        if exc.code == "MalformedXML":
            raise Invalid(
                "RoutingRules: give at least one rule, each with a Redirect; a value holds a "
                "character S3 cannot store, or a required field is missing."
            ) from None
        raise Invalid(exc.message) from None


def website_document(website: Website, url: str | None = None) -> WebsiteDocument:
    """The JSON shape of a stored configuration (absent values left out)."""
    if website.redirect_all is not None:
        target = website.redirect_all
        return WebsiteDocument(
            RedirectAllRequestsTo=RedirectAllShape(
                HostName=target.host_name, Protocol=target.protocol
            ),
            url=url,
        )
    return WebsiteDocument(
        IndexDocument=IndexShape(Suffix=website.index_suffix or ""),
        ErrorDocument=ErrorShape(Key=website.error_key) if website.error_key else None,
        RoutingRules=[_rule_document(rule) for rule in website.routing_rules] or None,
        url=url,
    )


def _rule_document(rule: RoutingRule) -> RoutingRuleShape:
    has_condition = rule.key_prefix_equals is not None or (
        rule.http_error_code_returned_equals is not None
    )
    redirect: Redirect = rule.redirect
    return RoutingRuleShape(
        Condition=ConditionShape(
            KeyPrefixEquals=rule.key_prefix_equals,
            HttpErrorCodeReturnedEquals=rule.http_error_code_returned_equals,
        )
        if has_condition
        else None,
        Redirect=RedirectShape(
            HostName=redirect.host_name,
            HttpRedirectCode=redirect.http_redirect_code,
            Protocol=redirect.protocol,
            ReplaceKeyPrefixWith=redirect.replace_key_prefix_with,
            ReplaceKeyWith=redirect.replace_key_with,
        ),
    )


def _as_xml(body: WebsiteDocument) -> str:
    """``body`` as PutBucketWebsite's XML, element for element (nothing checked here)."""
    parts: list[str] = []
    if body.RedirectAllRequestsTo is not None:
        parts.append(_element("RedirectAllRequestsTo", _fields(body.RedirectAllRequestsTo)))
    if body.IndexDocument is not None:
        parts.append(_element("IndexDocument", _fields(body.IndexDocument)))
    if body.ErrorDocument is not None:
        parts.append(_element("ErrorDocument", _fields(body.ErrorDocument)))
    if body.RoutingRules is not None:
        rules = "".join(
            _element(
                "RoutingRule",
                (_element("Condition", _fields(rule.Condition)) if rule.Condition else "")
                + _element("Redirect", _fields(rule.Redirect)),
            )
            for rule in body.RoutingRules
        )
        parts.append(_element("RoutingRules", rules))
    return document("WebsiteConfiguration", "".join(parts))


def _fields(model: BaseModel) -> str:
    return "".join(
        _element(name, escape(str(value)))
        for name, value in model.model_dump(exclude_none=True).items()
    )


def _element(name: str, inner: str) -> str:
    return f"<{name}>{inner}</{name}>"


def add_routes(
    api: APIRouter, objects: ObjectStorage, auth: Authorizer, website_endpoint: str
) -> None:
    """Add the website routes to ``api`` (Object Storage's, under ``/v1/storage``);
    ``website_endpoint`` is a site's URL with ``{bucket}`` for its bucket's name."""
    Read = Annotated[Principal, Depends(auth.require("storage:read"))]  # noqa: N806 - a type alias
    Write = Annotated[Principal, Depends(auth.require("storage:write"))]  # noqa: N806 - a type alias

    def url(name: str) -> str:
        return website_endpoint.replace("{bucket}", name) + "/"

    @api.get(
        "/buckets/{name}/website",
        summary="A bucket's static website",
        response_model_exclude_none=True,
    )
    def get_website(name: BucketName, caller: Read) -> WebsiteDocument:
        """aws-cli's shape (get-bucket-website) and the site's ``url``; 404 when the bucket
        serves no website."""
        owned_bucket(objects, caller, name)
        text = objects.bucket_document(caller, name, SETTING)
        if text is None:
            raise NotFound(f"The bucket {name!r} has no website configuration.")
        return website_document(Website.from_json(text), url(name))

    @api.put(
        "/buckets/{name}/website",
        summary="Serve a bucket as a static website",
        response_model_exclude_none=True,
    )
    def put_website(name: BucketName, body: WebsiteDocument, caller: Write) -> WebsiteDocument:
        """aws-cli's shape (put-bucket-website --website-configuration), checked as
        PutBucketWebsite checks it; replaces the whole configuration. The site serves only
        what the bucket's policy makes public."""
        website = website_of(body)
        owned_bucket(objects, caller, name)
        objects.set_bucket_document(caller, name, SETTING, website.to_json())
        return website_document(website, url(name))

    @api.delete(
        "/buckets/{name}/website", status_code=204, summary="Stop serving a bucket's website"
    )
    def delete_website(name: BucketName, caller: Write) -> Response:
        owned_bucket(objects, caller, name)
        objects.set_bucket_document(caller, name, SETTING, None)
        return Response(status_code=204)
