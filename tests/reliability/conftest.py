"""Fixtures of the reliability suites: live servers whose test accounts are not rate limited."""

from __future__ import annotations

from tests.live import Key, LiveServer, nexq


def unthrottled(live: LiveServer, email: str) -> None:
    """Put ``email`` on the unlimited tier: these suites measure the server, not its quotas."""
    done = nexq(
        "admin",
        "account",
        "limits",
        "--account",
        email,
        "--tier",
        "enterprise",
        data_dir=live.data_dir,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def account_key(live: LiveServer, email: str, buckets: list[str] | None = None) -> Key:
    """A new unthrottled account and an access key of it."""
    live.account(email)
    unthrottled(live, email)
    return live.key(email, buckets=buckets)
