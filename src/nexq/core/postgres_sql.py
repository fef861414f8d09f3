"""How PostgreSQL reads the SQL the stores write once for both engines (``core.postgres``'s
module doc): placeholders, migration types, and values as SQLite gives them."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import adapt, postgres
from psycopg_pool import PoolTimeout

from nexq.core.errors import Unavailable


@functools.lru_cache(maxsize=4096)
def statement(sql: str) -> str:
    """``sql`` with SQLite's ``?`` placeholders as psycopg's ``%s`` (outside quotes)."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
            out.append("%%" if char == "%" else char)
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


_DDL_RULES = (
    (re.compile(r"\)\s*WITHOUT ROWID", re.IGNORECASE), ")"),
    (re.compile(r"\s+COLLATE NOCASE\b", re.IGNORECASE), ""),
    (re.compile(r"\bTEXT\b(?! COLLATE)"), 'TEXT COLLATE "C"'),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
)


def ddl(sql: str) -> str:
    """A migration statement written for SQLite, as PostgreSQL must read it (module doc)."""
    for pattern, replacement in _DDL_RULES:
        sql = pattern.sub(replacement, sql)
    return sql


class _BoolAsInteger(adapt.Dumper):
    """SQLite has no boolean: the stores' flags are 0/1 integers."""

    oid = postgres.types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


class _ExactNumber(adapt.Loader):
    """``sum()`` of integers is ``numeric`` in PostgreSQL, an integer in SQLite."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return float(text) if "." in text or "e" in text.lower() else int(text)


def configure(conn: psycopg.BaseConnection[Any]) -> None:
    conn.adapters.register_dumper(bool, _BoolAsInteger)
    conn.adapters.register_loader("numeric", _ExactNumber)


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection that reads and writes values as the stores' connections do (booleans as
    0/1, exact sums), in autocommit until a transaction is opened; statements go through
    :func:`statement`. Also for tools that copy rows in (``nexq admin move``)."""
    # psycopg prepares a statement once a connection ran it five times, so the hot path's few
    # queries are planned once per connection (a pooler in front must allow prepared
    # statements: PgBouncer 1.21+ in transaction mode does).
    conn = psycopg.connect(url, autocommit=True)
    configure(conn)
    return conn


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """A lost or refused connection (or a pool that found none in time) as
    :class:`Unavailable`, which every protocol answers with a retryable 503."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise Unavailable() from exc
