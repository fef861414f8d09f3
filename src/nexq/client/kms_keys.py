"""Client methods of SSE-KMS: the account's KMS keys and a bucket's default encryption
(docs/api.md, "KMS keys"); ``NexqClient`` has them."""

from __future__ import annotations

from typing import Literal, TypedDict, cast

from nexq.client.paths import Plumbing, segment


class KmsKey(TypedDict):
    id: str
    arn: str
    alias: str | None
    description: str
    state: Literal["Enabled", "Disabled"]
    aws_managed: bool
    created_at: str


class BucketEncryption(TypedDict):
    algorithm: Literal["AES256", "aws:kms"]
    kms_key_id: str | None
    bucket_key_enabled: bool
    customer_keys_blocked: bool


class KmsKeysClient(Plumbing):
    """What ``NexqClient`` adds for SSE-KMS; it speaks through the client's plumbing."""

    # -- keys ------------------------------------------------------------------------------

    def list_kms_keys(self) -> list[KmsKey]:
        return cast(list[KmsKey], self._list("/storage/kms-keys"))

    def create_kms_key(self, alias: str | None = None, description: str = "") -> KmsKey:
        body = {"alias": alias, "description": description}
        return cast(KmsKey, self._request("POST", "/storage/kms-keys", body=body))

    def kms_key(self, key_id: str) -> KmsKey:
        """``key_id``: the key's id, ARN or alias."""
        return cast(KmsKey, self._request("GET", f"/storage/kms-keys/{segment(key_id)}"))

    def disable_kms_key(self, key_id: str) -> KmsKey:
        path = f"/storage/kms-keys/{segment(key_id)}/disable"
        return cast(KmsKey, self._request("POST", path))

    def enable_kms_key(self, key_id: str) -> KmsKey:
        path = f"/storage/kms-keys/{segment(key_id)}/enable"
        return cast(KmsKey, self._request("POST", path))

    # -- a bucket's default encryption ------------------------------------------------------

    def bucket_encryption(self, bucket: str) -> BucketEncryption:
        path = f"/storage/buckets/{segment(bucket)}/encryption"
        return cast(BucketEncryption, self._request("GET", path))

    def set_bucket_encryption(
        self,
        bucket: str,
        algorithm: Literal["AES256", "aws:kms"],
        kms_key_id: str | None = None,
        bucket_key_enabled: bool = False,
        customer_keys_blocked: bool | None = None,
    ) -> BucketEncryption:
        """``customer_keys_blocked`` None: the bucket's SSE-C block stays as it is."""
        path = f"/storage/buckets/{segment(bucket)}/encryption"
        body = {
            "algorithm": algorithm,
            "kms_key_id": kms_key_id,
            "bucket_key_enabled": bucket_key_enabled,
            "customer_keys_blocked": customer_keys_blocked,
        }
        return cast(BucketEncryption, self._request("PUT", path, body=body))

    def delete_bucket_encryption(self, bucket: str) -> None:
        self._request("DELETE", f"/storage/buckets/{segment(bucket)}/encryption")
