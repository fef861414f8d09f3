"""User metadata values as S3 carries them in headers: RFC 2047 encoded-words.

AWS documents that a metadata value with non-US-ASCII characters is "character decoded as per
RFC 2047 before storing and encoded as per RFC 2047 to make them mail-safe before returning",
and that a value of US-ASCII characters only is "presented as is". What S3 is seen to answer
fits the MIME encoder of JavaMail (``MimeUtility.encodeText`` with UTF-8): Q-encoding when
most characters are ASCII (``Miniö`` sent as UTF-8 comes back ``=?UTF-8?Q?Mini=C3=83=C2=B6?=``),
B-encoding otherwise (``\\x00..\\x04`` comes back ``=?UTF-8?B?AAECAwQ=?=``), so that is what
:func:`encode` does, long values split into several words as it splits them. The bytes of a
header reach S3 as ISO-8859-1 characters: raw UTF-8 bytes are stored as two characters each,
which is why ``ö`` above comes back as ``Ã¶``.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

_CHARSET = "UTF-8"
_PREFIX = {False: f"=?{_CHARSET}?Q?", True: f"=?{_CHARSET}?B?"}
# JavaMail: 68 characters per encoded-word minus the charset's name.
_ROOM = 68 - len(_CHARSET)
# Q-encoding of a header's text (not of a word in a phrase): only these are escaped
# besides controls, space (as "_") and bytes outside ASCII.
_Q_SPECIALS = b"=_?"
_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_LWSP = " \t\r\n"
_TOKENS = re.compile(r"[ \t\r\n]+|[^ \t\r\n]+")


def encode(value: str) -> str:
    """``value`` as S3 returns it in an ``x-amz-meta-*`` header."""
    ascii_count = sum(1 for c in value if not _non_ascii(c))
    other_count = _utf16_length(value) - ascii_count
    if other_count == 0:
        return value
    # JavaMail counts UTF-16 units: a character outside the BMP counts twice.
    b_encoding = other_count >= ascii_count
    words: list[str] = []
    _encode(value, b_encoding, words)
    return " ".join(words)


def decode(value: str) -> str:
    """``value`` with its RFC 2047 encoded-words decoded, as S3 stores a metadata value.

    As JavaMail's ``decodeText``: words are separated by linear white space, the white space
    between two encoded-words goes, and a word that does not decode stays as it came.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    space = ""
    previous_encoded = False
    for token in _TOKENS.findall(value):
        if token[0] in _LWSP:
            space += token
            continue
        word = _decode_word(token)
        if word is None:
            out.append(space + token)
        else:
            out.append(word if previous_encoded else space + word)
        previous_encoded = word is not None
        space = ""
    out.append(space)
    return "".join(out)


def _non_ascii(char: str) -> bool:
    # JavaMail leaves CR and LF as they are (mail headers fold); an HTTP header cannot carry
    # them, so here they are encoded like the other controls.
    code = ord(char)
    return code >= 0x7F or (code < 0x20 and char != "\t")


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _encoded_length(data: bytes, b_encoding: bool) -> int:
    if b_encoding:
        return (len(data) + 2) // 3 * 4
    return sum(1 if 0x20 <= b < 0x7F and b not in _Q_SPECIALS else 3 for b in data)


def _encode(text: str, b_encoding: bool, words: list[str]) -> None:
    data = text.encode("utf-8")
    size = _utf16_length(text)
    if _encoded_length(data, b_encoding) > _ROOM and size > 1:
        # JavaMail halves its UTF-16 string, moving the cut before a surrogate pair it
        # would fall inside: the same cut here, by code points.
        split = _code_points_within(text, size // 2)
        if 0 < split < len(text):
            _encode(text[:split], b_encoding, words)
            _encode(text[split:], b_encoding, words)
            return
    if b_encoding:
        body = base64.b64encode(data).decode("ascii")
    else:
        body = "".join(_q_byte(b) for b in data)
    words.append(f"{_PREFIX[b_encoding]}{body}?=")


def _code_points_within(text: str, units: int) -> int:
    """How many leading characters of ``text`` fit in ``units`` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            return index
    return len(text)


def _q_byte(byte: int) -> str:
    if byte == 0x20:
        return "_"
    if byte < 0x20 or byte >= 0x7F or byte in _Q_SPECIALS:
        return f"={byte:02X}"
    return chr(byte)


def _decode_word(token: str) -> str | None:
    match = _WORD.fullmatch(token)
    if match is None:
        return None
    charset, kind, text = match.groups()
    try:
        codec = codecs.lookup(charset.split("*", 1)[0])  # RFC 2231 adds *language
        if kind in "bB":
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        else:
            data = _q_decode(text)
        return data.decode(codec.name, "replace")
    except (LookupError, binascii.Error, ValueError):
        return None  # as JavaMail: a word it cannot decode stays as it came


def _q_decode(text: str) -> bytes:
    out = bytearray()
    index = 0
    raw = text.encode("latin-1")
    while index < len(raw):
        byte = raw[index]
        if byte == ord("_"):
            out.append(0x20)
        elif byte == ord("="):
            out.append(int(raw[index + 1 : index + 3].decode("ascii"), 16))
            index += 2
        else:
            out.append(byte)
        index += 1
    return bytes(out)
