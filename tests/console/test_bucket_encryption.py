"""The "Default encryption" form of a bucket's Settings tab: AES256 or aws:kms with one of
the account's KMS keys, without JavaScript, checked against what S3 clients then see."""

from __future__ import annotations

import itertools
import os
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.conftest import PASSWORD, TIMEOUT, Tab, make_account, owner_s3
from tests.live import LiveServer

_n = itertools.count()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"encryption-{next(_n)}-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    return name


def new_kms_key(server: LiveServer, email: str, alias: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.api_url, timeout=TIMEOUT) as api:
        login = api.post("/v1/login", json={"email": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        made = api.post("/v1/storage/kms-keys", json={"alias": alias}, headers=headers)
        assert made.status_code == 201, made.text
        found: dict[str, Any] = made.json()
        return found


def test_default_encryption_without_javascript(
    plain_tab: Tab, server: LiveServer, user: str, s3: Any, bucket: str
) -> None:
    key = new_kms_key(server, user, f"alias/console-{next(_n)}-{os.getpid()}")
    plain_tab.sign_in(user)
    page = plain_tab.open(f"/storage/buckets/{bucket}/settings")
    section = page.get_by_role("region", name="Default encryption")
    expect(section.get_by_label("AES256")).to_be_checked()
    expect(section.get_by_label("Block SSE-C")).to_be_checked()  # a new bucket's default
    section.get_by_label("aws:kms").check()
    section.get_by_label("KMS key").select_option(label=key["alias"])
    section.get_by_label("Bucket key").check()
    section.get_by_role("button", name="Save default encryption").click()
    expect(page.get_by_role("status")).to_have_text("Default encryption: aws:kms (SSE-KMS).")
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule == [
        {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": key["id"],
            },
            "BucketKeyEnabled": True,
            "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
        }
    ]
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert put["SSEKMSKeyId"] == key["arn"]
    section = page.get_by_role("region", name="Default encryption")
    expect(section.get_by_label("aws:kms")).to_be_checked()
    expect(section.get_by_label("KMS key")).to_have_value(key["id"])

    section.get_by_label("AES256").check()
    section.get_by_label("Bucket key").uncheck()
    section.get_by_label("Block SSE-C").uncheck()
    section.get_by_role("button", name="Save default encryption").click()
    expect(page.get_by_role("status")).to_have_text("Default encryption: AES256 (SSE-S3).")
    answered = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert answered["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert "BlockedEncryptionTypes" not in answered["Rules"][0]
    expect(
        page.get_by_role("region", name="Default encryption").get_by_label("Block SSE-C")
    ).not_to_be_checked()
    assert s3.put_object(Bucket=bucket, Key="k2", Body=b"x")["ServerSideEncryption"] == "AES256"


def test_another_accounts_bucket_is_not_found(
    plain_tab: Tab, server: LiveServer, user: str, bucket: str
) -> None:
    other = owner_s3(server, make_account(server))
    name = f"not-yours-enc-{os.getpid()}"
    other.create_bucket(Bucket=name)
    plain_tab.sign_in(user)
    page = plain_tab.open(f"/storage/buckets/{bucket}/settings")
    token = page.locator('input[name="csrf_token"]').first.input_value()
    answer = plain_tab.context.request.post(
        f"/storage/buckets/{name}/settings/encryption",
        form={"algorithm": "aws:kms", "csrf_token": token},
    )
    assert answer.status == 404
    rule = other.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
