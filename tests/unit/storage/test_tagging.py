"""Tags: S3's rules for a tag set, the Tagging document, the x-amz-tagging header."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from nexq.storage.s3.errors import S3Error
from nexq.storage.s3.tagging_xml import (
    parse_bucket_tagging,
    parse_object_tagging,
    parse_tagging_header,
    render_tagging,
    render_tagging_header,
    tagging_count_headers,
)
from nexq.storage.tagging import InvalidTag, TagSet, TooManyTags, utf16_units, valid_text

Build = Callable[[Iterable[tuple[str, str]]], TagSet]
ASTRAL = "\U00010400"  # one character, two UTF-16 code units


def numbered(count: int) -> list[tuple[str, str]]:
    return [(f"key{i:02d}", f"value{i}") for i in range(count)]


def invalid(build: Build, pairs: list[tuple[str, str]]) -> InvalidTag:
    with pytest.raises(InvalidTag) as caught:
        build(pairs)
    return caught.value


# --- the rules -----------------------------------------------------------------------------


def test_a_tag_set_keeps_its_tags_in_key_order() -> None:
    tags = TagSet.for_object([("b", "2"), ("a", ""), ("c", "3")])
    assert list(tags) == [("a", ""), ("b", "2"), ("c", "3")]
    assert tags.as_dict() == {"a": "", "b": "2", "c": "3"}
    assert len(tags) == 3
    assert tags.has("b", "2")
    assert not tags.has("b", "3")


def test_an_object_holds_up_to_10_tags() -> None:
    assert len(TagSet.for_object(numbered(10))) == 10
    with pytest.raises(TooManyTags) as caught:
        TagSet.for_object(numbered(11))
    assert caught.value.message == "Object tags cannot be greater than 10"


def test_a_bucket_holds_up_to_50_tags_or_none() -> None:
    assert len(TagSet.for_bucket(numbered(50))) == 50
    assert len(TagSet.for_bucket([])) == 0
    with pytest.raises(TooManyTags) as caught:
        TagSet.for_bucket(numbered(51))
    assert caught.value.message == "Bucket tag count cannot be greater than 50"


@pytest.mark.parametrize("build", [TagSet.for_object, TagSet.for_bucket])
def test_keys_are_1_to_128_utf16_units(build: Build) -> None:
    for key in ("k", "k" * 128, ASTRAL * 64):
        assert len(build([(key, "v")])) == 1
    for key in ("", "k" * 129, ASTRAL * 65):
        error = invalid(build, [(key, "v")])
        assert error.message == "The TagKey you have provided is invalid"
        assert (error.key, error.value) == (key, None)


@pytest.mark.parametrize("build", [TagSet.for_object, TagSet.for_bucket])
def test_values_are_0_to_256_utf16_units(build: Build) -> None:
    for value in ("", "v" * 256, ASTRAL * 128):
        assert len(build([("k", value)])) == 1
    for value in ("v" * 257, ASTRAL * 129):
        error = invalid(build, [("k", value)])
        assert error.message == "The TagValue you have provided is invalid"
        assert (error.key, error.value) == ("k", value)


def test_utf16_units_count_astral_characters_twice() -> None:
    assert utf16_units("") == 0
    assert utf16_units("aé環") == 3
    assert utf16_units(ASTRAL + "a") == 3


@pytest.mark.parametrize(
    "text",
    ["space key", "punctuation+-=._:/@", "環境", "number-Ⅷ-²", "digit-\u0661", "no\u2028break"],
)
def test_letters_numbers_separators_and_the_symbols_are_allowed(text: str) -> None:
    assert valid_text(text)
    assert TagSet.for_object([(text, text)]).as_dict() == {text: text}


@pytest.mark.parametrize(
    "text", ["invalid!", "a&b", "a#b", "tab\there", "new\nline", "key-\u0345", "emoji😀", "[{,}]"]
)
def test_other_characters_are_refused(text: str) -> None:
    assert not valid_text(text)
    assert invalid(TagSet.for_object, [(text, "v")]).message == (
        "The TagKey you have provided is invalid"
    )
    assert invalid(TagSet.for_bucket, [("k", text)]).message == (
        "The TagValue you have provided is invalid"
    )


@pytest.mark.parametrize("build", [TagSet.for_object, TagSet.for_bucket])
def test_keys_are_unique(build: Build) -> None:
    error = invalid(build, [("TagOne", "ValueOne"), ("TagOne", "ValueOneAgain")])
    assert error.message == "Cannot provide multiple Tags with the same key"
    assert error.key == "TagOne"


def test_an_object_tag_may_not_use_the_aws_prefix() -> None:
    error = invalid(TagSet.for_object, [("aws:foo", "bar")])
    assert error.message == "Your TagKey cannot be prefixed with aws:"
    assert TagSet.for_object([("something:aws:stuff", "fine")]).has("something:aws:stuff", "fine")


def test_a_bucket_tag_may_not_use_the_aws_prefix_in_any_case() -> None:
    error = invalid(TagSet.for_bucket, [("aws:sometag", "nope")])
    assert error.message == "System tags cannot be added/updated by requester"
    error = invalid(TagSet.for_bucket, [("AWS:reserved", "value")])
    assert error.message == (
        'Invalid Tag. Tags cannot start with "aws:"(case insensitive) unless they are System '
        'Tags that start with "aws:"(case sensitive)'
    )
    assert len(TagSet.for_bucket([("not-aws:reserved", "value")])) == 1


def test_the_stored_form_is_compact_json_and_reads_back() -> None:
    # Stored sets were checked when put; the encoding itself carries any text.
    tags = TagSet((("a", ""), ("b", 'quote " here'), ("環境", "本番")))
    text = tags.to_json()
    assert text == '[["a",""],["b","quote \\" here"],["環境","本番"]]'
    assert TagSet.from_json(text) == tags
    assert TagSet.from_json(TagSet().to_json()) == TagSet()
    assert TagSet.from_json(None) == TagSet()
    assert TagSet.from_json("") == TagSet()


# --- the Tagging document ------------------------------------------------------------------


def tagging(*tags: tuple[str, str], ns: bool = True) -> bytes:
    root = '<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' if ns else "<Tagging>"
    items = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in tags)
    return f"{root}<TagSet>{items}</TagSet></Tagging>".encode()


def s3_refusal(parse: Callable[[Any], object], body: bytes | str) -> S3Error:
    with pytest.raises(S3Error) as caught:
        parse(body)
    return caught.value


def test_a_tagging_document_is_read_with_or_without_namespace() -> None:
    expected = TagSet.for_object([("item1", "foo"), ("item3", "")])
    assert parse_object_tagging(tagging(("item1", "foo"), ("item3", ""))) == expected
    assert parse_object_tagging(tagging(("item3", ""), ("item1", "foo"), ns=False)) == expected


def test_an_empty_tag_set_is_no_tags() -> None:
    assert len(parse_object_tagging(tagging())) == 0
    assert len(parse_bucket_tagging(tagging())) == 0


def test_white_space_and_escapes_are_kept_as_written() -> None:
    tags = parse_object_tagging(tagging((" a b ", "x &#x40; y")))
    assert tags.as_dict() == {" a b ": "x @ y"}


def test_the_document_renders_back_to_the_same_tags() -> None:
    tags = TagSet.for_bucket([("cost center", "a/b=c+d"), ("team", "search@x")])
    text = render_tagging(tags)
    assert text == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>'
        "<Tag><Key>cost center</Key><Value>a/b=c+d</Value></Tag>"
        "<Tag><Key>team</Key><Value>search@x</Value></Tag></TagSet></Tagging>"
    )
    assert parse_bucket_tagging(text.encode()) == tags
    assert "&lt;" in render_tagging([("k", "<")])  # stored tags are never trusted raw


@pytest.mark.parametrize(
    "body",
    [
        b"<Tagging><TagSet>",
        b"<Tags><TagSet/></Tags>",
        b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Value>a</Value></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key><Value/></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Tag><Key>a</Key><Value/><Color/></Tag></TagSet></Tagging>",
        b"<Tagging><TagSet><Other/></TagSet></Tagging>",
        b"<Tagging><TagSet/><TagSet/></Tagging>",
    ],
    ids=[
        "unfinished",
        "wrong-root",
        "no-value",
        "no-key",
        "two-keys",
        "unknown-in-tag",
        "unknown-in-tag-set",
        "two-tag-sets",
    ],
)
def test_documents_outside_the_schema_are_malformed(body: bytes) -> None:
    error = s3_refusal(parse_object_tagging, body)
    assert (error.code, error.status) == ("MalformedXML", 400)


def test_a_tagging_without_a_tag_set_is_no_tags() -> None:
    # AWS takes <Tagging/> (an SDK's TagSet=None) as an empty TagSet.
    assert len(parse_object_tagging(b"<Tagging></Tagging>")) == 0
    assert (
        len(parse_bucket_tagging(b'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'))
        == 0
    )


def test_too_many_tags_is_a_bad_request() -> None:
    error = s3_refusal(parse_object_tagging, tagging(*numbered(11)))
    assert (error.code, error.status, error.message) == (
        "BadRequest",
        400,
        "Object tags cannot be greater than 10",
    )
    assert len(parse_bucket_tagging(tagging(*numbered(50)))) == 50
    error = s3_refusal(parse_bucket_tagging, tagging(*numbered(51)))
    assert (error.code, error.message) == (
        "BadRequest",
        "Bucket tag count cannot be greater than 50",
    )


def test_an_invalid_tag_names_its_key_and_value() -> None:
    error = s3_refusal(parse_bucket_tagging, tagging(("valid-key", "invalid!")))
    assert (error.code, error.status) == ("InvalidTag", 400)
    assert error.message == "The TagValue you have provided is invalid"
    assert error.extra == {"TagKey": "valid-key", "TagValue": "invalid!"}
    error = s3_refusal(parse_object_tagging, tagging(("a", "1"), ("a", "2")))
    assert (error.code, error.message) == (
        "InvalidTag",
        "Cannot provide multiple Tags with the same key",
    )
    assert error.extra == {"TagKey": "a"}
    error = s3_refusal(parse_object_tagging, tagging(("aws:item1", "foo")))
    assert (error.code, error.message) == ("InvalidTag", "Your TagKey cannot be prefixed with aws:")
    error = s3_refusal(parse_object_tagging, tagging(("", "foo")))
    assert (error.code, error.message) == ("InvalidTag", "The TagKey you have provided is invalid")


# --- the x-amz-tagging header --------------------------------------------------------------


def test_the_header_is_a_url_query() -> None:
    assert parse_tagging_header("tag1=value1&tag2=value2").as_dict() == {
        "tag1": "value1",
        "tag2": "value2",
    }
    assert parse_tagging_header("a%20b=c%3Dd%2Fe&k=%E7%92%B0%E5%A2%83").as_dict() == {
        "a b": "c=d/e",
        "k": "環境",
    }
    assert parse_tagging_header("team=search+ranking").as_dict() == {"team": "search ranking"}


def test_a_key_without_a_value_holds_the_empty_value() -> None:
    assert list(parse_tagging_header("foo=bar&bar")) == [("bar", ""), ("foo", "bar")]
    assert parse_tagging_header("k=").as_dict() == {"k": ""}


def test_no_header_or_an_empty_one_is_no_tags() -> None:
    assert len(parse_tagging_header(None)) == 0
    assert len(parse_tagging_header("")) == 0
    assert parse_tagging_header("a=b&&c=d&").as_dict() == {"a": "b", "c": "d"}


@pytest.mark.parametrize(
    "header", ["TagSet=[{Key=string,Value=string}]", "a=b&a=c", "a=1=2", "k=%FF", "%C3=v"]
)
def test_a_header_that_is_not_a_tag_query_is_an_invalid_argument(header: str) -> None:
    error = s3_refusal(parse_tagging_header, header)
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.message == (
        "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
        "parameters without tag name duplicates."
    )
    assert error.extra == {"ArgumentName": "x-amz-tagging", "ArgumentValue": header}


def test_the_header_obeys_the_object_rules() -> None:
    error = s3_refusal(parse_tagging_header, "&".join(f"k{i}=v" for i in range(11)))
    assert (error.code, error.message) == ("BadRequest", "Object tags cannot be greater than 10")
    error = s3_refusal(parse_tagging_header, "aws:foo=bar")
    assert (error.code, error.message) == ("InvalidTag", "Your TagKey cannot be prefixed with aws:")
    # One key holding characters outside the tag set, once decoded.
    error = s3_refusal(parse_tagging_header, "TagSet%3D%5B%7BKey%3Dstring%2CValue%3Dstring%7D%5D")
    assert (error.code, error.message) == ("InvalidTag", "The TagKey you have provided is invalid")


def test_a_tag_set_renders_to_a_header_that_reads_back() -> None:
    tags = TagSet.for_object([("a b", "c=d+e"), ("k/@", "環境"), ("z", "")])
    header = render_tagging_header(tags)
    assert header == "a%20b=c%3Dd%2Be&k%2F%40=%E7%92%B0%E5%A2%83&z="
    assert parse_tagging_header(header) == tags


def test_the_tagging_count_header_is_sent_only_for_tagged_objects() -> None:
    assert tagging_count_headers(TagSet.for_object(numbered(3))) == {"x-amz-tagging-count": "3"}
    assert tagging_count_headers(TagSet()) == {}
    assert tagging_count_headers(None) == {}
