"""An object's bytes to or from a presigned URL: the REST API signs one request, and the bytes
go straight to the S3 endpoint, streamed in pieces so that memory stays bounded whatever the
object's size.

A presigned URL is a credential until it expires: it never appears in an error or a repr.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx
from defusedxml import ElementTree

from nexq.client.api import DEFAULT_TIMEOUT, ApiError, ClientError, Unreachable

PIECE = 1024 * 1024


def upload(
    url: str, source: BinaryIO, size: int, sent: Callable[[int], None] = lambda _: None
) -> str:
    """PUT ``size`` bytes of ``source`` to a presigned PUT URL; ``sent`` hears of every
    piece as it goes. The object's ETag."""

    def pieces() -> Iterator[bytes]:
        left = size
        while left > 0:
            piece = source.read(min(PIECE, left))
            if not piece:
                raise ClientError(f"the file ended {left} bytes short of its {size}")
            left -= len(piece)
            sent(len(piece))
            yield piece

    # Content-Length given: one single PUT, never chunked, as S3 expects of a presigned one.
    headers = {"Content-Length": str(size)}
    with _http() as http:
        response = _answer(url, lambda: http.put(url, content=pieces(), headers=headers))
        return str(response.headers.get("etag", "")).strip('"')


def download(
    url: str,
    target: BinaryIO,
    sized: Callable[[int | None], None] = lambda _: None,
    received: Callable[[int], None] = lambda _: None,
) -> int:
    """GET a presigned GET URL into ``target``: ``sized`` hears the object's size (None when
    the endpoint does not say it) before any byte, ``received`` every piece. Bytes written."""
    written = 0
    with _http() as http:
        request = http.build_request("GET", url)
        response = _answer(url, lambda: http.send(request, stream=True))
        try:
            length = response.headers.get("content-length")
            sized(int(length) if length and length.isdigit() else None)
            for piece in response.iter_bytes(PIECE):
                target.write(piece)
                written += len(piece)
                received(len(piece))
        except httpx.TransportError as exc:
            raise Unreachable(f"the download from {_origin(url)} broke off: {exc}") from None
        finally:
            response.close()
    return written


def _http() -> httpx.Client:
    return httpx.Client(timeout=DEFAULT_TIMEOUT)


def _answer(url: str, request: Callable[[], httpx.Response]) -> httpx.Response:
    """The endpoint's successful answer; a refusal is an ApiError with S3's own words."""
    try:
        response = request()
    except httpx.TransportError as exc:
        raise Unreachable(f"cannot reach {_origin(url)}: {exc or type(exc).__name__}") from None
    if response.is_success:
        return response
    response.read()
    raise _refusal(response)


def _refusal(response: httpx.Response) -> ApiError:
    """S3's error document (``<Error><Code>NoSuchKey</Code><Message>…``) as one line."""
    code = message = ""
    try:
        root = ElementTree.fromstring(response.content)
        code = root.findtext("Code") or ""
        message = root.findtext("Message") or ""
    except ElementTree.ParseError:
        pass
    except ValueError:  # defusedxml refuses entities and DTDs: not an S3 answer either
        pass
    detail = f"{message} ({code})" if message and code else message or code
    if not detail:
        detail = f"HTTP {response.status_code} {response.reason_phrase or 'error'}"
    return ApiError(response.status_code, code or "about:blank", detail, response.text)


def _origin(url: str) -> str:
    """The endpoint alone: the query holds the signature, which is as good as a key."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
