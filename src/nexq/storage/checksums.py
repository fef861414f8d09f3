"""Incremental hashers for S3's flexible checksums and the ways S3 combines them over parts."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")

CRC_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME")

# S3 compat: since December 2024 AWS gives every new object a whole-object CRC64NVME when
# its upload names no checksum (multipart uploads included), so that a client can check
# any object it reads back.
DEFAULT_ALGORITHM = "CRC64NVME"


class Hasher(Protocol):
    """A running checksum that S3 can compare with an ``x-amz-checksum-*`` header."""

    def update(self, data: bytes | memoryview) -> None:
        """Feed more bytes."""

    def digest(self) -> bytes:
        """The big-endian digest of everything fed so far."""

    def digest_b64(self) -> str:
        """The digest in base64, as S3 sends it in ``x-amz-checksum-*`` headers."""


# A CRC function of awscrt: (data, previous_crc) -> crc.
_CrcFunction = Callable[[bytes | memoryview, int], int]
_CrcCombine = Callable[[int, int, int], int]


class _CrcHasher:
    """A CRC kept as an int and continued with awscrt's native code."""

    __slots__ = ("_crc", "_function", "_width")

    def __init__(self, function: _CrcFunction, width: int) -> None:
        self._function = function
        self._width = width
        self._crc = 0

    def update(self, data: bytes | memoryview) -> None:
        """Feed more bytes."""
        self._crc = self._function(data, self._crc)

    def digest(self) -> bytes:
        """The big-endian digest of everything fed so far."""
        return self._crc.to_bytes(self._width, "big")

    def digest_b64(self) -> str:
        """The digest in base64, as S3 sends it in ``x-amz-checksum-*`` headers."""
        return base64.b64encode(self.digest()).decode("ascii")


class _HashlibHasher:
    """A SHA digest from hashlib."""

    __slots__ = ("_hash",)

    def __init__(self, name: str) -> None:
        # These are integrity checks, not security: SHA-1 must work under FIPS too.
        self._hash = hashlib.new(name, usedforsecurity=False)

    def update(self, data: bytes | memoryview) -> None:
        """Feed more bytes."""
        self._hash.update(data)

    def digest(self) -> bytes:
        """The big-endian digest of everything fed so far."""
        return self._hash.digest()

    def digest_b64(self) -> str:
        """The digest in base64, as S3 sends it in ``x-amz-checksum-*`` headers."""
        return base64.b64encode(self._hash.digest()).decode("ascii")


class _Crc:
    """What defines one of S3's CRCs: its width and reflected polynomial."""

    __slots__ = ("_x2n", "poly", "width")

    def __init__(self, width: int, poly: int) -> None:
        self.width = width
        self.poly = poly
        self._x2n: list[int] = []

    def multiply(self, a: int, b: int) -> int:
        """a * b modulo the polynomial, both in the reflected bit order CRCs use."""
        # In reflected order the top bit is x^0, so walk ``a`` from its top bit down
        # while ``b`` is multiplied by x (shifted right, reduced) at each step.
        top = 1 << (self.width - 1)
        product = 0
        m = top
        while m:
            if a & m:
                product ^= b
            m >>= 1
            b = (b >> 1) ^ self.poly if b & 1 else b >> 1
        return product

    def x_pow_8n(self, n: int) -> int:
        """x^(8n) modulo the polynomial: the shift that appends ``n`` zero bytes."""
        # x^(2^k) for k = 0, 1, ...; x^(8n) is the product of x^(2^(k+3)) over n's set bits.
        while len(self._x2n) < n.bit_length() + 3:
            if not self._x2n:
                self._x2n.append(1 << (self.width - 2))  # x^1
            else:
                last = self._x2n[-1]
                self._x2n.append(self.multiply(last, last))
        result = 1 << (self.width - 1)  # x^0
        k = 3
        while n:
            if n & 1:
                result = self.multiply(self._x2n[k], result)
            n >>= 1
            k += 1
        return result

    def combine(self, crc1: int, crc2: int, length2: int) -> int:
        """The CRC of A||B from CRC(A), CRC(B) and len(B)."""
        if not length2:
            # B is empty so CRC(B) must be 0; like awscrt, ignore a CRC that says otherwise.
            return crc1
        # The initial value and final xor of these CRCs cancel out, so shifting
        # CRC(A) past B's bytes and adding CRC(B) is the whole combination.
        return self.multiply(self.x_pow_8n(length2), crc1) ^ crc2


_CRCS = {
    "CRC32": _Crc(32, 0xEDB88320),
    "CRC32C": _Crc(32, 0x82F63B78),
    "CRC64NVME": _Crc(64, 0x9A6C9329AC4BC9B5),
}

_SHA_NAMES = {"SHA1": "sha1", "SHA256": "sha256"}


# awscrt is imported at the first CRC, not with this module: loading its native library is
# about 40 ms, which every `nexq` command paid and few use.
def _crc_function(algorithm: str) -> _CrcFunction:
    import awscrt.checksums

    functions: dict[str, _CrcFunction] = {
        "CRC32": awscrt.checksums.crc32,
        "CRC32C": awscrt.checksums.crc32c,
        "CRC64NVME": awscrt.checksums.crc64nvme,
    }
    return functions[algorithm]


def _native_combine(algorithm: str) -> _CrcCombine | None:
    import awscrt.checksums

    # Older awscrt releases lack combine_*; the Python fallback is exact, only slower.
    name = "combine_" + algorithm.lower()
    function: _CrcCombine | None = getattr(awscrt.checksums, name, None)
    return function


def _normalize(algorithm: str) -> str:
    upper = algorithm.upper()
    if upper not in ALGORITHMS:
        raise ValueError(f"unknown checksum algorithm: {algorithm!r}")
    return upper


def new_hasher(algorithm: str) -> Hasher:
    """A fresh hasher for one of :data:`ALGORITHMS` (any case); ValueError if unknown."""
    upper = _normalize(algorithm)
    if upper in _CRCS:
        return _CrcHasher(_crc_function(upper), _CRCS[upper].width // 8)
    return _HashlibHasher(_SHA_NAMES[upper])


def combine_b64(algorithm: str, part_digests_b64: Sequence[str]) -> str:
    """S3's COMPOSITE multipart checksum: the hash of the parts' raw digests, then ``-N``."""
    hasher = new_hasher(algorithm)
    for digest_b64 in part_digests_b64:
        hasher.update(base64.b64decode(digest_b64, validate=True))
    return f"{hasher.digest_b64()}-{len(part_digests_b64)}"


def crc_combine_full(
    algorithm: str, parts: Sequence[tuple[str, int]], *, native: bool = True
) -> str:
    """S3's FULL_OBJECT checksum: the CRC of the whole object from (base64 CRC, size) per part.

    ``native=False`` forces the pure-Python arithmetic (used to test it).
    """
    upper = _normalize(algorithm)
    if upper not in _CRCS:
        raise ValueError(f"{upper} has no full-object combination; only CRCs do")
    crc = _CRCS[upper]
    width = crc.width // 8
    combine = (_native_combine(upper) if native else None) or crc.combine
    total = 0  # the CRC of nothing is 0 for all three
    for digest_b64, size in parts:
        raw = base64.b64decode(digest_b64, validate=True)
        if len(raw) != width:
            raise ValueError(f"a {upper} digest is {width} bytes, not {len(raw)}")
        if size < 0:
            raise ValueError("a part's size cannot be negative")
        total = combine(total, int.from_bytes(raw, "big"), size)
    return base64.b64encode(total.to_bytes(width, "big")).decode("ascii")
