"""How the client writes a name into a URL path, and the plumbing its parts share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote


def segment(value: str) -> str:
    """One path segment: an object key's ``/``, ``?`` or ``..`` must not change the route."""
    encoded = quote(value, safe="")
    # "." and ".." are dot segments that URL normalisation would resolve away.
    return encoded.replace(".", "%2E") if encoded in {".", ".."} else encoded


class Plumbing:
    """What the client's parts (bucket settings, KMS keys) call to speak HTTP:
    ``NexqClient`` implements it once for all of them."""

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        text: str | None = None,
    ) -> Any:
        raise NotImplementedError  # NexqClient's

    def _download(self, path: str) -> bytes:
        raise NotImplementedError  # NexqClient's

    def _pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        raise NotImplementedError  # NexqClient's

    def _list(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        raise NotImplementedError  # NexqClient's
