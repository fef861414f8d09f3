"""The website endpoint: a bucket with a website configuration served as a static site.

S3 serves websites on a host name of their own (``<bucket>.<website domain>``), not on the
REST endpoint, and answers there as a web server does rather than as an API: only GET and
HEAD, every request anonymous (what the bucket's policy or ACLs make public is served),
errors as HTML pages, the index document for a folder, the error document for a 4xx, and
redirects from routing rules, from ``RedirectAllRequestsTo`` or from an object's own
``x-amz-website-redirect-location``.

:func:`answer` decides what to answer; it reads objects through ``fetch``, which the S3 app
gives it: an anonymous GET (or HEAD) of a key, authorized, metered and rate-limited as any
other, raising the S3 error it met.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape

from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.http import Response
from nexq.storage.website import REDIRECT_LOCATION as REDIRECT_HEADER
from nexq.storage.website import Redirection, Website, follow

# Reads an object anonymously; ``plain``: without the request's range and conditions.
Fetch = Callable[[str, bool], Awaitable[Response]]
Configuration = Callable[[], Awaitable[Website | None]]

_REASONS = {
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    416: "Requested Range Not Satisfiable",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Absent(S3Error):
    """The key asked for is not there (answered as NoSuchKey, or as AccessDenied to a caller
    the bucket does not let list it): the index document of the folder it may name is tried."""


@dataclass(frozen=True, slots=True)
class Visit:
    """A request to the website endpoint."""

    method: str
    bucket: str
    key: str  # decoded, without the leading "/"
    path: str  # as the client sent it, encoded
    host: str  # as the client sent it (port included): where redirects stay
    protocol: str  # http or https


def bucket_of(host: str, suffix: str) -> str | None:
    """The bucket a website request's ``Host`` names (``<bucket><suffix>``, port ignored),
    or None when the host is not a website host."""
    name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host
    if not name.endswith(suffix) or len(name) == len(suffix):
        return None
    return name[: -len(suffix)]


async def answer(visit: Visit, configuration: Configuration, fetch: Fetch) -> Response:
    """What the website endpoint answers ``visit``: ``configuration`` reads the bucket's
    (None: it has none; NoSuchBucket when there is no bucket)."""
    if visit.method not in ("GET", "HEAD"):
        # S3 compat: refused before anything is looked up, and never with the error document.
        raise S3Error(
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            405,
            {"Method": visit.method, "ResourceType": "OBJECT"},
        )
    website = await configuration()
    if website is None:
        raise S3Error(
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
            404,
            {"BucketName": visit.bucket},
        )
    if website.redirect_all is not None:
        target = website.redirect_all
        location = f"{target.protocol or visit.protocol}://{target.host_name}{visit.path}"
        return moved(Redirection(301, location))
    # S3 compat: a rule without an error code redirects before the object is read (an
    # existing object, or one with a redirect of its own, included).
    rule = website.rule_for(visit.key)
    if rule is not None:
        return moved(follow(rule, visit.key, visit.host, visit.protocol))
    key = visit.key
    if key == "" or key.endswith("/"):
        key += website.index_suffix or ""
    try:
        return await _served(await fetch(key, False))
    except S3Error as error:
        if isinstance(error, Absent) and key == visit.key:
            folder = await _folder(visit, website, fetch)
            if folder is not None:
                return folder
        rule = website.rule_for(visit.key, error.status)
        if rule is not None:
            return moved(follow(rule, visit.key, visit.host, visit.protocol))
        return await _error_document(website, error, fetch)


async def _served(response: Response) -> Response:
    """An object as the website serves it: its own redirect, if it has one."""
    location = response.headers.get(REDIRECT_HEADER)
    if location is None:
        return response
    await _discard(response)
    return Response(301, {"location": location})


async def _folder(visit: Visit, website: Website, fetch: Fetch) -> Response | None:
    """S3 compat: a key that is not an object but a folder with an index document answers
    302 to the folder (``/key/``), so that the page's relative links resolve in it."""
    try:
        await _discard(await fetch(f"{visit.key}/{website.index_suffix}", True))
    except S3Error:
        return None
    return Response(302, {"location": f"/{quote(visit.key)}/"})


async def _error_document(website: Website, error: S3Error, fetch: Fetch) -> Response:
    """The error document, answered with the error's status, for a 4xx; else the error."""
    if website.error_key is None or not 400 <= error.status < 500:
        raise error
    try:
        document = await fetch(website.error_key, True)
    except S3Error as failed:
        raise ErrorDocumentFailed(error, failed, website.error_key) from None
    if REDIRECT_HEADER in document.headers:
        return await _served(document)
    kept = {k: v for k, v in document.headers.items() if not k.startswith("x-amz-")}
    kept = {k: v for k, v in kept.items() if k not in ("accept-ranges", "content-range")}
    return Response(error.status, kept, document.body, document.stream)


class ErrorDocumentFailed(S3Error):
    """The error a request met, which the error document could not answer either."""

    def __init__(self, error: S3Error, failed: S3Error, key: str) -> None:
        super().__init__(error.code, error.message, error.status, error.extra, error.headers)
        self.failed = failed
        self.key = key


async def _discard(response: Response) -> None:
    aclose = getattr(response.stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def moved(redirection: Redirection) -> Response:
    return Response(redirection.status, {"location": redirection.location})


def error_page(error: S3Error, request_id: str, host_id: str) -> Response:
    """S3's HTML page for an error on the website endpoint."""
    title = f"{error.status} {_REASONS.get(error.status, 'Error')}"
    items = [*_items(error), ("RequestId", request_id), ("HostId", host_id)]
    parts = [
        f"<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n",
        _list(items),
    ]
    if isinstance(error, ErrorDocumentFailed):
        parts.append(
            "<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>\n"
        )
        parts.append(_list(_items(error.failed, error.key)))
    parts.append("<hr/>\n</body>\n</html>\n")
    headers = {"content-type": "text/html; charset=utf-8", **error.headers}
    return Response(error.status, headers, "".join(parts).encode())


def _items(error: S3Error, key: str | None = None) -> list[tuple[str, str]]:
    items = [("Code", error.code), ("Message", error.message)]
    items += list(error.extra.items())
    if key is not None and "Key" not in error.extra:
        items.append(("Key", key))
    return items


def _list(items: list[tuple[str, str]]) -> str:
    lines = "".join(f"<li>{name}: {escape(value)}</li>\n" for name, value in items)
    return f"<ul>\n{lines}</ul>\n"
