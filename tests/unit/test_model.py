"""Pure rules of Object Storage: names, limits, key order helpers, conditional requests."""

from __future__ import annotations

import pytest

from nexq.core.identity import Account, Principal
from nexq.storage import errors
from nexq.storage.conditions import Conditions, check_copy_source, check_read
from nexq.storage.model import (
    Bucket,
    ObjectMeta,
    may_use,
    prefix_end,
    validate_bucket_name,
    validate_key,
    validate_user_metadata,
)


@pytest.mark.parametrize("name", ["abc", "a-b.c", "0" * 63, "a1.b2-c3"])
def test_valid_bucket_names(name: str) -> None:
    validate_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Abc",
        "a_b",
        ".abc",
        "abc-",
        "a..b",
        "a.-b",
        "10.0.0.1",
        "xn--a",
        "a-s3alias",
        "sthree-x",
        "ab\u00e9",
    ],
)
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(errors.InvalidBucketName):
        validate_bucket_name(name)


def test_key_and_metadata_limits() -> None:
    validate_key("k" * 1024)
    with pytest.raises(errors.KeyTooLong):
        validate_key("\u00e9" * 513)
    # Keys no S3 tool could address (the bucket's own URL; NUL is refused in any URI).
    for unreachable in ("", "a\x00b"):
        with pytest.raises(errors.InvalidArgument):
            validate_key(unreachable)
    validate_user_metadata({"a": "b" * 2000})
    with pytest.raises(errors.MetadataTooLarge):
        validate_user_metadata({"a": "b" * 2048})
    # Any value: S3 answers one with controls or non-ASCII as RFC 2047 encoded-words. A name
    # is a header's name, which no control can be part of.
    validate_user_metadata({"note": "a\r\nb\x00\u00e9"})
    with pytest.raises(errors.InvalidArgument):
        validate_user_metadata({"no\nte": "a"})


@pytest.mark.parametrize("prefix", ["a", "a/", "\u00e9", "x\U0010ffff", "\ud7ff"[:0] + "q\ud7ff"])
def test_prefix_end_bounds_everything_under_prefix(prefix: str) -> None:
    end = prefix_end(prefix)
    assert end is not None
    assert end.encode() > (prefix + "\U0010ffff" * 3).encode()
    assert end.encode() > prefix.encode()


def test_key_scope() -> None:
    mine = Bucket("b1", "mine", "acc", 0)
    other = Bucket("b2", "other", "acc", 0)
    foreign = Bucket("b3", "foreign", "acc2", 0)
    account = Account("acc", "a@example.com", "customer", "active", 0)
    everything = Principal(account, frozenset())
    scoped = Principal(account, frozenset(), reaches=frozenset({"b1"}))
    assert may_use(everything, mine) and may_use(everything, other)
    assert not may_use(everything, foreign)
    assert may_use(scoped, mine) and not may_use(scoped, other)


META = ObjectMeta("b", "k", 1, "etag1", 1_000_000.5, {}, {}, {}, None, ())


def test_conditions_follow_rfc_order() -> None:
    check_read(META, Conditions(if_match='"etag1"', if_unmodified_since=0))
    with pytest.raises(errors.PreconditionFailed):
        check_read(META, Conditions(if_match='"other"'))
    with pytest.raises(errors.NotModified):
        check_read(META, Conditions(if_none_match='W/"etag1", "x"'))
    check_read(META, Conditions(if_none_match='"other"', if_modified_since=2_000_000))
    with pytest.raises(errors.NotModified):
        check_read(META, Conditions(if_modified_since=1_000_000))
    with pytest.raises(errors.PreconditionFailed):
        check_read(META, Conditions(if_unmodified_since=999_999))
    with pytest.raises(errors.PreconditionFailed):
        check_copy_source(META, Conditions(if_none_match="*"))
