"""How Object Storage words a refused write."""

from __future__ import annotations


def storage_quota_message(limit: int) -> str:
    """The explanation of a refused write, naming the limit."""
    return (
        f"This upload would exceed the account's storage_bytes limit of {limit} bytes; "
        "delete data or move to a larger service tier."
    )
