"""dcp storage kms-keys and dcp storage buckets encryption, run as a real process against a
live server."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.cli.conftest import Dcp


def test_kms_keys(user: Dcp) -> None:
    key = user.json(
        "storage", "kms-keys", "create", "--alias", "alias/cli", "--description", "from dcp"
    )
    assert (key["alias"], key["state"], key["description"]) == ("alias/cli", "Enabled", "from dcp")
    assert user.json("storage", "kms-keys", "show", "alias/cli") == key
    assert user.json("storage", "kms-keys", "list") == [key]
    table = user("storage", "kms-keys", "list").stdout
    assert "ALIAS" in table and key["id"] in table and "Enabled" in table
    assert user.json("storage", "kms-keys", "disable", key["arn"])["state"] == "Disabled"
    shown = user("storage", "kms-keys", "show", key["id"]).stdout
    assert "Disabled" in shown and key["arn"] in shown
    assert user.json("storage", "kms-keys", "enable", key["id"])["state"] == "Enabled"
    error = user.fails(4, "storage", "kms-keys", "show", "alias/none")
    assert "alias/none" in error
    error = user.fails(5, "storage", "kms-keys", "create", "--alias", "alias/cli")
    assert "already exists" in error


def test_bucket_encryption(user: Dcp, bucket_name: Callable[[], str]) -> None:
    bucket = bucket_name()
    user("storage", "buckets", "create", bucket)
    default = {
        "algorithm": "AES256",
        "kms_key_id": None,
        "bucket_key_enabled": False,
        "customer_keys_blocked": True,
    }
    assert user.json("storage", "buckets", "encryption", bucket) == default
    key = user.json("storage", "kms-keys", "create", "--alias", "alias/bucket-default")
    assert user.json(
        "storage", "buckets", "encryption", bucket, "--set", "aws:kms",
        "--kms-key-id", key["id"], "--bucket-key",
    ) == {"algorithm": "aws:kms", "kms_key_id": key["id"], "bucket_key_enabled": True,
          "customer_keys_blocked": True}  # fmt: skip
    shown = user("storage", "buckets", "encryption", bucket).stdout
    assert "aws:kms" in shown and key["id"] in shown and "blocked" in shown
    # --allow-sse-c alone keeps the rest of the setting; --block-sse-c blocks it again.
    allowed = user.json("storage", "buckets", "encryption", bucket, "--allow-sse-c")
    assert (allowed["algorithm"], allowed["customer_keys_blocked"]) == ("aws:kms", False)
    assert "allowed" in user("storage", "buckets", "encryption", bucket).stdout
    blocked = user.json("storage", "buckets", "encryption", bucket, "--block-sse-c")
    assert (blocked["kms_key_id"], blocked["customer_keys_blocked"]) == (key["id"], True)
    user.fails(2, "storage", "buckets", "encryption", bucket, "--delete", "--allow-sse-c")
    # A PUT through a presigned URL gets the bucket's key; its GET reads it back.
    url = user.json("storage", "objects", "presign", bucket, "k", "--method", "PUT")["url"]
    put = httpx.put(url, content=b"by default")
    assert put.headers["x-amz-server-side-encryption-aws-kms-key-id"] == key["arn"]
    url = user.json("storage", "objects", "presign", bucket, "k")["url"]
    assert httpx.get(url).content == b"by default"
    user.fails(2, "storage", "buckets", "encryption", bucket, "--kms-key-id", key["id"])
    user.fails(4, "storage", "buckets", "encryption", bucket, "--set", "aws:kms",
               "--kms-key-id", "alias/none")  # fmt: skip
    said = user("storage", "buckets", "encryption", bucket, "--delete").stdout
    assert "AES256" in said
    assert user.json("storage", "buckets", "encryption", bucket) == default
