"""How the client writes a name into a URL path."""

from __future__ import annotations

from urllib.parse import quote


def segment(value: str) -> str:
    """One path segment: an object key's ``/``, ``?`` or ``..`` must not change the route."""
    encoded = quote(value, safe="")
    # "." and ".." are dot segments that URL normalisation would resolve away.
    return encoded.replace(".", "%2E") if encoded in {".", ".."} else encoded
