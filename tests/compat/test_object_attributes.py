"""GetObjectAttributes with boto3 and as raw XML: each attribute, the parts of a multipart
object (listed and paged only when its checksum is COMPOSITE), and AWS's errors."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from awscrt import checksums
from botocore.exceptions import ClientError
from defusedxml import ElementTree

from tests.compat.test_buckets import code, status
from tests.live import Key, LiveServer

MiB = 1024 * 1024
ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _multipart(s3: Any, bucket: str, key: str, **create: Any) -> list[dict[str, Any]]:
    """Three parts (5 MiB, 5 MiB, 4 bytes); returns what UploadPart answered for each."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    extra = {"ChecksumAlgorithm": create["ChecksumAlgorithm"]} if create else {}
    sent = []
    for number, data in enumerate((os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"), 1):
        answer = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=data, **extra
        )
        sent.append({"PartNumber": number, "Size": len(data), **answer})
    parts = [
        {k: v for k, v in p.items() if k == "PartNumber" or k == "ETag" or k.startswith("Checksum")}
        for p in sent
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    return sent


def test_a_single_part_object(s3: Any, bucket: str) -> None:
    body = b"attribute body"
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="k")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert got["ETag"] == hashlib.md5(body).hexdigest()  # S3 compat: without quotes
    assert got["Checksum"] == {
        "ChecksumSHA256": base64.b64encode(hashlib.sha256(body).digest()).decode(),
        "ChecksumType": "FULL_OBJECT",
    }
    assert got["Checksum"]["ChecksumSHA256"] == put["ChecksumSHA256"]
    assert "ObjectParts" not in got  # not a multipart object
    assert (got["StorageClass"], got["ObjectSize"]) == ("STANDARD", len(body))
    assert got["LastModified"] == head["LastModified"]
    headers = got["ResponseMetadata"]["HTTPHeaders"]
    assert "x-amz-version-id" not in headers and "last-modified" in headers
    only = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert not {"ETag", "Checksum", "StorageClass"} & set(only) and only["ObjectSize"] == 14


def crc64nvme(data: bytes) -> str:
    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


def test_without_checksums_an_object_gets_the_default_one(
    server: LiveServer, owner: Key, bucket: str
) -> None:
    """S3 compat: AWS gives every object uploaded without a checksum a CRC64NVME of its
    whole bytes (December 2024), multipart uploads included."""
    # boto3 adds a CRC32 of its own to uploads unless told to send checksums only when needed.
    s3 = server.client(owner, request_checksum_calculation="when_required")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert (put["ChecksumCRC64NVME"], put["ChecksumType"]) == (crc64nvme(b"x"), "FULL_OBJECT")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert got["Checksum"] == {"ChecksumCRC64NVME": crc64nvme(b"x"), "ChecksumType": "FULL_OBJECT"}
    assert "ObjectParts" not in got
    assert (got["ETag"], got["ObjectSize"]) == (hashlib.md5(b"x").hexdigest(), 1)
    _multipart(s3, bucket, "mp")
    whole = s3.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    body = whole["Body"].read()
    assert (whole["ChecksumCRC64NVME"], whole["ChecksumType"]) == (crc64nvme(body), "FULL_OBJECT")
    got = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL)
    assert got["Checksum"] == {"ChecksumCRC64NVME": crc64nvme(body), "ChecksumType": "FULL_OBJECT"}
    assert got["ObjectParts"] == {"TotalPartsCount": 3}
    # A copy keeps its source's checksum; one of a composite source gets its bytes' own.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})
    copied = s3.head_object(Bucket=bucket, Key="copy", ChecksumMode="ENABLED")
    assert copied["ChecksumCRC64NVME"] == crc64nvme(b"x")
    _multipart(s3, bucket, "composite", ChecksumAlgorithm="SHA256")
    s3.copy_object(Bucket=bucket, Key="flat", CopySource={"Bucket": bucket, "Key": "composite"})
    flat = s3.get_object(Bucket=bucket, Key="flat", ChecksumMode="ENABLED")
    data = flat["Body"].read()
    assert flat["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert flat["ChecksumType"] == "FULL_OBJECT"


def test_a_part_is_answered_with_the_checksum_its_client_named(
    server: LiveServer, owner: Key, bucket: str
) -> None:
    """In an upload created without an algorithm, the server gives every part the default
    checksum, but a part sent with a CRC32 is answered with that one header alone."""
    s3 = server.client(owner, request_checksum_calculation="when_required")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="named")["UploadId"]
    plain = s3.upload_part(Bucket=bucket, Key="named", UploadId=upload, PartNumber=1, Body=b"a")
    assert plain["ChecksumCRC64NVME"] == crc64nvme(b"a")
    named = s3.upload_part(
        Bucket=bucket,
        Key="named",
        UploadId=upload,
        PartNumber=2,
        Body=b"b",
        ChecksumAlgorithm="CRC32",
    )
    sent = named["ResponseMetadata"]["HTTPHeaders"]
    assert [h for h in sent if h.startswith("x-amz-checksum-")] == ["x-amz-checksum-crc32"]
    s3.abort_multipart_upload(Bucket=bucket, Key="named", UploadId=upload)


def test_composite_parts_are_listed_and_paged(s3: Any, bucket: str) -> None:
    sent = _multipart(s3, bucket, "mp", ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    got = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL)
    assert got["ETag"] == head["ETag"].strip('"') and got["ETag"].endswith("-3")
    # S3 compat: the composite checksum without the "-3" HeadObject shows.
    assert head["ChecksumSHA256"] == got["Checksum"]["ChecksumSHA256"] + "-3"
    assert got["Checksum"]["ChecksumType"] == "COMPOSITE"
    assert got["ObjectSize"] == 10 * MiB + 4
    parts = got["ObjectParts"]
    assert (parts["TotalPartsCount"], parts["PartNumberMarker"], parts["MaxParts"]) == (3, 0, 1000)
    assert (parts["IsTruncated"], parts["NextPartNumberMarker"]) == (False, 3)
    assert parts["Parts"] == [
        {"PartNumber": p["PartNumber"], "Size": p["Size"], "ChecksumSHA256": p["ChecksumSHA256"]}
        for p in sent
    ]
    first = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2
    )["ObjectParts"]
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert (first["IsTruncated"], first["NextPartNumberMarker"], first["MaxParts"]) == (
        True,
        2,
        2,
    )
    rest = s3.get_object_attributes(
        Bucket=bucket,
        Key="mp",
        ObjectAttributes=["ObjectParts"],
        MaxParts=2,
        PartNumberMarker=first["NextPartNumberMarker"],
    )["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert (rest["IsTruncated"], rest["PartNumberMarker"], rest["NextPartNumberMarker"]) == (
        False,
        2,
        3,
    )
    past = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1, PartNumberMarker=10
    )["ObjectParts"]
    assert "Parts" not in past and past["NextPartNumberMarker"] == 0  # as AWS, and ListParts


def test_full_object_parts_are_only_counted(s3: Any, bucket: str) -> None:
    _multipart(s3, bucket, "crc", ChecksumAlgorithm="CRC64NVME")
    got = s3.get_object_attributes(Bucket=bucket, Key="crc", ObjectAttributes=ALL)
    assert got["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    assert not got["Checksum"]["ChecksumCRC64NVME"].endswith("-3")
    assert got["ObjectParts"] == {"TotalPartsCount": 3}


def test_the_xml_document(s3: Any, bucket: str) -> None:
    _multipart(s3, bucket, "mp", ChecksumAlgorithm="CRC32C")
    seen: list[bytes] = []
    s3.meta.events.register(
        "before-parse.s3.GetObjectAttributes",
        lambda response_dict, **_: seen.append(response_dict["body"]),
    )
    s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL, MaxParts=1)
    root = ElementTree.fromstring(seen[0])
    assert root.tag == f"{NS}GetObjectAttributesResponse"
    assert [child.tag.removeprefix(NS) for child in root] == ALL
    parts = root.find(f"{NS}ObjectParts")
    assert parts is not None
    assert [child.tag.removeprefix(NS) for child in parts] == [
        "PartsCount",
        "PartNumberMarker",
        "NextPartNumberMarker",
        "MaxParts",
        "IsTruncated",
        "Part",
    ]
    part = parts.find(f"{NS}Part")
    assert part is not None
    assert [c.tag.removeprefix(NS) for c in part] == ["PartNumber", "Size", "ChecksumCRC32C"]


def _refusal(s3: Any, bucket: str, key: str, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key=key, **kwargs)
    return status(exc), code(exc), str(exc.value.response["Error"].get("Message"))


def test_refusals(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert _refusal(s3, bucket, "missing", ObjectAttributes=["ETag"])[:2] == (404, "NoSuchKey")
    assert _refusal(s3, bucket, "k", ObjectAttributes=["ETag", "Bogus"]) == (
        400,
        "InvalidArgument",
        "Invalid attribute name specified.",
    )
    assert _refusal(s3, bucket, "k", ObjectAttributes=[]) == (
        400,
        "InvalidRequest",
        "The x-amz-object-attributes header specifying the attributes to be retrieved is "
        "either missing or empty",
    )
    assert _refusal(s3, "no-such-bucket-attrs", "k", ObjectAttributes=["ETag"])[:2] == (
        404,
        "NoSuchBucket",
    )
