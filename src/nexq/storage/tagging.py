"""Tags on objects and buckets: the tag set, S3's rules for it, and how stores keep it.

S3's limits: 10 tags on an object, 50 on a bucket; a key of 1 to 128 characters and a value
of 0 to 256, counted in UTF-16 code units as S3 counts them; keys unique; only letters,
numbers, separators (Unicode categories L, N and Z) and ``_ . : / = + - @``; and no key of
the ``aws:`` prefix, which is S3's own.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from nexq.core.errors import Invalid

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_UNITS = 128
MAX_VALUE_UNITS = 256
RESERVED_PREFIX = "aws:"
TAGGING_SETTING = "tagging"  # the bucket setting holding its tag set (JSON)
_SYMBOLS = frozenset("_.:/=+-@")


class InvalidTag(Invalid):
    """The tag provided was not a valid tag."""

    def __init__(self, message: str, key: str, value: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.value = value


class TooManyTags(Invalid):
    """More tags than the object or bucket may hold (S3's BadRequest)."""


@dataclass(frozen=True, slots=True)
class TagSet:
    """Tags as (key, value) pairs in key order; build one with :meth:`for_object` or
    :meth:`for_bucket`, which apply S3's rules."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def for_object(cls, pairs: Iterable[tuple[str, str]]) -> TagSet:
        """An object's tag set (PutObjectTagging, ``x-amz-tagging``), or InvalidTag /
        TooManyTags."""
        given = list(pairs)
        if len(given) > MAX_OBJECT_TAGS:
            raise TooManyTags(f"Object tags cannot be greater than {MAX_OBJECT_TAGS}")
        return cls._checked(given, _object_reserved)

    @classmethod
    def for_bucket(cls, pairs: Iterable[tuple[str, str]]) -> TagSet:
        """A bucket's tag set (PutBucketTagging), or InvalidTag / TooManyTags."""
        given = list(pairs)
        if len(given) > MAX_BUCKET_TAGS:
            raise TooManyTags(f"Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}")
        return cls._checked(given, _bucket_reserved)

    @classmethod
    def _checked(cls, given: list[tuple[str, str]], reserved: Callable[[str], None]) -> TagSet:
        seen: set[str] = set()
        for key, value in given:
            if key in seen:
                raise InvalidTag("Cannot provide multiple Tags with the same key", key)
            seen.add(key)
            reserved(key)
            # S3 compat: a key or value too long is refused as "invalid", as its character
            # set is: S3 checks both with one pattern that bounds the length.
            if not 1 <= utf16_units(key) <= MAX_KEY_UNITS or not valid_text(key):
                raise InvalidTag("The TagKey you have provided is invalid", key)
            if utf16_units(value) > MAX_VALUE_UNITS or not valid_text(value):
                raise InvalidTag("The TagValue you have provided is invalid", key, value)
        return cls(tuple(sorted(given)))

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    def as_dict(self) -> dict[str, str]:
        return dict(self.pairs)

    def has(self, key: str, value: str) -> bool:
        """Whether the set holds ``key`` with exactly ``value``."""
        return (key, value) in self.pairs

    def to_json(self) -> str:
        """The compact form the metadata stores keep: ``[["k","v"],...]``."""
        return json.dumps(
            [list(pair) for pair in self.pairs], ensure_ascii=False, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str | None) -> TagSet:
        """A stored tag set, trusted as written by :meth:`to_json` (None or ``""``: no tags)."""
        if not text:
            return cls()
        return cls(tuple((str(key), str(value)) for key, value in json.loads(text)))


def _object_reserved(key: str) -> None:
    if key.startswith(RESERVED_PREFIX):
        raise InvalidTag(f"Your TagKey cannot be prefixed with {RESERVED_PREFIX}", key)


def _bucket_reserved(key: str) -> None:
    if key.startswith(RESERVED_PREFIX):
        raise InvalidTag("System tags cannot be added/updated by requester", key)
    if key[:4].lower() == RESERVED_PREFIX:
        # S3 compat: buckets refuse the prefix in any case, with this wording.
        raise InvalidTag(
            'Invalid Tag. Tags cannot start with "aws:"(case insensitive) unless they are '
            'System Tags that start with "aws:"(case sensitive)',
            key,
        )


def utf16_units(text: str) -> int:
    """The length S3 counts: UTF-16 code units (a character beyond U+FFFF counts two)."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def valid_text(text: str) -> bool:
    """Whether every character is one S3 allows in a tag: ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]``."""
    return all(c in _SYMBOLS or unicodedata.category(c)[0] in "LZN" for c in text)
