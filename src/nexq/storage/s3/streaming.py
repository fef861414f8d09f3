"""An incremental decoder for ``aws-chunked`` request bodies (S3's streaming uploads).

The wire format is::

    hex-size[;chunk-signature=sig]\\r\\n <size bytes> \\r\\n   ...repeated...
    0[;chunk-signature=sig]\\r\\n
    [name:value\\r\\n ...]                                     optional trailers
    \\r\\n

The decoder only frames: it hands out the data as it arrives, each chunk's signature and
(when asked) the SHA-256 of its data, and the trailers. Checking signatures and checksums is
the caller's job, with :mod:`nexq.storage.s3.sigv4` and :mod:`nexq.storage.checksums`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import Enum, auto

MAX_CHUNK_HEADER = 4096
MAX_TRAILER_SECTION = 16384
_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIGNATURE = re.compile(rb"[0-9a-fA-F*]*")
_EMPTY_SHA256 = hashlib.sha256().hexdigest()
_TRAILER_SIGNATURE = "x-amz-trailer-signature"


class ChunkedError(ValueError):
    """The body is not well-formed aws-chunked."""


@dataclass(frozen=True, slots=True)
class ChunkData:
    """Some of a chunk's data: a view into the bytes given to :meth:`ChunkedDecoder.feed`."""

    data: memoryview


@dataclass(frozen=True, slots=True)
class ChunkEnd:
    """A chunk is complete; ``final`` for the zero-length chunk that ends the data."""

    size: int
    signature: str | None
    sha256_hex: str | None
    final: bool


@dataclass(frozen=True, slots=True)
class Trailers:
    """The trailing headers, by lowercase name, without the trailer signature itself."""

    headers: dict[str, str]
    signature: str | None
    canonical: bytes = field(repr=False)
    """What the trailer signature covers: ``name:value\\n`` per trailer, in wire order."""


@dataclass(frozen=True, slots=True)
class Done:
    """The body ended cleanly; ``total`` is the number of data bytes it carried."""

    total: int


Event = ChunkData | ChunkEnd | Trailers | Done


class _State(Enum):
    HEADER = auto()
    DATA = auto()
    DATA_CRLF = auto()
    TRAILER = auto()
    DONE = auto()


class ChunkedDecoder:
    """Feed it the body in pieces of any size; it returns what each piece completed.

    With ``signed=True`` every chunk must carry ``chunk-signature`` and each :class:`ChunkEnd`
    has the SHA-256 of that chunk's data, ready for the signature chain.
    """

    def __init__(self, *, signed: bool = False) -> None:
        self._signed = signed
        self._state = _State.HEADER
        self._line = bytearray()
        self._remaining = 0
        self._crlf_seen = 0
        self._chunk_size = 0
        self._chunk_signature: str | None = None
        self._hash: hashlib._Hash | None = None
        self._trailer_lines: list[bytes] = []
        self._trailer_bytes = 0
        self._total = 0

    @property
    def total(self) -> int:
        """Data bytes decoded so far (compare with x-amz-decoded-content-length)."""
        return self._total

    @property
    def done(self) -> bool:
        """Whether the end of the body has been seen."""
        return self._state is _State.DONE

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Decode another piece of the body; ChunkedError if the framing is wrong."""
        view = memoryview(data).cast("B")
        events: list[Event] = []
        pos = 0
        end = len(view)
        while pos < end:
            state = self._state
            if state is _State.DATA:
                take = min(self._remaining, end - pos)
                piece = view[pos : pos + take]
                if self._hash is not None:
                    self._hash.update(piece)
                events.append(ChunkData(piece))
                self._remaining -= take
                self._total += take
                pos += take
                if not self._remaining:
                    self._state = _State.DATA_CRLF
            elif state is _State.DATA_CRLF:
                expected = b"\r\n"[self._crlf_seen]
                if view[pos] != expected:
                    raise ChunkedError("a chunk's data is not followed by CRLF")
                pos += 1
                self._crlf_seen += 1
                if self._crlf_seen == 2:
                    self._crlf_seen = 0
                    self._end_chunk(events, final=False)
                    self._state = _State.HEADER
            elif state is _State.DONE:
                raise ChunkedError("data after the end of the aws-chunked body")
            else:
                pos = self._take_line(view, pos, events)
        return events

    def finish(self) -> list[Event]:
        """The body has ended; ChunkedError unless it ended where aws-chunked may end."""
        events: list[Event] = []
        if self._state is _State.TRAILER and not self._line:
            # Some clients stop after the last trailer line without the closing blank line.
            self._end_trailers(events)
        if self._state is not _State.DONE:
            raise ChunkedError("the aws-chunked body ended early")
        return events

    # ---------------------------------------------------------------- internals

    def _take_line(self, view: memoryview, pos: int, events: list[Event]) -> int:
        limit = MAX_CHUNK_HEADER if self._state is _State.HEADER else MAX_TRAILER_SECTION
        newline = _find_newline(view, pos)
        if newline < 0:
            self._line += view[pos:]
            self._check_length(len(self._line), limit)
            return len(view)
        self._line += view[pos : newline + 1]
        self._check_length(len(self._line), limit)
        line = bytes(self._line)
        self._line.clear()
        if not line.endswith(b"\r\n"):
            raise ChunkedError("a line ends with a bare LF instead of CRLF")
        line = line[:-2]
        if self._state is _State.HEADER:
            self._chunk_header(line, events)
        else:
            self._trailer_line(line, events)
        return newline + 1

    def _check_length(self, length: int, limit: int) -> None:
        if self._state is _State.HEADER:
            if length > limit:
                raise ChunkedError("a chunk header is too long")
        elif self._trailer_bytes + length > limit:
            raise ChunkedError("the trailers are too long")

    def _chunk_header(self, line: bytes, events: list[Event]) -> None:
        size_part, _, extensions = line.partition(b";")
        size_part = size_part.strip(b" \t")
        if not _SIZE.fullmatch(size_part):
            raise ChunkedError(f"bad chunk size {size_part[:32]!r}")
        size = int(size_part, 16)
        signature = None
        if extensions:
            for extension in extensions.split(b";"):
                name, _, value = extension.partition(b"=")
                if name.strip(b" \t") == b"chunk-signature":
                    signature = _ascii_signature(value.strip(b" \t"))
        if self._signed and not signature:
            raise ChunkedError("a chunk of a signed body has no chunk-signature")
        self._chunk_size = size
        self._chunk_signature = signature
        if size == 0:
            self._hash = None
            self._end_chunk(events, final=True)
            self._state = _State.TRAILER
            return
        self._hash = hashlib.sha256() if self._signed else None
        self._remaining = size
        self._state = _State.DATA

    def _end_chunk(self, events: list[Event], *, final: bool) -> None:
        if not self._signed:
            digest = None
        elif self._hash is None:
            digest = _EMPTY_SHA256
        else:
            digest = self._hash.hexdigest()
        events.append(ChunkEnd(self._chunk_size, self._chunk_signature, digest, final))
        self._hash = None

    def _trailer_line(self, line: bytes, events: list[Event]) -> None:
        if not line:
            self._end_trailers(events)
            return
        self._trailer_bytes += len(line) + 2
        if self._trailer_bytes > MAX_TRAILER_SECTION:
            raise ChunkedError("the trailers are too long")
        self._trailer_lines.append(line)

    def _end_trailers(self, events: list[Event]) -> None:
        headers: dict[str, str] = {}
        signature = None
        canonical = bytearray()
        for line in self._trailer_lines:
            raw_name, colon, raw_value = line.partition(b":")
            name = raw_name.strip(b" \t").decode("latin-1").lower()
            if not colon or not name:
                raise ChunkedError(f"bad trailer line {line[:64]!r}")
            value = raw_value.strip(b" \t").decode("utf-8", "surrogateescape")
            if name == _TRAILER_SIGNATURE:
                if signature is not None:
                    raise ChunkedError("the trailer signature appears twice")
                signature = _ascii_signature(raw_value.strip(b" \t"))
                continue
            if name in headers:
                raise ChunkedError(f"trailer {name} appears twice")
            headers[name] = value
            canonical += name.encode("latin-1") + b":" + raw_value.strip(b" \t") + b"\n"
        if headers or signature is not None:
            events.append(Trailers(headers, signature, bytes(canonical)))
        self._trailer_lines.clear()
        self._state = _State.DONE
        events.append(Done(self._total))


def _ascii_signature(raw: bytes) -> str:
    # Signatures are hex (or '*'-padded hex for SigV4a); anything else is garbage, and
    # rejecting it here keeps non-ASCII out of hmac.compare_digest, which raises on it.
    if not _SIGNATURE.fullmatch(raw):
        raise ChunkedError(f"bad signature {raw[:80]!r}")
    return raw.decode("ascii")


def _find_newline(view: memoryview, pos: int) -> int:
    # memoryview has no find(); searching the underlying object avoids copying the data.
    obj = view.obj
    if isinstance(obj, bytes | bytearray) and view.c_contiguous and len(obj) == len(view):
        return obj.find(b"\n", pos)
    # Anything else (a slice, an odd buffer): copy the short header-sized window only.
    window = bytes(view[pos : pos + MAX_TRAILER_SECTION + 1])
    found = window.find(b"\n")
    return -1 if found < 0 else pos + found
