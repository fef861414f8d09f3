"""What a service asks of the account's service tier: the limits it must enforce."""

from __future__ import annotations

from typing import Protocol


class Quotas(Protocol):
    """The effective limits of an account (tier defaults with operator overrides)."""

    def limit(self, account_id: str, name: str) -> int | None:
        """The limit ``name`` (buckets, storage_bytes, api_keys, api_rps, …); None = unlimited."""


class NoQuotas:
    """Everything unlimited (tests of a service alone, tools)."""

    def limit(self, account_id: str, name: str) -> int | None:
        return None
