"""The S3 request and response as the handlers see them, over raw ASGI."""

from __future__ import annotations

import asyncio
import email.utils
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from nexq.core import loop_waits
from nexq.core.identity import Principal
from nexq.storage.directory import Credential
from nexq.storage.s3.operations import Access, Operation

if TYPE_CHECKING:
    from nexq.storage.s3.policies import KeyPolicy

T = TypeVar("T")
INLINE_READ_BYTES = 64 * 1024
Receive = Callable[[], Any]


@dataclass(slots=True)
class Response:
    """What a handler answers: a body in memory, an async stream, or a file to send."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: AsyncIterator[bytes | memoryview] | None = None
    file: tuple[str, int, int] | None = None  # path, offset, length

    @staticmethod
    def xml(document: str, status: int = 200) -> Response:
        return Response(status, {"content-type": "application/xml"}, document.encode())


@dataclass(slots=True)
class S3Request:
    """A parsed S3 request: addressing resolved, operation routed, caller not yet known."""

    method: str
    raw_path: str
    bucket: str | None
    key: str | None
    query: dict[str, str]
    query_list: list[tuple[str, str | None]]
    raw_query: bytes
    headers: dict[str, str]
    operation: Operation
    access: Access
    receive: Receive
    executor: Executor
    authenticate: Callable[[S3Request], Credential]
    # The metadata database's reads cross the network (PostgreSQL): :meth:`now` awaits them.
    reads_wait: bool = False
    credential: Credential | None = None
    client: str | None = None  # the peer's address (aws:SourceIp)
    secure: bool = False  # came over TLS (aws:SecureTransport)
    payload: Any = None
    data_in: int = 0  # bytes of request body stored, for metering
    scheme: str = "http"  # how the client reached the listener (URLs answered, e.g. PostObject)
    # PostObject: the form's fields, which carry its signature (the request itself is unsigned)
    form: dict[str, str] | None = None
    # DeleteObjects: the bucket policy each key must meet (None: the bucket has none)
    key_policy: KeyPolicy | None = None
    # A GET or HEAD that a bucket policy let in without s3:ListBucket: a missing key is
    # 403 AccessDenied, as AWS tells a key's absence only to who may list the bucket.
    absence_hidden: bool = False

    @property
    def caller(self) -> Principal:
        """Who signed the request: the access key's account, limited to the buckets granted
        to the key (after :meth:`run` authenticated it)."""
        assert self.credential is not None, "handlers call run() before using the caller"
        return self.credential.principal

    async def run(self, fn: Callable[[], T]) -> T:
        """Run blocking work in the worker pool; the first call also authenticates the caller.

        Doing both in one hop saves a thread round trip per request on the hot path.
        """
        if self.credential is None:

            def first() -> T:
                self.credential = self.authenticate(self)
                return fn()

            return await asyncio.get_running_loop().run_in_executor(self.executor, first)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def now(self, fn: Callable[[], T]) -> T:
        """Run a bounded lookup on the event loop; the first call also authenticates the
        caller.

        Only for lookups whose cost is bounded by construction: cached keys and buckets, one
        indexed read of the metadata database and at most :data:`INLINE_READ_BYTES` of blob
        data. A thread hop costs more than such a lookup; measured in docs/architecture.md.
        On SQLite (WAL mode: a reader never waits for a writer) it runs to its end; where the
        reads cross the network (PostgreSQL), under :meth:`here`, which awaits them. (Always
        under :meth:`here`, even with its greenlets reused, an embedded GET cost 30 µs more
        CPU, 9 %, and a HEAD 27 µs, 11 %: bench/app_cpu.py.)
        """
        if self.reads_wait:
            return await self.here(fn)
        if self.credential is None:
            self.credential = self.authenticate(self)
        return fn()

    async def here(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the event loop, in a greenlet whose waits (its group commit, its
        reads from PostgreSQL) the loop awaits; the first call also authenticates the caller.

        For a write that is bounded apart from its commit (a small body already in memory),
        and for :meth:`now`'s lookups on PostgreSQL: it costs no thread hops
        (``nexq.core.loop_waits``).
        """

        def first() -> T:
            if self.credential is None:
                self.credential = self.authenticate(self)
            return fn()

        return await loop_waits.run_here(first)


def expects_continue(headers: dict[str, str]) -> bool:
    """Whether the client waits for ``100 Continue`` before it sends the body."""
    return headers.get("expect", "").strip().lower() == "100-continue"


@functools.lru_cache(maxsize=4096)
def _http_date(second: int) -> str:
    return email.utils.formatdate(second, usegmt=True)


def http_date(epoch: float) -> str:
    """An RFC 7231 date (cached: the same few seconds are formatted over and over)."""
    return _http_date(int(epoch))


def parse_http_date(value: str | None) -> float | None:
    """Epoch seconds of an HTTP date, or None when absent or unparseable (S3 ignores those)."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
