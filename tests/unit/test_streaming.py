"""The aws-chunked decoder: framing under any split of the input, and the signature chain."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterable

import pytest

from nexq.storage.checksums import new_hasher
from nexq.storage.s3 import sigv4
from nexq.storage.s3.streaming import (
    MAX_CHUNK_HEADER,
    MAX_TRAILER_SECTION,
    ChunkData,
    ChunkedDecoder,
    ChunkedError,
    ChunkEnd,
    Done,
    Event,
    Trailers,
)

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_KEY = sigv4.derive_signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
DOC_DATA = b"a" * 66560


def decode(
    body: bytes, pieces: Iterable[int] | None = None, *, signed: bool = False
) -> list[Event]:
    """Feed ``body`` cut at the given sizes (all at once by default) and finish."""
    decoder = ChunkedDecoder(signed=signed)
    events: list[Event] = []
    pos = 0
    for size in pieces or [len(body)]:
        events += decoder.feed(body[pos : pos + size])
        pos += size
    events += decoder.feed(body[pos:])
    events += decoder.finish()
    assert decoder.done
    return events


def random_pieces(length: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    pieces = []
    while length > 0:
        size = min(length, rng.choice([1, 2, 3, 7, 100, 4096, 70000]))
        pieces.append(size)
        length -= size
    return pieces


def data_of(events: list[Event]) -> bytes:
    return b"".join(bytes(e.data) for e in events if isinstance(e, ChunkData))


def ends_of(events: list[Event]) -> list[ChunkEnd]:
    return [e for e in events if isinstance(e, ChunkEnd)]


def trailers_of(events: list[Event]) -> Trailers | None:
    found = [e for e in events if isinstance(e, Trailers)]
    assert len(found) <= 1
    return found[0] if found else None


def verify_chain(events: list[Event], seed: str, *, key: bytes, amz_date: str, scope: str) -> bool:
    """What the S3 layer will do: check every chunk's signature, then the trailer's."""
    previous = seed
    for event in events:
        if isinstance(event, ChunkEnd):
            assert event.sha256_hex is not None and event.signature is not None
            sts = sigv4.chunk_string_to_sign(amz_date, scope, previous, event.sha256_hex)
            expected = sigv4.signature(key, sts)
            if not sigv4.verify(expected, event.signature):
                return False
            previous = event.signature
        elif isinstance(event, Trailers) and event.signature is not None:
            digest = hashlib.sha256(event.canonical).hexdigest()
            sts = sigv4.trailer_string_to_sign(amz_date, scope, previous, digest)
            if not sigv4.verify(sigv4.signature(key, sts), event.signature):
                return False
    return True


def sign_body(
    chunks: list[bytes],
    seed: str,
    *,
    key: bytes,
    amz_date: str,
    scope: str,
    trailers: dict[str, str] | None = None,
) -> bytes:
    """Build a signed aws-chunked body the way an SDK does."""
    out = bytearray()
    previous = seed
    for chunk in [*chunks, b""]:
        digest = hashlib.sha256(chunk).hexdigest()
        previous = sigv4.signature(
            key, sigv4.chunk_string_to_sign(amz_date, scope, previous, digest)
        )
        out += b"%x;chunk-signature=%s\r\n" % (len(chunk), previous.encode())
        if chunk:
            out += chunk + b"\r\n"
    if trailers is not None:
        canonical = sigv4.canonical_trailers(trailers)
        sts = sigv4.trailer_string_to_sign(
            amz_date, scope, previous, hashlib.sha256(canonical).hexdigest()
        )
        for name, value in trailers.items():
            out += f"{name}:{value}\r\n".encode()
        out += f"x-amz-trailer-signature:{sigv4.signature(key, sts)}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


# ------------------------------------------------------------------ AWS's examples


def doc_body(signatures: list[str], trailer: bytes = b"") -> bytes:
    return (
        f"10000;chunk-signature={signatures[0]}\r\n".encode()
        + DOC_DATA[:65536]
        + f"\r\n400;chunk-signature={signatures[1]}\r\n".encode()
        + DOC_DATA[65536:]
        + f"\r\n0;chunk-signature={signatures[2]}\r\n".encode()
        + trailer
        + b"\r\n"
    )


def test_aws_documentation_streaming_example() -> None:
    # "Example: PUT Object" of S3's "Transferring Payload in Multiple Chunks".
    headers = {
        "content-encoding": ["aws-chunked"],
        "content-length": ["66824"],
        "host": ["s3.amazonaws.com"],
        "x-amz-content-sha256": [sigv4.STREAMING_PAYLOAD],
        "x-amz-date": [DOC_DATE],
        "x-amz-decoded-content-length": ["66560"],
        "x-amz-storage-class": ["REDUCED_REDUNDANCY"],
    }
    canonical = sigv4.canonical_request(
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        headers,
        sorted(headers),
        sigv4.STREAMING_PAYLOAD,
    )
    seed = sigv4.signature(DOC_KEY, sigv4.string_to_sign(DOC_DATE, DOC_SCOPE, canonical))
    assert seed == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    body = doc_body(
        [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ]
    )
    assert len(body) == 66824
    for seed_value in range(3):
        events = decode(body, random_pieces(len(body), seed_value), signed=True)
        assert data_of(events) == DOC_DATA
        assert [e.size for e in ends_of(events)] == [65536, 1024, 0]
        assert verify_chain(events, seed, key=DOC_KEY, amz_date=DOC_DATE, scope=DOC_SCOPE)
        assert isinstance(events[-1], Done) and events[-1].total == 66560
    # Swap two chunk signatures: the data still frames but the chain breaks.
    tampered = body.replace(b"ad80c730", b"bd80c730")
    events = decode(tampered, signed=True)
    assert not verify_chain(events, seed, key=DOC_KEY, amz_date=DOC_DATE, scope=DOC_SCOPE)


def test_aws_documentation_trailer_example() -> None:
    # "Example: PUT Object" of S3's "Signature calculations for trailing headers".
    headers = {
        "content-encoding": ["aws-chunked"],
        "host": ["s3.amazonaws.com"],
        "x-amz-content-sha256": [sigv4.STREAMING_PAYLOAD_TRAILER],
        "x-amz-date": [DOC_DATE],
        "x-amz-decoded-content-length": ["66560"],
        "x-amz-storage-class": ["REDUCED_REDUNDANCY"],
        "x-amz-trailer": ["x-amz-checksum-crc32c"],
    }
    canonical = sigv4.canonical_request(
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        headers,
        sorted(headers),
        sigv4.STREAMING_PAYLOAD_TRAILER,
    )
    seed = sigv4.signature(DOC_KEY, sigv4.string_to_sign(DOC_DATE, DOC_SCOPE, canonical))
    assert seed == "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    trailer = (
        b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
        b"x-amz-trailer-signature:"
        b"d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
    )
    body = doc_body(
        [
            "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
            "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
            "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
        ],
        trailer,
    )
    events = decode(body, random_pieces(len(body), 7), signed=True)
    found = trailers_of(events)
    assert found is not None
    assert found.headers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    assert found.canonical == b"x-amz-checksum-crc32c:sOO8/Q==\n"
    assert verify_chain(events, seed, key=DOC_KEY, amz_date=DOC_DATE, scope=DOC_SCOPE)
    crc = new_hasher("crc32c")
    crc.update(data_of(events))
    assert crc.digest_b64() == found.headers["x-amz-checksum-crc32c"]
    wrong = body.replace(b"sOO8/Q==", b"sOO8/Q=A")
    events = decode(wrong, signed=True)
    assert not verify_chain(events, seed, key=DOC_KEY, amz_date=DOC_DATE, scope=DOC_SCOPE)


# ------------------------------------------------------------ bodies signed here


@pytest.mark.parametrize("with_trailers", [False, True])
def test_self_signed_chain_under_every_split(with_trailers: bool) -> None:
    key = sigv4.derive_signing_key("secret", "20250101", "eu-west-1", "s3")
    scope = "20250101/eu-west-1/s3/aws4_request"
    amz_date = "20250101T000000Z"
    rng = random.Random(42)
    chunks = [rng.randbytes(n) for n in (8192, 1, 13, 8192, 3000)]
    trailers = {"x-amz-checksum-sha256": "abc=", "x-amz-checksum-crc32": "NhCmhg=="}
    seed = "f" * 64
    body = sign_body(
        chunks,
        seed,
        key=key,
        amz_date=amz_date,
        scope=scope,
        trailers=trailers if with_trailers else None,
    )
    byte_by_byte = decode(body, [1] * len(body), signed=True)
    for events in [
        byte_by_byte,
        *(decode(body, random_pieces(len(body), s), signed=True) for s in range(20)),
    ]:
        assert data_of(events) == b"".join(chunks)
        assert [e.size for e in ends_of(events)] == [*map(len, chunks), 0]
        assert [e.sha256_hex for e in ends_of(events)] == [
            hashlib.sha256(c).hexdigest() for c in [*chunks, b""]
        ]
        assert verify_chain(events, seed, key=key, amz_date=amz_date, scope=scope)
        found = trailers_of(events)
        assert (found is not None) == with_trailers
        if found is not None:
            assert found.headers == trailers
        assert events[-1] == Done(sum(map(len, chunks)))
    # Every single corrupted data byte breaks the chain.
    position = body.index(b"\r\n") + 2 + 5000
    corrupted = body[:position] + bytes([body[position] ^ 1]) + body[position + 1 :]
    events = decode(corrupted, signed=True)
    assert not verify_chain(events, seed, key=key, amz_date=amz_date, scope=scope)


# ---------------------------------------------------------------- unsigned framing


UNSIGNED_TRAILER_BODY = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"


def test_unsigned_payload_trailer() -> None:
    for pieces in (
        [1] * len(UNSIGNED_TRAILER_BODY),
        None,
        random_pieces(len(UNSIGNED_TRAILER_BODY), 3),
    ):
        events = decode(UNSIGNED_TRAILER_BODY, pieces)
        assert data_of(events) == b"hello"
        assert ends_of(events) == [
            ChunkEnd(5, None, None, final=False),
            ChunkEnd(0, None, None, final=True),
        ]
        found = trailers_of(events)
        assert found is not None
        assert found.headers == {"x-amz-checksum-crc32": "NhCmhg=="}
        assert found.signature is None
        assert events[-1] == Done(5)
    crc = new_hasher("CRC32")
    crc.update(b"hello")
    assert crc.digest_b64() == "NhCmhg=="


def test_botocore_aws_chunked_wrapper_output_decodes() -> None:
    from io import BytesIO

    from botocore.httpchecksum import AwsChunkedWrapper, CrtCrc32Checksum

    payload = random.Random(1).randbytes(300_000)
    wrapper = AwsChunkedWrapper(
        BytesIO(payload),
        checksum_cls=CrtCrc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=65536,
    )
    body = wrapper.read()
    events = decode(body, random_pieces(len(body), 5))
    assert data_of(events) == payload
    found = trailers_of(events)
    assert found is not None
    crc = new_hasher("crc32")
    crc.update(payload)
    assert found.headers["x-amz-checksum-crc32"] == crc.digest_b64()


def test_no_trailers_and_lenient_end() -> None:
    assert decode(b"3\r\nabc\r\n0\r\n\r\n")[-1] == Done(3)
    # Some clients omit the blank line after the last trailer (or the final chunk).
    events = decode(b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:x\r\n")
    found = trailers_of(events)
    assert found is not None and found.headers == {"x-amz-checksum-crc32": "x"}
    assert decode(b"0\r\n")[-1] == Done(0)


def test_large_chunk_is_not_buffered() -> None:
    size = 4 * 1024 * 1024
    payload = bytes(size)
    decoder = ChunkedDecoder(signed=True)
    events = decoder.feed(b"%x;chunk-signature=%s\r\n" % (size, b"0" * 64))
    assert events == []
    first = decoder.feed(payload[:1_000_000])
    assert len(first) == 1 and isinstance(first[0], ChunkData)
    assert len(first[0].data) == 1_000_000
    assert decoder.total == 1_000_000
    rest = decoder.feed(payload[1_000_000:] + b"\r\n")
    assert len(rest) == 2
    end = rest[1]
    assert isinstance(end, ChunkEnd)
    assert end.sha256_hex == hashlib.sha256(payload).hexdigest()


def test_data_events_are_views_not_copies() -> None:
    body = b"a\r\n0123456789\r\n"
    events = ChunkedDecoder().feed(body)
    first = events[0]
    assert isinstance(first, ChunkData)
    assert first.data.obj is body


def test_throughput_of_big_chunks() -> None:
    chunk = bytes(1024 * 1024)
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(64)) + b"0\r\n\r\n"
    decoder = ChunkedDecoder()
    started = time.perf_counter()
    count = 0
    for pos in range(0, len(body), 65536):
        count += len(decoder.feed(body[pos : pos + 65536]))
    decoder.finish()
    # About 30 ms here; a per-byte loop over 64 MiB would take many seconds.
    assert time.perf_counter() - started < 2.0
    assert decoder.total == 64 * len(chunk)
    assert count < 64 * 20


def test_memoryview_and_bytearray_input() -> None:
    body = bytearray(UNSIGNED_TRAILER_BODY)
    decoder = ChunkedDecoder()
    events = decoder.feed(memoryview(body)[:9]) + decoder.feed(memoryview(body)[9:])
    events += decoder.finish()
    assert data_of(events) == b"hello"


def test_uppercase_hex_and_extensions_without_signature() -> None:
    events = decode(b"A;foo=bar\r\n0123456789\r\n0\r\n\r\n")
    assert data_of(events) == b"0123456789"
    assert ends_of(events)[0].signature is None


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # not hex
        b"0x3\r\nabc\r\n0\r\n\r\n",  # a prefix int() would accept
        b"+3\r\nabc\r\n0\r\n\r\n",
        b"1_0\r\n",
        b"\r\n",  # an empty size
        b"11111111111111111\r\n",  # more than 16 hex digits
        b"3\r\nabcd\r\n0\r\n\r\n",  # more data than announced
        b"3\r\nab\r\n0\r\n\r\n",  # less data than announced
        b"3\r\nabc\n0\r\n\r\n",  # LF only after the data
        b"3\nabc\r\n0\r\n\r\n",  # LF only after the size
        b"3\r\nabc\r\n0\r\nno-colon-here\r\n\r\n",
        b"3\r\nabc\r\n0\r\n:value\r\n\r\n",
        b"3\r\nabc\r\n0\r\na:1\r\na:2\r\n\r\n",  # a repeated trailer
        b"3\r\nabc\r\n0\r\n\r\nextra",  # data after the end
    ],
)
def test_malformed_framing(body: bytes) -> None:
    for pieces in (None, [1] * len(body)):
        with pytest.raises(ChunkedError):
            decode(body, pieces)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"3\r\n",
        b"3\r\nab",
        b"3\r\nabc",
        b"3\r\nabc\r",
        b"3\r\nabc\r\n",
        b"3\r\nabc\r\n0",
        b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:",
    ],
)
def test_truncated_body(body: bytes) -> None:
    decoder = ChunkedDecoder()
    decoder.feed(body)
    with pytest.raises(ChunkedError):
        decoder.finish()


def test_signed_body_needs_chunk_signatures() -> None:
    with pytest.raises(ChunkedError):
        decode(b"3\r\nabc\r\n0\r\n\r\n", signed=True)
    with pytest.raises(ChunkedError):
        decode(b"3;chunk-signature=\r\nabc\r\n0\r\n\r\n", signed=True)


@pytest.mark.parametrize(
    "body",
    [
        "3;chunk-signature=ab\u00e9\r\nabc\r\n0\r\n\r\n".encode(),
        b"3;chunk-signature=zz\r\nabc\r\n0\r\n\r\n",
        b"0\r\nx-amz-trailer-signature:not hex\r\n\r\n",
        "0\r\nx-amz-trailer-signature:\u00e9\r\n\r\n".encode(),
    ],
)
def test_signatures_must_be_hex(body: bytes) -> None:
    # Keeping them ASCII matters: hmac.compare_digest raises on non-ASCII str.
    with pytest.raises(ChunkedError):
        decode(body)


def test_sigv4a_padded_signatures_pass_through() -> None:
    padded = "ab" * 35 + "*" * 4
    events = decode(f"3;chunk-signature={padded}\r\nabc\r\n0\r\n\r\n".encode())
    assert ends_of(events)[0].signature == padded


def test_chunk_header_length_is_bounded() -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedError):
        decoder.feed(b"3;" + b"x" * MAX_CHUNK_HEADER)
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedError):
        for _ in range(MAX_CHUNK_HEADER + 1):
            decoder.feed(b"0")
    # Just under the limit is fine.
    header = b"3;pad=" + b"x" * (MAX_CHUNK_HEADER - 8) + b"\r\n"
    assert data_of(decode(header + b"abc\r\n0\r\n\r\n")) == b"abc"


def test_trailer_section_is_bounded() -> None:
    line = b"x-amz-meta-" + b"a" * 100 + b":v\r\n"
    many = b"0\r\n" + b"".join(line.replace(b"meta-", b"m%d-" % i) for i in range(200)) + b"\r\n"
    assert len(many) > MAX_TRAILER_SECTION
    with pytest.raises(ChunkedError):
        decode(many)
    with pytest.raises(ChunkedError):
        decode(b"0\r\nx:" + b"v" * MAX_TRAILER_SECTION + b"\r\n\r\n", [100] * 200)
