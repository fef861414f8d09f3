"""User metadata outside US-ASCII: signed over the bytes sent, answered as S3 answers it (RFC
2047 encoded-words, src/nexq/storage/s3/encoded_words.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from urllib.parse import urlsplit

import botocore.handlers
import httpx
import pytest

from tests.live import Key, LiveServer
from tests.signing import authorization, canonical_put, sign_request


@pytest.fixture(scope="module")
def unicode_s3(server: LiveServer, owner: Key) -> Any:
    """boto3 without its own refusal of non-ASCII metadata: it then sends the value's UTF-8
    bytes, signed, as AWS accepts them."""
    client = server.client(owner)
    client.meta.events.unregister(
        "before-parameter-build.s3.PutObject", botocore.handlers.validate_ascii_metadata
    )
    client.meta.events.unregister(
        "before-parameter-build.s3.CreateMultipartUpload",
        botocore.handlers.validate_ascii_metadata,
    )
    return client


def returned(s3: Any, bucket: str, key: str) -> tuple[str, str]:
    """x-amz-meta-v as HEAD and GET answer it."""
    head = s3.head_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPHeaders"]
    get = s3.get_object(Bucket=bucket, Key=key)
    get["Body"].read()
    return head["x-amz-meta-v"], get["ResponseMetadata"]["HTTPHeaders"]["x-amz-meta-v"]


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        # S3 reads header bytes as ISO-8859-1, so UTF-8 "ö" is stored as "Ã¶"; the answer
        # is the one S3 gave for this very value.
        ("Miniö", "=?UTF-8?Q?Mini=C3=83=C2=B6?="),
        ("é", "=?UTF-8?B?w4PCqQ==?="),  # mostly non-ASCII: B-encoded
        ("中", "=?UTF-8?B?w6TCuMKt?="),
    ],
)
def test_utf8_bytes_from_boto3_are_signed_and_answered_encoded(
    unicode_s3: Any, bucket: str, sent: str, answer: str
) -> None:
    unicode_s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"v": sent})
    assert returned(unicode_s3, bucket, "k") == (answer, answer)


@pytest.mark.parametrize(
    "value",
    [
        "=?UTF-8?B?w6k=?=",  # é, B-encoded
        "=?UTF-8?Q?caf=C3=A9?=",  # café, Q-encoded
        "=?UTF-8?Q?=C3=84M=C3=84Z=C3=95=C3=91_S3?=",
    ],
)
def test_encoded_words_are_decoded_when_stored_and_come_back_as_sent(
    s3: Any, bucket: str, value: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"v": value})
    assert returned(s3, bucket, "k") == (value, value)


def test_ascii_is_answered_as_it_is(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"v": "a_b c=d? e"})
    assert returned(s3, bucket, "k") == ("a_b c=d? e", "a_b c=d? e")


def test_encoded_words_in_multipart_and_copy(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m", Metadata={"v": "=?UTF-8?B?w6k=?="})[
        "UploadId"
    ]
    etag = s3.upload_part(Bucket=bucket, Key="m", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="m",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert returned(s3, bucket, "m")[0] == "=?UTF-8?B?w6k=?="
    s3.copy_object(
        Bucket=bucket,
        Key="c",
        CopySource={"Bucket": bucket, "Key": "m"},
        MetadataDirective="REPLACE",
        Metadata={"v": "=?UTF-8?Q?na=C3=AFve?="},
    )
    assert returned(s3, bucket, "c")[0] == "=?UTF-8?Q?na=C3=AFve?="


def test_a_raw_request_is_signed_over_the_bytes_it_sends(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    amz_date = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    body = b"raw"
    payload = hashlib.sha256(body).hexdigest()
    headers = {
        "host": urlsplit(server.endpoint).netloc,
        "x-amz-content-sha256": payload,
        "x-amz-date": amz_date,
        "x-amz-meta-v": "naïve ☃",
    }
    canonical, signed = canonical_put(f"/{bucket}/raw", headers, payload)
    signature = sign_request(owner.secret_access_key, amz_date, canonical)
    sent = {name: value.encode() for name, value in headers.items() if name != "host"}
    sent["authorization"] = authorization(owner.access_key_id, amz_date, signed, signature).encode()
    answer = httpx.put(f"{server.endpoint}/{bucket}/raw", content=body, headers=sent)
    assert answer.status_code == 200, answer.text
    got = s3.head_object(Bucket=bucket, Key="raw")["ResponseMetadata"]["HTTPHeaders"]
    # The bytes read as ISO-8859-1 are half non-ASCII: B-encoded.
    assert got["x-amz-meta-v"] == "=?UTF-8?B?bmHDg8KvdmUgw6LCmMKD?="
