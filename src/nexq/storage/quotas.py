"""What Object Storage asks of the account's service tier: the limits it must enforce."""

from __future__ import annotations

from typing import Protocol


class Quotas(Protocol):
    """The effective limits of an account (tier defaults with operator overrides)."""

    def limit(self, account_id: str, name: str) -> int | None:
        """The limit ``name`` (buckets, storage_bytes, access_keys, …); None = unlimited."""


class NoQuotas:
    """Everything unlimited (tests of the storage engine alone, tools)."""

    def limit(self, account_id: str, name: str) -> int | None:
        return None


def storage_quota_message(limit: int) -> str:
    """The explanation of a refused write, naming the limit."""
    return (
        f"This upload would exceed the account's storage_bytes limit of {limit} bytes; "
        "delete data or move to a larger service tier."
    )
