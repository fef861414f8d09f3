"""RFC 2047 encoded-words of user metadata, as S3 writes and reads them."""

from __future__ import annotations

import email.header

from hypothesis import given
from hypothesis import strategies as st

from nexq.storage.s3.encoded_words import decode, encode


def test_ascii_is_left_as_it_is() -> None:
    for value in ("", "plain", "a_b c=d?e", "=?UTF-8?B?w6k=?=", "tab\there"):
        assert encode(value) == value


def test_mostly_ascii_is_q_encoded_else_b_encoded() -> None:
    # The answers S3 gave for these values (the first two sent as UTF-8 header bytes, which
    # S3 reads as ISO-8859-1; the others from a form, which is UTF-8).
    assert encode("Miniö".encode().decode("latin-1")) == "=?UTF-8?Q?Mini=C3=83=C2=B6?="
    assert encode("ö".encode().decode("latin-1")) == "=?UTF-8?B?w4PCtg==?="
    assert encode("ÄMÄZÕÑ S3") == "=?UTF-8?Q?=C3=84M=C3=84Z=C3=95=C3=91_S3?="
    assert encode("\x00\x01\x02\x03\x04") == "=?UTF-8?B?AAECAwQ=?="
    # Half and half is B, as JavaMail counts it.
    assert encode("aé") == "=?UTF-8?B?YcOp?="


def test_cr_and_lf_never_reach_a_header() -> None:
    encoded = encode("a\r\nInjected: yes")
    assert encoded == "=?UTF-8?Q?a=0D=0AInjected:_yes?="
    assert "\r" not in encoded and "\n" not in encoded


def test_long_values_are_split_into_words_of_at_most_75_characters() -> None:
    encoded = encode("é" * 40)
    words = encoded.split(" ")
    assert len(words) == 2 and all(len(word) <= 75 for word in words)
    assert decode(encoded) == "é" * 40
    # Never inside a character outside the BMP.
    assert decode(encode("😀" * 30)) == "😀" * 30


def test_decode_follows_rfc_2047() -> None:
    assert decode("=?UTF-8?B?w6k=?=") == "é"
    assert decode("=?utf-8?q?caf=C3=A9_au_lait?=") == "café au lait"
    assert decode("=?ISO-8859-1?Q?caf=E9?=") == "café"
    assert decode("=?UTF-8*fr?Q?caf=C3=A9?=") == "café"  # RFC 2231 language
    # The space between two encoded-words goes; the space next to plain words stays.
    assert decode("a =?UTF-8?Q?x?= =?UTF-8?Q?y?= b") == "a xy b"
    # What does not decode stays as it came.
    for value in ("=?nope?Q?x?=", "=?UTF-8?Q?bad=ZZ?=", "x=?UTF-8?Q?y?=", "=?UTF-8?X?y?="):
        assert decode(value) == value


@given(st.text())
def test_what_is_encoded_decodes_to_itself(value: str) -> None:
    encoded = encode(value)
    assert encoded.isascii() and not any(c in encoded for c in "\r\n")
    if not value.isascii() or any(ord(c) < 0x20 and c != "\t" for c in value):
        assert decode(encoded) == value
        # And the standard library reads it the same.
        parts = email.header.decode_header(encoded)
        assert "".join(p.decode(c or "ascii") for p, c in parts) == value  # type: ignore[union-attr]
