"""Object operations with boto3 against a live server."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.live import LiveServer


def test_put_get_head_with_headers_and_metadata(s3: Any, bucket: str) -> None:
    body = os.urandom(10_000)
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/file.bin",
        Body=body,
        ContentType="application/x-test",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="f.bin"',
        ContentLanguage="en",
        CacheControl="max-age=60",
        Expires=datetime(2030, 1, 1, tzinfo=UTC),
        Metadata={"color": "blue", "Mixed-Case": "Value"},
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert got["ContentEncoding"] == "identity"
    assert got["ContentDisposition"] == 'attachment; filename="f.bin"'
    assert got["ContentLanguage"] == "en"
    assert got["CacheControl"] == "max-age=60"
    assert got["Expires"].year == 2030
    assert got["Metadata"] == {"color": "blue", "mixed-case": "Value"}
    head = s3.head_object(Bucket=bucket, Key="dir/file.bin")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == put["ETag"]


def test_empty_object_and_default_content_type(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_unicode_and_odd_keys(s3: Any, bucket: str) -> None:
    keys = [
        "ünïcödé/ключ/鍵.txt",
        "spaces in name",
        "plus+sign=eq&amp",
        "tilde~!*'()",
        "a//b",
        "%41",
    ]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())


def test_key_length_limit(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"ok")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"no")
    assert code(exc) == "KeyTooLongError"


def test_metadata_limit(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="meta", Body=b"x", Metadata={"big": "v" * 2100})
    assert code(exc) == "MetadataTooLarge"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="meta")


def test_overwrite_replaces_whole_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version, longer")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_missing_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="nope")
    assert code(exc) == "NoSuchKey"
    assert status(exc) == 404
    # AWS's error document: Code, Message, Key, RequestId, HostId; no Resource.
    error = exc.value.response["Error"]
    assert set(error) == {"Code", "Message", "Key"} and error["Key"] == "nope"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="nope")
    assert status(exc) == 404


def test_what_is_not_found_is_named_in_the_error_as_aws_names_it(s3: Any, bucket: str) -> None:
    def error(call: Any, **params: Any) -> dict[str, str]:
        with pytest.raises(ClientError) as exc:
            call(**params)
        found: dict[str, str] = exc.value.response["Error"]
        return found

    missing = error(s3.list_objects_v2, Bucket="no-such-bucket-here")
    assert missing["Code"] == "NoSuchBucket" and missing["BucketName"] == "no-such-bucket-here"
    assert missing["Message"] == "The specified bucket does not exist"
    assert error(s3.get_object, Bucket=bucket, Key="a/b c")["Key"] == "a/b c"
    upload = error(s3.list_parts, Bucket=bucket, Key="k", UploadId="nosuchupload")
    assert (upload["Code"], upload["UploadId"]) == ("NoSuchUpload", "nosuchupload")
    s3.put_object(Bucket=bucket, Key="here", Body=b"x")
    taken = error(s3.create_bucket, Bucket=bucket)
    assert taken["BucketName"] == bucket
    kept = error(s3.delete_bucket, Bucket=bucket)
    assert (kept["Code"], kept["BucketName"]) == ("BucketNotEmpty", bucket)
    condition = error(s3.get_object, Bucket=bucket, Key="here", IfMatch='"other"')
    assert condition["Message"] == "At least one of the pre-conditions you specified did not hold"
    assert condition["Condition"] == "If-Match"  # the header that did not hold, as AWS names it


def test_ranges(s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * 40
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    cases = {
        "bytes=0-9": body[:10],
        "bytes=100-": body[100:],
        "bytes=-5": body[-5:],
        "bytes=10200-99999": body[10200:],
    }
    for header, expected in cases.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["Body"].read() == expected
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].endswith(f"/{len(body)}")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=20000-")
    assert code(exc) == "InvalidRange"
    assert status(exc) == 416
    error = exc.value.response["Error"]
    assert error["Message"] == "The requested range is not satisfiable"
    assert (error["ActualObjectSize"], error["RangeRequested"]) == (str(len(body)), "bytes=20000-")
    # A range that covers the whole object answers its checksum, as a plain GET does.
    whole = s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-99999", ChecksumMode="ENABLED")
    plain = s3.get_object(Bucket=bucket, Key="r", ChecksumMode="ENABLED")
    assert whole["ChecksumCRC32"] == plain["ChecksumCRC32"]
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert "ChecksumCRC32" not in part


def test_conditional_reads(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"data")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"data"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert status(exc) == 412
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(exc) == 304
    past = datetime.now(UTC) - timedelta(days=1)
    future = datetime.now(UTC) + timedelta(days=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"data"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=datetime.now(UTC))
    assert status(exc) == 304
    # A date later than now is no valid If-Modified-Since (RFC 9110): ignored, as AWS does.
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)["Body"].read() == b"data"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert status(exc) == 412
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert status(exc) == 412


def test_response_overrides(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket,
        Key="o",
        ResponseContentType="application/json",
        ResponseContentDisposition="attachment",
        ResponseCacheControl="no-cache",
    )
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "attachment"
    assert got["CacheControl"] == "no-cache"


def test_conditional_writes(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert status(exc) == 412 and exc.value.response["Error"]["Condition"] == "If-None-Match"
    etag = s3.head_object(Bucket=bucket, Key="once")["ETag"]
    s3.put_object(Bucket=bucket, Key="once", Body=b"3", IfMatch=etag)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="once", Body=b"4", IfMatch=etag)
    assert status(exc) == 412 and exc.value.response["Error"]["Condition"] == "If-Match"
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"3"
    # As AWS: If-Match takes an ETag, not "*", and a write takes one condition, not both.
    for conditions, header, detail in (
        ({"IfMatch": "*"}, "If-Match", "of If-Match header"),
        ({"IfNoneMatch": etag}, "If-None-Match", "of If-None-Match header"),
        (
            {"IfMatch": etag, "IfNoneMatch": "*"},
            "If-Match,If-None-Match",
            "Multiple conditional request headers",
        ),
    ):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="once", Body=b"5", **conditions)
        assert (code(exc), status(exc)) == ("NotImplemented", 501)
        error = exc.value.response["Error"]
        assert error["Message"] == (
            "A header you provided implies functionality that is not implemented"
        )
        assert error["Header"] == header and detail in error["additionalMessage"]
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"3"


def test_delete_and_delete_missing(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="d")


def test_delete_objects_verbose_and_quiet(s3: Any, bucket: str) -> None:
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"m{i}", Body=b"x")
    out = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "m0"}, {"Key": "m1"}, {"Key": "absent"}]}
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == ["absent", "m0", "m1"]
    out = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "m2"}, {"Key": "m3"}], "Quiet": True}
    )
    assert "Deleted" not in out
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["m4"]


def test_copy_object_directives(s3: Any, bucket: str) -> None:
    s3.create_bucket(Bucket=f"{bucket}-dst")
    s3.put_object(
        Bucket=bucket, Key="src", Body=b"payload", ContentType="text/a", Metadata={"a": "1"}
    )
    s3.copy_object(Bucket=f"{bucket}-dst", Key="c1", CopySource={"Bucket": bucket, "Key": "src"})
    got = s3.get_object(Bucket=f"{bucket}-dst", Key="c1")
    assert got["Body"].read() == b"payload"
    assert got["ContentType"] == "text/a"
    assert got["Metadata"] == {"a": "1"}
    s3.copy_object(
        Bucket=bucket,
        Key="c2",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        ContentType="text/b",
        Metadata={"b": "2"},
    )
    got = s3.get_object(Bucket=bucket, Key="c2")
    assert got["ContentType"] == "text/b"
    assert got["Metadata"] == {"b": "2"}
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert code(exc) == "InvalidRequest"
    s3.copy_object(
        Bucket=bucket,
        Key="src",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        Metadata={"c": "3"},
    )
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"c": "3"}


def test_one_storage_class_and_others_refused(s3: Any, bucket: str) -> None:
    """Nexq keeps every object in STANDARD: asking for it is fine (and makes a copy onto
    itself legal, as on AWS); asking for another class is refused before any byte is
    stored, as S3 refuses a class it does not offer, on every way an object is written."""
    s3.put_object(Bucket=bucket, Key="std", Body=b"standard", StorageClass="STANDARD")
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="std")  # AWS: STANDARD unsaid
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="std")["Contents"]
    assert [o["StorageClass"] for o in listed] == ["STANDARD"]
    copied = s3.copy_object(
        Bucket=bucket,
        Key="std",
        CopySource={"Bucket": bucket, "Key": "std"},
        StorageClass="STANDARD",
    )
    assert copied["CopyObjectResult"]["ETag"] == s3.head_object(Bucket=bucket, Key="std")["ETag"]
    refusals = [
        lambda c: s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass=c),
        lambda c: s3.copy_object(
            Bucket=bucket, Key="cold", CopySource={"Bucket": bucket, "Key": "std"}, StorageClass=c
        ),
        lambda c: s3.copy_object(
            Bucket=bucket, Key="std", CopySource={"Bucket": bucket, "Key": "std"}, StorageClass=c
        ),
        lambda c: s3.create_multipart_upload(Bucket=bucket, Key="cold", StorageClass=c),
    ]
    for refused in refusals:
        for storage_class in ("GLACIER", "STANDARD_IA", "DEEP_ARCHIVE"):
            with pytest.raises(ClientError) as exc:
                refused(storage_class)
            assert status(exc) == 400 and code(exc) == "InvalidStorageClass"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="cold")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    post = s3.generate_presigned_post(
        bucket,
        "cold",
        Fields={"x-amz-storage-class": "GLACIER"},
        Conditions=[{"x-amz-storage-class": "GLACIER"}],
    )
    answer = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"posted")})
    assert answer.status_code == 400 and b"<Code>InvalidStorageClass</Code>" in answer.content
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="cold")


def test_copy_source_conditions(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="s", Body=b"v")["ETag"]
    source = {"Bucket": bucket, "Key": "s"}
    copied = s3.copy_object(Bucket=bucket, Key="ok", CopySource=source, CopySourceIfMatch=etag)
    # The copy's checksum (boto3 sent a CRC32 with the source) is answered, as AWS does.
    head = s3.head_object(Bucket=bucket, Key="s", ChecksumMode="ENABLED")
    assert copied["CopyObjectResult"]["ChecksumCRC32"] == head["ChecksumCRC32"]
    for kwargs, condition in (
        ({"CopySourceIfMatch": '"bad"'}, "x-amz-copy-source-If-Match"),
        ({"CopySourceIfNoneMatch": etag}, "x-amz-copy-source-If-None-Match"),
        ({"CopySourceIfModifiedSince": datetime.now(UTC)}, "x-amz-copy-source-If-Modified-Since"),
        (
            {"CopySourceIfUnmodifiedSince": datetime.now(UTC) - timedelta(days=1)},
            "x-amz-copy-source-If-Unmodified-Since",
        ),
    ):
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=bucket, Key="no", CopySource=source, **kwargs)
        assert status(exc) == 412
        assert exc.value.response["Error"]["Condition"] == condition
    # A date later than now is no valid If-Modified-Since: ignored, as AWS does.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    s3.copy_object(Bucket=bucket, Key="ok", CopySource=source, CopySourceIfModifiedSince=tomorrow)
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="no", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code(exc) == "NoSuchKey"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_checksums_stored_and_returned(s3: Any, bucket: str, algorithm: str) -> None:
    body = os.urandom(3000)
    put = s3.put_object(
        Bucket=bucket, Key=f"ck-{algorithm}", Body=body, ChecksumAlgorithm=algorithm
    )
    sent = put[f"Checksum{algorithm}"]
    head = s3.head_object(Bucket=bucket, Key=f"ck-{algorithm}", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == sent
    got = s3.get_object(Bucket=bucket, Key=f"ck-{algorithm}", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    if algorithm == "SHA256":
        assert sent == base64.b64encode(hashlib.sha256(body).digest()).decode()


def test_checksum_mismatch_is_refused(s3: Any, bucket: str) -> None:
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumSHA256=wrong)
    assert code(exc) in ("BadDigest", "InvalidRequest")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_malformed_checksum_header_is_invalid_request(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumCRC32="not-a-crc")
    assert code(exc) == "InvalidRequest"
    assert "x-amz-checksum-crc32" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_content_md5_mismatch_is_refused(s3: Any, bucket: str) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ContentMD5=wrong)
    assert code(exc) == "BadDigest"
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=bucket, Key="good", Body=b"data", ContentMD5=right)


def test_large_object_streams(s3: Any, bucket: str) -> None:
    body = os.urandom(9 * 1024 * 1024 + 7)
    s3.put_object(Bucket=bucket, Key="large", Body=body)
    assert s3.get_object(Bucket=bucket, Key="large")["Body"].read() == body
    ranged = s3.get_object(Bucket=bucket, Key="large", Range="bytes=1048570-3000000")
    assert ranged["Body"].read() == body[1048570:3000001]


def _server_bytes_read(server: LiveServer) -> int:
    """rchar of the server's processes and their workers (bytes read through read syscalls:
    from files, or from the sockets of a Ceph cluster)."""
    total = 0
    pids = server.pids()
    while pids:
        current = pids.pop()
        try:
            io = Path(f"/proc/{current}/io").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += int(next(line for line in io.splitlines() if line.startswith("rchar:")).split()[1])
        pids += [int(c) for c in children]
    return total


def test_abandoned_download_stops_reading(server: LiveServer, s3: Any, bucket: str) -> None:
    size = 96 * 1024 * 1024
    s3.upload_fileobj(io.BytesIO(b"z" * size), bucket, "abandoned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "abandoned"})
    assert server.pids()
    before = _server_bytes_read(server)
    with httpx.stream("GET", url) as response:
        assert response.status_code == 200
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received >= 2 * 1024 * 1024:
                break
    # Wait until the server's read counter stops moving (it would run on to the whole object
    # if the abandoned stream kept going), then judge how much it read.
    deadline = time.monotonic() + 20
    samples = [_server_bytes_read(server)]
    while time.monotonic() < deadline:
        time.sleep(0.2)
        samples.append(_server_bytes_read(server))
        if len(samples) >= 6 and samples[-1] - samples[-6] < 64 * 1024:
            break
    read = samples[-1] - before
    assert read < size // 2, (
        f"the server read {read} bytes of a {size}-byte download abandoned early"
    )
