"""S3 flexible checksums: known values, incremental use, and both multipart combinations."""

from __future__ import annotations

import base64
import hashlib
import random

import awscrt.checksums
import pytest
from botocore.httpchecksum import (
    CrtCrc32cChecksum,
    CrtCrc32Checksum,
    CrtCrc64NvmeChecksum,
    Sha1Checksum,
    Sha256Checksum,
)

from nexq.storage import checksums
from nexq.storage.checksums import ALGORITHMS, combine_b64, crc_combine_full, new_hasher

BOTOCORE = {
    "CRC32": CrtCrc32Checksum,
    "CRC32C": CrtCrc32cChecksum,
    "CRC64NVME": CrtCrc64NvmeChecksum,
    "SHA1": Sha1Checksum,
    "SHA256": Sha256Checksum,
}
CRC_FUNCTIONS = {
    "CRC32": (awscrt.checksums.crc32, 4),
    "CRC32C": (awscrt.checksums.crc32c, 4),
    "CRC64NVME": (awscrt.checksums.crc64nvme, 8),
}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def checksum_of(algorithm: str, data: bytes) -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.digest_b64()


def test_algorithms() -> None:
    assert ALGORITHMS == ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        # The standard check value: each CRC of b"123456789".
        ("CRC32", b64(bytes.fromhex("cbf43926"))),
        ("CRC32C", b64(bytes.fromhex("e3069283"))),
        ("CRC64NVME", b64(bytes.fromhex("ae8b14860a799888"))),
        ("SHA1", b64(hashlib.sha1(b"123456789", usedforsecurity=False).digest())),
        ("SHA256", b64(hashlib.sha256(b"123456789").digest())),
    ],
)
def test_check_values(algorithm: str, expected: str) -> None:
    assert checksum_of(algorithm, b"123456789") == expected


def test_known_s3_values() -> None:
    assert checksum_of("crc32", b"hello") == "NhCmhg=="
    assert checksum_of("CRC32C", b"a" * 66560) == "sOO8/Q=="  # AWS's trailer example
    for algorithm in ALGORITHMS:
        empty = new_hasher(algorithm)
        assert len(empty.digest()) == {"SHA1": 20, "SHA256": 32, "CRC64NVME": 8}.get(algorithm, 4)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_matches_botocore(algorithm: str) -> None:
    data = random.Random(algorithm).randbytes(100_003)
    theirs = BOTOCORE[algorithm]()
    theirs.update(data)
    assert checksum_of(algorithm, data) == theirs.b64digest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_incremental_equals_one_shot(algorithm: str) -> None:
    data = random.Random(1).randbytes(50_000)
    hasher = new_hasher(algorithm.lower())
    view = memoryview(data)
    for start in range(0, len(data), 777):
        hasher.update(view[start : start + 777])
    hasher.update(b"")
    assert hasher.digest_b64() == checksum_of(algorithm, data)
    assert base64.b64decode(hasher.digest_b64()) == hasher.digest()
    # Reading the digest does not end the hash.
    hasher.update(b"more")
    assert hasher.digest_b64() == checksum_of(algorithm, data + b"more")


def test_unknown_algorithm() -> None:
    for name in ["MD5", "crc", "", "SHA512"]:
        with pytest.raises(ValueError):
            new_hasher(name)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_composite(algorithm: str) -> None:
    parts = [b"part one", b"", b"part three" * 1000]
    digests = [checksum_of(algorithm, part) for part in parts]
    raw = b"".join(base64.b64decode(d) for d in digests)
    assert combine_b64(algorithm, digests) == f"{checksum_of(algorithm, raw)}-3"
    assert combine_b64(algorithm.lower(), digests[:1]).endswith("-1")


def test_composite_known_value() -> None:
    # A CRC32 over the two 4-byte part CRCs, as S3 reports for a 2-part upload.
    first, second = checksum_of("CRC32", b"hello"), checksum_of("CRC32", b"world")
    raw = base64.b64decode(first) + base64.b64decode(second)
    crc = awscrt.checksums.crc32(raw, 0).to_bytes(4, "big")
    assert combine_b64("CRC32", [first, second]) == b64(crc) + "-2"


@pytest.mark.parametrize("algorithm", checksums.CRC_ALGORITHMS)
@pytest.mark.parametrize("native", [True, False])
def test_full_object_equals_crc_of_concatenation(algorithm: str, native: bool) -> None:
    rng = random.Random(algorithm)
    sizes = [0, 1, 2, 3, 1000, 65536, 0, 5_000_001, 17]
    parts = [rng.randbytes(size) for size in sizes]
    described = [(checksum_of(algorithm, part), len(part)) for part in parts]
    whole = checksum_of(algorithm, b"".join(parts))
    assert crc_combine_full(algorithm, described, native=native) == whole
    assert crc_combine_full(algorithm, described[:1], native=native) == described[0][0]
    empty = checksum_of(algorithm, b"")
    assert crc_combine_full(algorithm, [], native=native) == empty


@pytest.mark.parametrize("algorithm", checksums.CRC_ALGORITHMS)
def test_python_combination_matches_awscrt_for_huge_parts(algorithm: str) -> None:
    # Multi-GiB parts cannot be hashed in a test, but the two combinations must agree.
    if not hasattr(awscrt.checksums, "combine_" + algorithm.lower()):
        pytest.skip("this awscrt has no native combination")
    rng = random.Random(7)
    width = CRC_FUNCTIONS[algorithm][1]
    parts = [
        (b64(rng.getrandbits(8 * width).to_bytes(width, "big")), size)
        for size in (5 * 1024**3, 1, 2**40 + 12345, 5 * 1024**2, 0)
    ]
    assert crc_combine_full(algorithm, parts) == crc_combine_full(algorithm, parts, native=False)


def test_full_object_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        crc_combine_full("SHA256", [(checksum_of("SHA256", b"x"), 1)])
    with pytest.raises(ValueError):
        crc_combine_full("CRC32", [(checksum_of("CRC64NVME", b"x"), 1)])
    with pytest.raises(ValueError):
        crc_combine_full("CRC32", [(checksum_of("CRC32", b"x"), -1)])
    with pytest.raises(ValueError):
        crc_combine_full("CRC32", [("not base64!", 1)])
    with pytest.raises(ValueError):
        crc_combine_full("MD5", [])
