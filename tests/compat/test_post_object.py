"""Browser-form uploads (PostObject) with policies made by boto3's generate_presigned_post."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.live import Key, LiveServer


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_form_upload(
    server: LiveServer, owner: Key, s3: Any, bucket: str, signature_version: str
) -> None:
    client = server.client(owner, signature_version=signature_version)
    post = client.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "form"},
        Conditions=[
            ["starts-with", "$key", "uploads/"],
            {"Content-Type": "text/plain"},
            {"x-amz-meta-origin": "form"},
            ["content-length-range", 1, 1000],
        ],
        ExpiresIn=600,
    )
    response = httpx.post(
        post["url"],
        data=post["fields"],
        files={"file": ("hello.txt", b"from a browser", "text/plain")},
    )
    assert response.status_code == 204, response.text
    got = s3.get_object(Bucket=bucket, Key="uploads/hello.txt")
    assert got["Body"].read() == b"from a browser"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"origin": "form"}


def test_form_policy_is_enforced(server: LiveServer, owner: Key, s3: Any, bucket: str) -> None:
    client = server.client(owner, signature_version="s3v4")
    post = client.generate_presigned_post(
        bucket,
        "fixed-key",
        Conditions=[["content-length-range", 1, 10], {"success_action_status": "201"}],
        Fields={"success_action_status": "201"},
    )
    too_big = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"x" * 11)})
    assert too_big.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in too_big.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="fixed-key")
    other_key = {**post["fields"], "key": "elsewhere"}
    assert httpx.post(post["url"], data=other_key, files={"file": ("f", b"x")}).status_code == 403
    extra = {**post["fields"], "x-amz-meta-sneaky": "1"}
    assert httpx.post(post["url"], data=extra, files={"file": ("f", b"x")}).status_code == 403
    forged = {**post["fields"], "x-amz-signature": "0" * 64}
    answer = httpx.post(post["url"], data=forged, files={"file": ("f", b"x")})
    assert answer.status_code == 403
    ok = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"fits")})
    assert ok.status_code == 201
    assert "<Key>fixed-key</Key>" in ok.text


def test_expired_form(server: LiveServer, owner: Key, bucket: str) -> None:
    client = server.client(owner, signature_version="s3v4")
    post = client.generate_presigned_post(bucket, "late", ExpiresIn=-10)
    response = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"x")})
    assert response.status_code == 403
    assert "expired" in response.text


def test_form_without_policy_is_refused(server: LiveServer, bucket: str) -> None:
    response = httpx.post(
        f"{server.endpoint}/{bucket}", data={"key": "anon"}, files={"file": ("f", b"x")}
    )
    assert response.status_code == 403
