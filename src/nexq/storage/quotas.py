"""How Object Storage words a refused write."""

from __future__ import annotations


def storage_quota_message(limit: int) -> str:
    """The explanation of a refused write, naming the limit."""
    return (
        f"This upload would exceed the account's storage_bytes limit of {limit} bytes; "
        "delete data or move to a larger service tier."
    )


def bucket_quota_message(count: int) -> str:
    """The explanation of a refused CreateBucket: the account has ``count``, its limit."""
    return (
        f"The account already has {count} buckets, its buckets limit; "
        "delete one or move to a larger service tier."
    )


def access_key_quota_message(count: int) -> str:
    """The explanation of a refused new access key: the account has ``count``, its limit."""
    return (
        f"The account already has {count} access keys, its access_keys limit; "
        "delete one (revoked keys count until deleted) or move to a larger service tier."
    )
