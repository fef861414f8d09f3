"""The format of a blob sealed at rest (``storage.blobs.sealed`` is the store that writes them).

A sealed blob (format version 1) is a header, then its bytes in chunks of 1 MiB (64 KiB in
blobs sealed before 2026-12-06), each sealed with AES-256-GCM under the blob's own random
data key::

    magic     8  b"\\x89NXQSEAL"
    version   1  1
    mode      1  1: the data key is wrapped by an installation key (core.data_keys, named
                 by the key id); 2: by a key the caller holds (key id zero): the customer's
                 (SSE-C), or a KMS key's material (SSE-KMS: the object's metadata names it)
    chunk     1  log2 of the chunk size: 20 (16 in blobs sealed before 2026-12-06)
    reserved  1
    key id    8
    prefix    8  random: the first 8 bytes of every chunk's nonce
    wrapped  60  a nonce (12), then the data key sealed with AES-GCM (32 + tag 16), the 28
                 bytes above as associated data: no header field can be changed
    chunk i      AES-GCM(data key, nonce = prefix + i (4 bytes, big-endian), associated data
                 = i and a final flag): the chunk's bytes + a 16-byte tag

Every chunk is full but the last, which holds 1 byte to a chunk (0 in an empty blob) and is
flagged final. So chunks cannot be moved (the index is in the nonce), dropped at the end
(the last one read must carry the flag), cut, or taken from another blob (another data
key): a read of such a blob fails (:class:`SealBroken`) instead of answering other bytes.
A ranged read opens only the chunks it needs. The plaintext size follows from the stored
one and the chunk size (:func:`plain_size`): segments, inventories and fsck keep seeing
plaintext sizes.

Why chunks of 1 MiB: each chunk is opened by one call that releases the GIL, and the event
loop (uvloop) holds the GIL while it copies a piece of a GET into the socket. With 64 KiB
chunks the reader needed the GIL back sixteen times per MiB, and mostly waited for the
loop's copy to end: the reader's AES and the loop's sending took turns. One call per MiB
runs beside the copy (a 1 GiB sealed GET went from 0.9-1.0 to 1.7-2.3 GB/s on the build
machine; docs/performance.md). The price is a small ranged read, which opens (and reads) a
whole MiB of a large object.

Blobs written before sealing existed carry no magic and read as they are (so a blob
written then that happened to begin with the magic would not: a risk taken for blobs
whose header was damaged, which must fail, not read as plain).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nexq.core.data_keys import DataKeys, UnknownDataKey
from nexq.storage.blobs.port import BlobWriter, Bytes, OpenBlob

MAGIC = b"\x89NXQSEAL"
VERSION = 1
CHUNK_SHIFT = 20  # new blobs' chunks
CHUNK = 1 << CHUNK_SHIFT
SHIFTS = frozenset({16, CHUNK_SHIFT})  # the chunk sizes a blob may have been sealed with
TAG = 16
MASTER = 1  # the data key is wrapped by one of the installation's keys
CUSTOMER = 2  # by the customer's own key (SSE-C)
_FIXED = struct.Struct(">8sBBBx8s8s")
_NONCE = 12
HEADER = _FIXED.size + _NONCE + 32 + TAG
_AAD = struct.Struct(">IB")
_LAST_OF_ONE = _AAD.pack(0, True)  # the associated data of a one-chunk blob's chunk
_NO_KEY_ID = bytes(8)
# Bytes opened per read of the underlying store, in whole chunks: what a GET asks for.
READ_BYTES = 1 << 20
# A blob no longer than this (after its header) is read whole when it is opened.
WHOLE_AT_OPEN = 1 << 16


class SealBroken(OSError):
    """A sealed blob failed authentication: changed, cut, mixed with another, or sealed with
    a key not given."""


def sealed_size(plain: int, chunk: int = CHUNK) -> int:
    """The stored size of a sealed blob of ``plain`` bytes in chunks of ``chunk``."""
    return HEADER + plain + max(1, -(-plain // chunk)) * TAG


def plain_size(stored: int, chunk: int = CHUNK) -> int:
    """The plaintext size of a sealed blob of ``stored`` bytes in chunks of ``chunk``
    (ValueError if none has it)."""
    body = stored - HEADER
    if body < TAG:
        raise ValueError(f"no sealed blob is {stored} bytes long")
    full, rest = divmod(body, chunk + TAG)
    if rest == 0:
        return full * chunk
    if rest < TAG or (rest == TAG and full > 0):
        raise ValueError(f"no sealed blob is {stored} bytes long")
    return full * chunk + rest - TAG


PREAMBLE = len(MAGIC) + 3
"""The bytes that tell a sealed blob and its chunk size: magic, version, mode, chunk."""


def chunk_of(preamble: bytes) -> int | None:
    """The chunk size of the sealed blob that begins with ``preamble`` (its first
    :data:`PREAMBLE` bytes), or None if it is not a sealed blob of a size known here."""
    if len(preamble) < PREAMBLE or not preamble.startswith(MAGIC):
        return None
    shift = preamble[len(MAGIC) + 2]
    return 1 << shift if shift in SHIFTS else None


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


@dataclass(frozen=True, slots=True)
class _Sealing:
    """How one blob is sealed: its header, data key, and whose key wraps that."""

    header: bytes
    cipher: AESGCM
    prefix: bytes
    mode: int
    customer: bytes | None


def new_sealing(keys: DataKeys | None, customer: bytes | None) -> _Sealing | None:
    if customer is None and keys is None:
        return None  # an unsealed store (the benchmark's baseline): plain blobs
    if customer is not None:
        mode, key_id, wrapper = CUSTOMER, _NO_KEY_ID, AESGCM(customer)
    else:
        assert keys is not None
        mode = MASTER
        key_id, wrapper = keys.current()
    # One call for all three: each os.urandom releases the GIL, and taking it back costs a
    # small PUT a wait behind whichever thread took it meanwhile.
    fresh = os.urandom(32 + 8 + _NONCE)
    data_key, prefix, nonce = fresh[:32], fresh[32:40], fresh[40:]
    fixed = _FIXED.pack(MAGIC, VERSION, mode, CHUNK_SHIFT, key_id, prefix)
    header = fixed + nonce + wrapper.encrypt(nonce, data_key, fixed)
    return _Sealing(header, AESGCM(data_key), prefix, mode, customer)


class SealedWriter:
    """Seals a blob's bytes chunk by chunk as they come; the last chunk at commit."""

    def __init__(self, raw: BlobWriter, sealing: _Sealing | None) -> None:
        self.raw = raw
        self._sealing = sealing
        # The bytes held back (the last chunk is sealed as final, so a chunk is sealed only
        # once more bytes follow it): the first ``_held`` bytes of a buffer that is reused,
        # never freed. Freed and made again for every chunk, a megabyte cost its page
        # faults under the GIL (a fresh server's first 1 GiB PUT 25 % slower).
        self._pending = bytearray()
        self._held = 0
        self._index = 0
        self._size = 0
        self._header_written = False
        self._adopted = False
        # Reused for every batch of sealed chunks: a fresh megabyte per write cost its
        # zeroing and page faults under the GIL (1 GiB PUT 250 -> 290 MB/s). Raw writers
        # never keep what they are given (BlobWriter.write).
        self._out = bytearray()

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | memoryview) -> None:
        sealing = self._sealing
        if sealing is None:
            self.raw.write(data)
            self._size += len(data)
            return
        if self._adopted:
            raise ValueError("a blob copied whole takes no more bytes")
        view = memoryview(data)
        self._size += len(view)
        pieces: list[bytes | bytearray | memoryview] = []
        if self._held:
            need = CHUNK - self._held
            self._hold(view[:need])
            view = view[need:]
            if not view:
                return  # a full pending chunk may still be the last one
            pieces.append(memoryview(self._pending)[:CHUNK])  # sealed where it is
            self._held = 0
        count = max(len(view) - 1, 0) // CHUNK
        pieces += [view[i * CHUNK : (i + 1) * CHUNK] for i in range(count)]
        if pieces:
            self._emit(sealing, pieces, final=False)
            pieces.clear()  # no view of the held bytes is left when they are written again
        self._hold(view[count * CHUNK :])

    def _hold(self, piece: memoryview) -> None:
        """Keep ``piece`` after the bytes held (at most a chunk in all)."""
        room = len(self._pending) - self._held
        if room:
            fits = min(room, len(piece))
            self._pending[self._held : self._held + fits] = piece[:fits]
        if len(piece) > room:
            self._pending += piece[room:]  # grows once per writer, up to a chunk
        self._held += len(piece)

    def _emit(
        self, sealing: _Sealing, pieces: list[bytes | bytearray | memoryview], final: bool
    ) -> None:
        """Seal ``pieces`` (one chunk each) and write them, after the header the first time."""
        head = b"" if self._header_written else sealing.header
        size = len(head) + sum(len(p) for p in pieces) + TAG * len(pieces)
        if len(self._out) < size:
            self._out = bytearray(size)
        target = memoryview(self._out)[:size]
        target[: len(head)] = head
        at = len(head)
        for number, piece in enumerate(pieces, 1):
            last = final and number == len(pieces)
            end = at + len(piece) + TAG
            sealing.cipher.encrypt_into(
                _nonce(sealing.prefix, self._index),
                piece,
                _AAD.pack(self._index, last),
                target[at:end],
            )
            self._index += 1
            at = end
        self.raw.write(target)
        self._header_written = True

    def adopt(self, plain: int) -> None:
        """The raw writer received a whole sealed blob of ``plain`` bytes, as it is."""
        self._adopted = True
        self._header_written = True
        self._size = plain

    @property
    def untouched(self) -> bool:
        return self._size == 0 and not self._header_written

    def same_sealing(self, source: OpenBlob) -> bool:
        """Whether ``source`` copied as it is reads as this writer would have sealed it."""
        if isinstance(source, PlainBlob):
            return self._sealing is None
        if not isinstance(source, SealedBlob) or self._sealing is None:
            return False
        return source.mode == self._sealing.mode and source.customer == self._sealing.customer

    def commit(self) -> str:
        sealing = self._sealing
        if sealing is not None and not self._adopted:
            try:
                if self._header_written:
                    self._emit(sealing, [memoryview(self._pending)[: self._held]], final=True)
                else:
                    # A blob of one chunk (most small objects): sealed in one call.
                    held = memoryview(self._pending)[: self._held]
                    chunk = sealing.cipher.encrypt(_nonce(sealing.prefix, 0), held, _LAST_OF_ONE)
                    self.raw.write(sealing.header + chunk)
                    self._header_written = True
            except BaseException:
                # The last chunk's write failed (a full disk): nothing is published, and no
                # temporary stays behind (the raw writer's own commit cleans up as well).
                self.abort()
                raise
            self._let_go()
        return self.raw.commit()

    def abort(self) -> None:
        self._let_go()
        self.raw.abort()

    def _let_go(self) -> None:
        # Replaced, not cleared: a view of it may outlive a failed write (in a traceback).
        self._pending = bytearray()
        self._held = 0


class PlainBlob:
    """A blob stored as it is (written before sealing, or by an unsealed store)."""

    mode = 0
    customer: bytes | None = None

    def __init__(self, raw: OpenBlob) -> None:
        self.raw = raw
        self.stored_size = raw.size

    @property
    def size(self) -> int:
        return self.stored_size

    def read(self, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        return self.raw.read(offset, length, chunk)

    def close(self) -> None:
        self.raw.close()


class SealedBlob:
    """A sealed blob opened for reading: a range decrypts only the chunks it covers."""

    def __init__(
        self,
        raw: OpenBlob,
        stored: int,
        head: bytes,
        opened: tuple[AESGCM, bytes, int, int],
        customer: bytes | None,
    ) -> None:
        self.raw = raw
        self.stored_size = stored
        self._head = head  # the blob's first stored bytes, read with the header
        self._cipher, self._prefix, self.mode, self._chunk = opened
        self.customer = customer
        self._size = plain_size(stored, self._chunk)
        self._chunks = max(1, -(-self._size // self._chunk))

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int, chunk: int) -> Iterator[Bytes]:
        if length <= 0:
            return
        end = offset + length
        if offset < 0 or end > self._size:
            raise OSError(f"a sealed blob holds {self._size} bytes, not {end}")
        if self._chunks == 1 and len(self._head) == self.stored_size:
            # A small blob, read whole when opened (most GETs of small objects): one call
            # opens it, with no buffers to manage.
            whole = self._open_whole()
            if offset == 0 and end == len(whole) <= chunk:
                yield whole
                return
            pieces = memoryview(whole)
            for at in range(offset, end, chunk):
                yield pieces[at : min(at + chunk, end)]
            return
        size = self._chunk
        group = max(1, min(chunk, READ_BYTES) // size)
        index, last = offset // size, (end - 1) // size
        ring = _Ring(min(self._size, (index + group) * size) - index * size)
        # One read of every stored byte the range needs, taken a group of chunks at a time: a
        # store that fetches over the network (RADOS) keeps its requests in flight across
        # the whole range, where a read per group waited out a round trip each.
        first_group = self._stored_length(index, min(last, index + group - 1))
        stored_bytes = _Exact(self._stored_range(index, last, first_group))
        try:
            stored = stored_bytes.take(first_group)
            while index <= last:
                upto = min(last, index + group - 1)
                plain_len = min(self._size, (upto + 1) * size) - index * size
                buffer = ring.take()
                self._open_chunks(index, upto, stored, buffer)
                following = upto + 1
                if following <= last:
                    # Read the next chunks' stored bytes before handing these over: once
                    # they are, the loop sends them (holding the GIL while it copies them
                    # into the socket), and what this thread does next, the decryption, can
                    # then run beside that copy instead of waiting for it to end.
                    stored = stored_bytes.take(
                        self._stored_length(following, min(last, following + group - 1))
                    )
                base = index * size
                low, high = max(offset - base, 0), min(end - base, plain_len)
                if low == 0 and high == plain_len <= chunk:
                    # No copy: the ring hands this buffer out again only once nobody holds a
                    # view of it (the event loop may still be sending it).
                    yield memoryview(buffer)[:plain_len]
                else:
                    with memoryview(buffer) as plain:
                        for at in range(low, high, chunk):
                            yield bytes(plain[at : min(at + chunk, high)])
                index = following
        finally:
            stored_bytes.close()

    def _open_whole(self) -> bytes:
        """The plaintext of a one-chunk blob whose stored bytes are all in ``_head``."""
        try:
            return self._cipher.decrypt(
                _nonce(self._prefix, 0), memoryview(self._head)[HEADER:], _LAST_OF_ONE
            )
        except InvalidTag:
            raise SealBroken("chunk 0 of a sealed blob failed authentication") from None

    def _stored_length(self, first: int, last: int) -> int:
        """How many stored bytes (ciphertext and tags) chunks ``first`` to ``last`` take."""
        plain_len = min(self._size, (last + 1) * self._chunk) - first * self._chunk
        return plain_len + (last - first + 1) * TAG

    def _stored_range(self, first: int, last: int, piece: int) -> Iterator[Bytes]:
        """The stored bytes of chunks ``first`` to ``last``, in pieces of ``piece`` bytes
        where the store can (a file's reads), of any size otherwise."""
        start = HEADER + first * (self._chunk + TAG)
        length = self._stored_length(first, last)
        if start + length <= len(self._head):
            return iter((self._head[start : start + length],))
        return self.raw.read(start, length, piece)

    def _open_chunks(self, first: int, last: int, stored: Bytes, out: bytearray) -> None:
        """Decrypt chunks ``first`` to ``last`` (their ``stored`` bytes) into the start of
        ``out``, authenticated."""
        with memoryview(stored) as source, memoryview(out) as target:
            at = done = 0
            for index in range(first, last + 1):
                size = min(self._chunk, self._size - index * self._chunk)
                try:
                    self._cipher.decrypt_into(
                        _nonce(self._prefix, index),
                        source[at : at + size + TAG],
                        _AAD.pack(index, index == self._chunks - 1),
                        target[done : done + size],
                    )
                except InvalidTag:
                    raise SealBroken(
                        f"chunk {index} of a sealed blob failed authentication"
                    ) from None
                at += size + TAG
                done += size

    def close(self) -> None:
        self.raw.close()


class _Exact:
    """Exactly the number of bytes asked at a time, out of a stream of pieces of any size: a
    piece of that size is handed on as it is, others are joined (one copy)."""

    def __init__(self, pieces: Iterator[Bytes]) -> None:
        self._pieces = pieces
        self._rest: memoryview | None = None

    def take(self, count: int) -> Bytes:
        parts: list[Bytes] = []
        got = 0
        while got < count:
            if self._rest is not None:
                piece: Bytes = self._rest
                self._rest = None
            else:
                piece = next(self._pieces, b"")
                if not piece:
                    raise OSError(f"a sealed blob's stored bytes end {count - got} bytes short")
            if len(piece) > count - got:
                view = memoryview(piece)
                piece, self._rest = view[: count - got], view[count - got :]
            parts.append(piece)
            got += len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        self._rest = None
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()


class _Ring:
    """The few buffers one read decrypts into, reused instead of allocated per piece: a
    fresh megabyte costs page faults and zeroing to make, and unmapping to free, most of it
    with the GIL held.

    A buffer is reused only once no view of it is left (a bytearray cannot be resized while
    one exists: that is the proof), so bytes handed out are never overwritten under a reader
    that kept them, such as the event loop still sending them; a buffer still held is left
    to its holder and replaced by a new one.
    """

    # One being sent, two read ahead of it (a GET's stream reads two pieces ahead), one
    # being decrypted. Fewer only costs a new buffer now and then.
    SLOTS = 4

    def __init__(self, size: int) -> None:
        self._size = size
        self._buffers: list[bytearray] = []
        self._next = 0

    def take(self) -> bytearray:
        if len(self._buffers) < self.SLOTS:
            self._buffers.append(self._fresh())
            return self._buffers[-1]
        slot = self._next
        self._next = (slot + 1) % self.SLOTS
        buffer = self._buffers[slot]
        if not _unheld(buffer):
            buffer = self._buffers[slot] = self._fresh()
        return buffer

    def _fresh(self) -> bytearray:
        # One byte of spare capacity, so that probing it (_unheld) never reallocates.
        buffer = bytearray(self._size + 1)
        del buffer[-1]
        return buffer


def _unheld(buffer: bytearray) -> bool:
    """Whether no view of ``buffer`` is left (a memoryview, a slice of one, the server's
    pending write of it): only then may it be resized, and only then is it safe to
    overwrite."""
    try:
        buffer.append(0)
    except BufferError:
        return False
    del buffer[-1]
    return True


def open_blob(
    raw: OpenBlob, path: str, keys: DataKeys | None, customer: bytes | None
) -> PlainBlob | SealedBlob:
    """``raw`` as the blob it holds: plain, or sealed (opened with ``keys``, or with the
    customer's key for SSE-C). ``raw`` is closed if it cannot be opened."""
    try:
        stored = raw.size
        if stored < HEADER + TAG:
            head = b""
        else:
            # A small blob is read whole now (one read); a larger one's header only, as an
            # object is opened before its answer starts (for a GET, on the event loop).
            first = stored if stored <= HEADER + WHOLE_AT_OPEN + TAG else HEADER
            head = b"".join(raw.read(0, first, first))
        if not head.startswith(MAGIC):
            if customer is not None:
                raise SealBroken(f"blob {path} should be sealed with a customer's key")
            return PlainBlob(raw)
        try:
            return SealedBlob(raw, stored, head, _unwrap(head, keys, customer), customer)
        except ValueError:
            raise SealBroken(f"blob {path} is cut short") from None
    except BaseException:
        raw.close()
        raise


def _unwrap(
    head: bytes, keys: DataKeys | None, customer: bytes | None
) -> tuple[AESGCM, bytes, int, int]:
    """The blob's data key (as a cipher), nonce prefix, mode and chunk size."""
    _, version, mode, shift, key_id, prefix = _FIXED.unpack_from(head)
    if version != VERSION or shift not in SHIFTS or mode not in (MASTER, CUSTOMER):
        raise SealBroken(f"unknown sealed blob format {version}/{mode}/{shift}")
    if (mode == CUSTOMER) != (customer is not None):
        raise SealBroken("a blob sealed otherwise than its object says")
    if customer is not None:
        wrapper = AESGCM(customer)
    elif keys is None:
        raise SealBroken("a sealed blob, and this store has no keys")
    else:
        try:
            wrapper = keys.cipher(key_id)
        except UnknownDataKey as exc:
            raise SealBroken(str(exc)) from None
    fixed, nonce = head[: _FIXED.size], head[_FIXED.size : _FIXED.size + _NONCE]
    try:
        data_key = wrapper.decrypt(nonce, head[_FIXED.size + _NONCE : HEADER], fixed)
    except InvalidTag:
        raise SealBroken("a sealed blob's key does not open") from None
    return AESGCM(data_key), prefix, mode, 1 << shift
