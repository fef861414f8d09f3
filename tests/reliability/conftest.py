"""Fixtures of the reliability suites: live servers on the shipped tiers, whose test accounts
have their request rates lifted (the other limits stay Free's unless a test raises them)."""

from __future__ import annotations

from tests.live import BURST, Key, LiveServer


def unthrottled(live: LiveServer, email: str) -> None:
    """Lift the request rates of the Free account ``email`` (S3 reads and writes, API): these
    suites storm, fuzz and soak the server as fast as it answers, to measure the server, not
    its rate limits. Call it before the account's first request (limits are cached 2 s)."""
    live.raise_limits(email, s3_read_rps=BURST, s3_write_rps=BURST, api_rps=BURST)


def account_key(live: LiveServer, email: str, buckets: list[str] | None = None) -> Key:
    """A new Free account with lifted request rates, and an access key of it."""
    live.account(email)
    unthrottled(live, email)
    return live.key(email, buckets=buckets)
