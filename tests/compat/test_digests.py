"""Digests a client sends: a wrong one is BadDigest, one that cannot be a digest is not.

AWS's answers: a checksum header of the right length whose value is not the body's is 400
BadDigest ("The CRC32 you specified did not match the calculated checksum."); one that is no
digest at all is 400 InvalidRequest; a Content-MD5 that is no MD5 is 400 InvalidDigest, a
wrong one BadDigest. A multipart upload created with a (COMPOSITE) checksum algorithm needs
every part's checksum in its CompleteMultipartUpload.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status

MiB = 1024 * 1024
DIGEST_BYTES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    return status(exc), code(exc), str(exc.value.response["Error"]["Message"])


def _gone(s3: Any, bucket: str, key: str) -> bool:
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    return status(exc) == 404


@pytest.mark.parametrize("algorithm", sorted(DIGEST_BYTES))
def test_a_wrong_checksum_of_the_right_length_is_bad_digest(
    s3: Any, bucket: str, algorithm: str
) -> None:
    wrong = base64.b64encode(b"\x01" * DIGEST_BYTES[algorithm]).decode()
    for body in (b"data", os.urandom(2 * MiB)):  # read whole, and streamed
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="bad", Body=body, **{f"Checksum{algorithm}": wrong})
        assert _error(exc) == (
            400,
            "BadDigest",
            f"The {algorithm} you specified did not match the calculated checksum.",
        )
        assert _gone(s3, bucket, "bad")


@pytest.mark.parametrize("algorithm", sorted(DIGEST_BYTES))
def test_a_checksum_that_is_no_digest_is_invalid_request(
    s3: Any, bucket: str, algorithm: str
) -> None:
    too_short = base64.b64encode(b"\x01" * (DIGEST_BYTES[algorithm] - 1)).decode()
    for value in ("not-base64!", too_short):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="bad", Body=b"data", **{f"Checksum{algorithm}": value})
        assert _error(exc) == (
            400,
            "InvalidRequest",
            f"Value for x-amz-checksum-{algorithm.lower()} header is invalid.",
        )
    assert _gone(s3, bucket, "bad")


def test_a_wrong_part_checksum_is_bad_digest(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    wrong = base64.b64encode(b"\x01" * 32).decode()
    with pytest.raises(ClientError) as exc:
        s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"x", ChecksumSHA256=wrong
        )
    assert _error(exc)[:2] == (400, "BadDigest")
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload).get("Parts", []) == []


def test_content_md5_wrong_is_bad_digest_and_malformed_is_invalid_digest(
    s3: Any, bucket: str
) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ContentMD5=wrong)
    assert _error(exc)[:2] == (400, "BadDigest")
    for malformed in ("zzz", base64.b64encode(b"\x01" * 10).decode()):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ContentMD5=malformed)
        assert _error(exc) == (400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
        with pytest.raises(ClientError) as exc:
            s3.upload_part(
                Bucket=bucket,
                Key="mp",
                UploadId=upload,
                PartNumber=1,
                Body=b"data",
                ContentMD5=malformed,
            )
        assert _error(exc)[:2] == (400, "InvalidDigest")
    assert _gone(s3, bucket, "bad")


def _composite_upload(s3: Any, bucket: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")
    parts = []
    for number, data in enumerate((os.urandom(5 * MiB), b"tail"), start=1):
        sent = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm="SHA256",
        )
        parts.append(
            {"PartNumber": number, "ETag": sent["ETag"], "ChecksumSHA256": sent["ChecksumSHA256"]}
        )
    return upload["UploadId"], parts


def test_completing_a_checksummed_upload_needs_every_part_checksum(s3: Any, bucket: str) -> None:
    upload, parts = _composite_upload(s3, bucket, "mp")
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": bare}
        )
    assert _error(exc) == (
        400,
        "InvalidRequest",
        "The upload was created using a sha256 checksum. The complete request must include "
        "the checksum for each part. It was missing for part 1 in the request.",
    )
    other = [{**bare[0], "ChecksumCRC32": "AAAAAA=="}, parts[1]]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": other}
        )
    assert _error(exc) == (
        400,
        "BadDigest",
        "The crc32 you specified for part 1 did not match what we received.",
    )
    assert _gone(s3, bucket, "mp")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert done["ChecksumSHA256"].endswith("-2")
