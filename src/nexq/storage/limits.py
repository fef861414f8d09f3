"""The limits Object Storage enforces, and what an account uses of each (docs/billing.md)."""

from __future__ import annotations

from nexq.core.quotas import BYTES, COUNT, PER_SECOND, Limit
from nexq.storage.metadata.port import MetadataStore


def limits(store: MetadataStore) -> tuple[Limit, ...]:
    """Buckets, stored bytes and access keys (counted in storage's tables), and S3 rates."""

    def buckets(account_id: str) -> int:
        return store.account_usage(account_id)[0]

    def stored(account_id: str) -> int:
        return store.used_bytes(account_id)  # what the quota counts, uploads in progress too

    def access_keys(account_id: str) -> int:
        return len(store.list_access_keys(account_id))

    return (
        Limit("buckets", "Buckets", COUNT, "Buckets of the account", buckets),
        Limit(
            "storage_bytes",
            "Storage",
            BYTES,
            "Bytes of all objects and of unfinished uploads' parts",
            stored,
        ),
        Limit(
            "access_keys",
            "Access keys",
            COUNT,
            "S3 access keys; revoked ones count until deleted",
            access_keys,
        ),
        Limit("s3_read_rps", "S3 reads", PER_SECOND, "GET, HEAD and LIST requests per second"),
        Limit("s3_write_rps", "S3 writes", PER_SECOND, "Other S3 requests per second"),
    )
