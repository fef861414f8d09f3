"""Cursor pagination, the same on every list: ``?limit=&cursor=`` → items + next_cursor."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from nexq.core.errors import Invalid

T = TypeVar("T")
Item = TypeVar("Item", bound=BaseModel)
# The positions cursors stand for: a name or key, or a (created_at, id) pair.
Position = TypeVar("Position", str, tuple[float, str])

MAX_LIMIT = 1000
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")
]


class Page(BaseModel, Generic[Item]):
    """One page of a list; ``next_cursor`` is null on the last page."""

    items: list[Item]
    next_cursor: str | None


def encode(position: Any) -> str:
    """An opaque cursor for ``position`` (a JSON value)."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode(cursor: str | None) -> Any:
    """The position a cursor stands for; None for the first page."""
    if cursor is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Invalid("cursor: not a cursor given by this API.") from None


def decode_pair(cursor: str | None) -> tuple[float, str] | None:
    """A (created_at, id) position."""
    position = decode(cursor)
    if position is None:
        return None
    if (
        not isinstance(position, list)
        or len(position) != 2
        or not isinstance(position[0], int | float)
        or not isinstance(position[1], str)
    ):
        raise Invalid("cursor: not a cursor given by this API.")
    return float(position[0]), position[1]


def decode_text(cursor: str | None) -> str | None:
    """A position that is a string (a name or a key)."""
    position = decode(cursor)
    if position is not None and not isinstance(position, str):
        raise Invalid("cursor: not a cursor given by this API.")
    return position


def page_of(
    items: Sequence[T], limit: int, position: Callable[[T], Any]
) -> tuple[list[T], str | None]:
    """The first ``limit`` of ``items`` (fetched with one extra) and the cursor after them."""
    if len(items) > limit:
        return list(items[:limit]), encode(position(items[limit - 1]))
    return list(items), None


def page_after(
    items: Iterable[T], after: Position | None, limit: int, position: Callable[[T], Position]
) -> tuple[list[T], str | None]:
    """One page of a list held in memory: the first ``limit`` items after ``after``.

    Sorted here by the cursor's own position, so the order a page is cut in is the order the
    next page resumes from, whatever order ``items`` came in (a tie would otherwise skip or
    repeat items)."""
    rest = sorted((item for item in items if after is None or position(item) > after), key=position)
    return page_of(rest, limit, position)
