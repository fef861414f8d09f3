"""Leases across every node on PostgreSQL: session advisory locks, all held by one session of
the process."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from typing import Any

import psycopg

from nexq.core.postgres_sql import connect


class LeaseSession:
    """The session that holds this process's leases: one connection for all of them, kept
    open (a connection per lease, and a new one at each try of a lease held elsewhere, cost
    every worker a connection to PostgreSQL per job and period: 2 % of a busy worker's
    time, py-spy)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        # Moves when the session is lost: every lock taken on the last one went with it.
        self.generation = 0
        # The lock keys held, and by which lease: PostgreSQL grants a session a lock it
        # holds again, but a second lease of the same name in this process must be refused.
        self.holders: dict[int, AdvisoryLease] = {}

    def run(self, sql: str, *parameters: Any) -> Any:
        """The first value of ``sql``'s row, on the session (opened again if it was lost);
        psycopg.Error when PostgreSQL cannot be reached. Called with :attr:`lock` held."""
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url)
        try:
            row = self._conn.execute(sql, parameters).fetchone()
        except psycopg.Error:
            self.drop()
            raise
        return row[0] if row else None

    def drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()  # the session's end releases its locks
            self._conn = None
            self.generation += 1
            self.holders = {}


class AdvisoryLease:
    """A lease across every node: a session advisory lock, which PostgreSQL releases when
    that session ends (a node that dies gives its leases up as its socket closes; one that
    loses the database stops holding them)."""

    def __init__(self, session: LeaseSession, name: str) -> None:
        self._session = session
        self._key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._held_in: int | None = None  # the session generation it was taken in

    def held(self) -> bool:
        session = self._session
        with session.lock:
            try:
                if self._held_in == session.generation:
                    # A round trip proves the session, and with it the lock, is still there.
                    session.run("SELECT 1")
                    return True
                if self._key in session.holders:  # another lease of this name, here
                    return False
                if session.run("SELECT pg_try_advisory_lock(%s)", self._key):
                    self._held_in = session.generation
                    session.holders[self._key] = self
                    return True
            except psycopg.Error:
                pass
            self._held_in = None
            return False

    def release(self) -> None:
        session = self._session
        with session.lock:
            if self._held_in == session.generation:
                del session.holders[self._key]
                with contextlib.suppress(psycopg.Error):
                    session.run("SELECT pg_advisory_unlock(%s)", self._key)
            self._held_in = None
