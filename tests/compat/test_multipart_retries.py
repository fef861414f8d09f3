"""Multipart correctness with boto3 against a live server: a CompleteMultipartUpload sent again
after it succeeded, the checksum a part of a checksummed upload must carry (UploadPart) or is
given (UploadPartCopy), and GetObjectAttributes of one version."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status
from tests.compat.test_multipart import multipart_etag
from tests.compat.test_versioning import enable
from tests.live import Key, LiveServer

MiB = 1024 * 1024


def _uploaded(
    s3: Any, bucket: str, key: str, parts: list[bytes]
) -> tuple[str, list[dict[str, Any]]]:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    named = []
    for number, data in enumerate(parts, start=1):
        sent = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=data)
        named.append({"PartNumber": number, "ETag": sent["ETag"]})
    return upload, named


def test_complete_sent_twice_answers_the_same_object(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    data = [os.urandom(5 * MiB), b"tail"]
    upload, parts = _uploaded(s3, bucket, "mp", data)
    first = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    # The answer was lost, say: the client sends the very same request again.
    again = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert again["ETag"] == first["ETag"] == multipart_etag(data)
    assert again["VersionId"] == first["VersionId"]
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    listed = s3.list_object_versions(Bucket=bucket, Prefix="mp")["Versions"]
    assert [v["VersionId"] for v in listed] == [first["VersionId"]]  # one object, not two
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(data)

    s3.put_object(Bucket=bucket, Key="mp", Body=b"newer")  # the key moves on
    later = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert (later["ETag"], later["VersionId"]) == (first["ETag"], first["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"newer"

    with pytest.raises(ClientError) as exc:  # another parts list is no retry
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts[:1]}
        )
    assert (status(exc), code(exc)) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:  # nor is anything else done with the upload
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)
    assert code(exc) == "NoSuchUpload"


def _plain(server: LiveServer, owner: Key) -> Any:
    """A client that sends checksums only where S3 requires one (boto3 adds a CRC32 else)."""
    return server.client(owner, request_checksum_calculation="when_required")


def test_a_composite_upload_refuses_a_part_without_its_checksum(
    server: LiveServer, owner: Key, bucket: str
) -> None:
    s3 = _plain(server, owner)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")
    with pytest.raises(ClientError) as exc:
        s3.upload_part(
            Bucket=bucket, Key="k", UploadId=upload["UploadId"], PartNumber=1, Body=b"data"
        )
    assert (status(exc), code(exc)) == (400, "InvalidRequest")
    assert exc.value.response["Error"]["Message"] == (
        "Checksum Type mismatch occurred, expected checksum Type: sha256, "
        "actual checksum Type: null"
    )
    with pytest.raises(ClientError) as exc:
        s3.upload_part(
            Bucket=bucket,
            Key="k",
            UploadId=upload["UploadId"],
            PartNumber=1,
            Body=b"data",
            ChecksumAlgorithm="CRC32",
        )
    assert exc.value.response["Error"]["Message"].endswith("actual checksum Type: crc32")
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload["UploadId"]).get("Parts", []) == []
    sent = s3.upload_part(
        Bucket=bucket,
        Key="k",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"data",
        ChecksumAlgorithm="SHA256",
    )
    assert sent["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"data").digest()).decode()


def test_a_checksum_named_for_a_part_that_has_none_does_not_hold(
    server: LiveServer, owner: Key, bucket: str
) -> None:
    """An upload that declared no checksum, a part sent without one: a Complete naming a
    checksum for it cannot have it checked, and is InvalidPart (as AWS answers), not an
    object whose named checksum nothing ever compared."""
    s3 = _plain(server, owner)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    sent = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"data")
    named = base64.b64encode(hashlib.sha256(b"abc").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": sent["ETag"], "ChecksumSHA256": named}]
            },
        )
    assert (status(exc), code(exc)) == (400, "InvalidPart")
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": sent["ETag"]}]},
    )
    assert done["ETag"]


def test_a_full_object_upload_computes_a_part_checksum_not_sent(
    server: LiveServer, owner: Key, bucket: str
) -> None:
    s3 = _plain(server, owner)
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    sent = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"data")
    assert sent["ChecksumCRC64NVME"]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": sent["ETag"]}]},
    )
    assert done["ChecksumCRC64NVME"] == sent["ChecksumCRC64NVME"]
    assert done["ChecksumType"] == "FULL_OBJECT"


def test_a_copied_part_carries_the_uploads_checksum(s3: Any, bucket: str) -> None:
    body = os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="source", Body=body)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")
    copied = s3.upload_part_copy(
        Bucket=bucket,
        Key="k",
        UploadId=upload["UploadId"],
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
    )["CopyPartResult"]
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert copied["ChecksumSHA256"] == sha
    bare = {"PartNumber": 1, "ETag": copied["ETag"]}
    with pytest.raises(ClientError) as exc:  # a completion must name it, as for any part
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload["UploadId"], MultipartUpload={"Parts": [bare]}
        )
    assert code(exc) == "InvalidRequest"
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{**bare, "ChecksumSHA256": sha}]},
    )
    assert done["ChecksumSHA256"].endswith("-1")
    composite = s3.create_multipart_upload(Bucket=bucket, Key="k2", ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    s3.upload_part_copy(
        Bucket=bucket,
        Key="k2",
        UploadId=composite,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
    )
    plain = s3.create_multipart_upload(Bucket=bucket, Key="plain")["UploadId"]
    unchecked = s3.upload_part_copy(
        Bucket=bucket,
        Key="plain",
        UploadId=plain,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
    )["CopyPartResult"]
    # An upload created without an algorithm shows no part checksum, as AWS's answers: the
    # default one its parts get is the server's, for the completion's whole-object checksum.
    assert [name for name in unchecked if name.startswith("Checksum")] == []
    listed = s3.list_parts(Bucket=bucket, Key="plain", UploadId=plain)
    assert [n for n in listed["Parts"][0] if n.startswith("Checksum")] == []
    assert "ChecksumType" not in listed
    sealed = s3.list_parts(Bucket=bucket, Key="k2", UploadId=composite)
    assert (sealed["ChecksumAlgorithm"], sealed["ChecksumType"]) == ("SHA256", "COMPOSITE")
    assert sealed["Parts"][0]["ChecksumSHA256"] == sha
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="plain",
        UploadId=plain,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": unchecked["ETag"]}]},
    )
    assert done["ChecksumType"] == "FULL_OBJECT" and "ChecksumCRC64NVME" in done


ATTRIBUTES = ["ETag", "ObjectSize"]


def test_object_attributes_of_one_version(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"newer")
    got = s3.get_object_attributes(
        Bucket=bucket, Key="k", VersionId=old["VersionId"], ObjectAttributes=ATTRIBUTES
    )
    assert (got["ETag"], got["ObjectSize"]) == (hashlib.md5(b"old").hexdigest(), 3)
    assert got["VersionId"] == old["VersionId"]
    latest = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ATTRIBUTES)
    assert (latest["ObjectSize"], latest["VersionId"]) == (5, new["VersionId"])

    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    for version in ({"VersionId": marker}, {}):  # named, or the key's latest
        with pytest.raises(ClientError) as exc:
            s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ATTRIBUTES, **version)
        assert (status(exc), code(exc)) == (404, "NoSuchKey")
        headers = exc.value.response["ResponseMetadata"]["HTTPHeaders"]
        assert (headers["x-amz-delete-marker"], headers["x-amz-version-id"]) == ("true", marker)
    still = s3.get_object_attributes(
        Bucket=bucket, Key="k", VersionId=old["VersionId"], ObjectAttributes=ATTRIBUTES
    )
    assert still["ObjectSize"] == 3

    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(
            Bucket=bucket, Key="k", VersionId="0" * 32, ObjectAttributes=ATTRIBUTES
        )
    assert (status(exc), code(exc)) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(
            Bucket=bucket, Key="k", VersionId="not-a-version", ObjectAttributes=ATTRIBUTES
        )
    assert (status(exc), code(exc)) == (400, "InvalidArgument")


def test_object_attributes_of_the_null_version(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    named = s3.get_object_attributes(
        Bucket=bucket, Key="k", VersionId="null", ObjectAttributes=ATTRIBUTES
    )
    assert named["VersionId"] == "null" and named["ObjectSize"] == 1
    unnamed = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ATTRIBUTES)
    assert "VersionId" not in unnamed  # a never-versioned object's answer names no version
