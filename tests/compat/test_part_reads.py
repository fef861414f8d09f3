"""GET and HEAD ?partNumber=N: a part past the object's parts is 416 InvalidPartNumber (AWS's
"The requested partnumber is not satisfiable", naming the part asked for and the count);
a part number that is not 1 to 10,000 is 400 InvalidArgument; with a Range, InvalidRequest."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.live import REGION, Key, LiveServer

MiB = 1024 * 1024


def _multipart(s3: Any, bucket: str, key: str) -> list[bytes]:
    parts = [os.urandom(5 * MiB), b"second part"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = [
        {
            "PartNumber": n,
            "ETag": s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=data
            )["ETag"],
        }
        for n, data in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
    )
    return parts


def _signed(
    server: LiveServer, owner: Key, method: str, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A request signed by botocore's signer (not the server's code) and sent as is."""
    url = f"{server.endpoint}{path}"
    request = AWSRequest(method=method, url=url, headers=headers or {})
    credentials = Credentials(owner.access_key_id, owner.secret_access_key)
    S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
    return httpx.request(method, url, headers=dict(request.headers.items()))


def test_a_part_past_the_last_is_invalid_part_number(s3: Any, bucket: str) -> None:
    parts = _multipart(s3, bucket, "mp")
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)["Body"].read() == parts[1]
    s3.put_object(Bucket=bucket, Key="single", Body=b"one part")
    assert s3.get_object(Bucket=bucket, Key="single", PartNumber=1)["Body"].read() == b"one part"
    for key, number, count in (("mp", 3, 2), ("single", 2, 1)):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key=key, PartNumber=number)
        error = exc.value.response["Error"]
        assert (status(exc), code(exc)) == (416, "InvalidPartNumber")
        assert error["Message"] == "The requested partnumber is not satisfiable"
        assert (error["PartNumberRequested"], error["ActualPartCount"]) == (str(number), str(count))


def test_head_of_a_part_past_the_last_is_416_without_a_body(
    server: LiveServer, s3: Any, bucket: str
) -> None:
    _multipart(s3, bucket, "mp")
    assert s3.head_object(Bucket=bucket, Key="mp", PartNumber=2)["ContentLength"] == 11
    for number in (3, 10_000):
        url = s3.generate_presigned_url(
            "head_object", Params={"Bucket": bucket, "Key": "mp", "PartNumber": number}
        )
        answer = httpx.head(url)
        assert answer.status_code == 416
        assert answer.content == b"" and answer.headers["content-length"] == "0"


@pytest.mark.parametrize("number", ["0", "10001", "x", "-1", "1.5"])
def test_a_part_number_out_of_its_range_is_invalid_argument(
    server: LiveServer, owner: Key, s3: Any, bucket: str, number: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    answer = _signed(server, owner, "GET", f"/{bucket}/k?partNumber={number}")
    assert answer.status_code == 400, answer.text
    assert "<Code>InvalidArgument</Code>" in answer.text
    assert "Part number must be an integer between 1 and 10000, inclusive" in answer.text
    assert f"<ArgumentValue>{number}</ArgumentValue>" in answer.text
    assert _signed(server, owner, "HEAD", f"/{bucket}/k?partNumber={number}").status_code == 400


def test_a_part_number_with_a_range_is_invalid_request(
    server: LiveServer, owner: Key, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    answer = _signed(server, owner, "GET", f"/{bucket}/k?partNumber=1", {"Range": "bytes=0-1"})
    assert answer.status_code == 400
    assert "<Code>InvalidRequest</Code>" in answer.text
    assert "Cannot specify both Range header and partNumber query parameter" in answer.text
