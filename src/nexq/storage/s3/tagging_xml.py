"""Tags on the wire: the ``Tagging`` document (Put/Get Object/Bucket Tagging), the
``x-amz-tagging`` header of PutObject, CreateMultipartUpload and CopyObject, and
``x-amz-tagging-count`` on GetObject and HeadObject.

Every parser here validates with :class:`TagSet`'s rules and answers S3's error for a
broken one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import quote, unquote_plus

from nexq.storage.s3.document import Fields, root_of
from nexq.storage.s3.errors import S3Error, invalid_argument
from nexq.storage.s3.xml import children, document, escape, parse_document
from nexq.storage.tagging import InvalidTag, TagSet, TooManyTags

MAX_DOCUMENT_BYTES = 64 * 1024

_INVALID_HEADER = (
    "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
    "parameters without tag name duplicates."
)


def tag_error(exc: InvalidTag | TooManyTags) -> S3Error:
    """The S3 error for a tag set S3 refuses: InvalidTag names the key (and the value when
    the value is at fault); too many tags is BadRequest."""
    if isinstance(exc, TooManyTags):
        return S3Error("BadRequest", exc.message, 400)
    extra = {"TagKey": exc.key}
    if exc.value is not None:
        extra["TagValue"] = exc.value
    return S3Error("InvalidTag", exc.message, 400, extra)


def parse_object_tagging(body: bytes) -> TagSet:
    """PutObjectTagging's body (an empty TagSet removes every tag)."""
    return _validated(_pairs(body), TagSet.for_object)


def parse_bucket_tagging(body: bytes) -> TagSet:
    """PutBucketTagging's body (an empty TagSet leaves the bucket without tags)."""
    return _validated(_pairs(body), TagSet.for_bucket)


def parse_new_bucket_tags(body: bytes) -> TagSet:
    """The Tags of CreateBucket's CreateBucketConfiguration (none when it has none), checked
    as PutBucketTagging's are."""
    if not body.strip():
        return TagSet.for_bucket(())
    pairs = []
    for tags in children(parse_document(body), "Tags"):
        for tag in Fields(tags, frozenset({"Tag"})).many("Tag"):
            fields = Fields(tag, frozenset({"Key", "Value"}))
            pairs.append((fields.required_text("Key"), fields.required_text("Value")))
    return _validated(pairs, TagSet.for_bucket)


def _validated(
    pairs: list[tuple[str, str]], build: Callable[[Iterable[tuple[str, str]]], TagSet]
) -> TagSet:
    try:
        return build(pairs)
    except (InvalidTag, TooManyTags) as exc:
        raise tag_error(exc) from None


def _pairs(body: bytes) -> list[tuple[str, str]]:
    root = root_of(body, "Tagging", MAX_DOCUMENT_BYTES)
    tag_set = Fields(root, frozenset({"TagSet"})).element("TagSet")
    if tag_set is None:
        return []  # S3 compat: <Tagging/> (an SDK's empty TagSet left out) is no tags at all
    pairs = []
    for tag in Fields(tag_set, frozenset({"Tag"})).many("Tag"):
        fields = Fields(tag, frozenset({"Key", "Value"}))
        pairs.append((fields.required_text("Key"), fields.required_text("Value")))
    return pairs


def render_tagging(tags: Iterable[tuple[str, str]]) -> str:
    """GetObjectTagging's and GetBucketTagging's document."""
    items = "".join(
        f"<Tag><Key>{escape(key)}</Key><Value>{escape(value)}</Value></Tag>" for key, value in tags
    )
    return document("Tagging", f"<TagSet>{items}</TagSet>")


def parse_tagging_header(value: str | None) -> TagSet:
    """The ``x-amz-tagging`` header: ``k1=v1&k2=v2``, each part percent-encoded UTF-8 (``+``
    a space, as in a form). A key without ``=`` holds the empty value."""
    if not value:
        return TagSet()
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in value.split("&"):
        if not part:
            continue
        if part.count("=") > 1:
            raise invalid_argument(_INVALID_HEADER, "x-amz-tagging", value)
        raw_key, _, raw_value = part.partition("=")
        key, tag_value = _decoded(raw_key, value), _decoded(raw_value, value)
        if key in seen:
            raise invalid_argument(_INVALID_HEADER, "x-amz-tagging", value)
        seen.add(key)
        pairs.append((key, tag_value))
    return _validated(pairs, TagSet.for_object)


def _decoded(text: str, header: str) -> str:
    try:
        return unquote_plus(text, errors="strict")
    except UnicodeDecodeError:
        raise invalid_argument(_INVALID_HEADER, "x-amz-tagging", header) from None


def render_tagging_header(tags: Iterable[tuple[str, str]]) -> str:
    """A tag set in ``x-amz-tagging``'s form, every reserved character percent-encoded."""
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in tags)


def tagging_count_headers(tags: TagSet | None) -> dict[str, str]:
    """``x-amz-tagging-count`` for GetObject/HeadObject: only when the object has tags."""
    return {"x-amz-tagging-count": str(len(tags))} if tags else {}
