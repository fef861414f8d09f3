"""Multipart uploads with boto3: every operation, S3's checks, and the resulting ETag."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.compat.test_buckets import code, status

MiB = 1024 * 1024


def multipart_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def test_full_cycle(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ContentType="video/x-test", Metadata={"m": "1"}
    )["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in listed] == [upload]
    etags = []
    for number, data in enumerate(parts, start=1):
        etags.append(
            s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=number, Body=data)[
                "ETag"
            ]
        )
    listed_parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in listed_parts] == [1, 2, 3]
    assert [p["Size"] for p in listed_parts] == [len(p) for p in parts]
    page = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload, MaxParts=2)
    assert page["IsTruncated"] is True
    assert page["NextPartNumberMarker"] == 2
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    assert done["ETag"] == multipart_etag(parts)
    assert done["Location"] == f"{s3.meta.endpoint_url}/{bucket}/mp"  # a URL, as AWS gives
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"".join(parts)
    assert "PartsCount" not in got  # only to a read of one part, as AWS answers
    assert got["ContentType"] == "video/x-test"
    assert got["Metadata"] == {"m": "1"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    second = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert second["Body"].read() == parts[1]
    assert second["PartsCount"] == 3
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)
    assert code(exc) == "NoSuchUpload"


def test_part_too_small(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=upload, PartNumber=1, Body=b"a" * 100)[
        "ETag"
    ]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=upload, PartNumber=2, Body=b"b" * 100)[
        "ETag"
    ]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="small",
            UploadId=upload,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]
            },
        )
    assert code(exc) == "EntityTooSmall"
    # A single small part is allowed: the last part may be any size.
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="small",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]},
    )
    assert done["ETag"] == multipart_etag([b"a" * 100])
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"a" * 100


def test_wrong_order_wrong_etag_missing_part(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="o")["UploadId"]
    e1 = s3.upload_part(
        Bucket=bucket, Key="o", UploadId=upload, PartNumber=1, Body=b"x" * (5 * MiB)
    )["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="o", UploadId=upload, PartNumber=2, Body=b"y")["ETag"]
    cases = {
        "InvalidPartOrder": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}],
        "InvalidPart": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}],
    }
    for expected, parts in cases.items():
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="o", UploadId=upload, MultipartUpload={"Parts": parts}
            )
        assert code(exc) == expected
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="o",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 3, "ETag": e2}]},
        )
    assert code(exc) == "InvalidPart"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="o")


def test_a_complete_naming_no_part_or_no_upload(s3: Any, bucket: str) -> None:
    """As AWS: an upload id that names nothing is NoSuchUpload whatever the document; a
    document without parts is 400 InvalidRequest, and the upload stays."""
    for parts in ({"Parts": []}, None):
        extra = {} if parts is None else {"MultipartUpload": parts}
        with pytest.raises(ClientError) as missing:
            s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId="fakeid", **extra)
        assert code(missing) == "NoSuchUpload"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    with pytest.raises(ClientError) as empty:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="m", UploadId=upload, MultipartUpload={"Parts": []}
        )
    assert code(empty) == "InvalidRequest"
    assert empty.value.response["Error"]["Message"] == "You must specify at least one part"
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload]


def test_uploads_listed_with_a_delimiter_roll_up_as_keys_do(s3: Any, bucket: str) -> None:
    """ListMultipartUploads with a delimiter: CommonPrefixes as ListObjects gives them, each
    an entry of the page; a marker that is a prefix resumes after every upload under it."""
    keys = ["folder/aSubfolder/subFile1", "folder/aSubfolder/subFile2", "folder/file1", "top"]
    for key in keys:
        s3.create_multipart_upload(Bucket=bucket, Key=key)
    grouped = s3.list_multipart_uploads(Bucket=bucket, Prefix="folder/", Delimiter="/")
    assert [u["Key"] for u in grouped["Uploads"]] == ["folder/file1"]
    assert grouped["CommonPrefixes"] == [{"Prefix": "folder/aSubfolder/"}]
    assert grouped["Delimiter"] == "/" and grouped["IsTruncated"] is False
    first = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", MaxUploads=1)
    assert (first["CommonPrefixes"], first.get("Uploads")) == ([{"Prefix": "folder/"}], None)
    assert first["IsTruncated"] is True and first["NextKeyMarker"] == "folder/"
    rest = s3.list_multipart_uploads(
        Bucket=bucket, Delimiter="/", KeyMarker=first["NextKeyMarker"], UploadIdMarker=""
    )
    assert [u["Key"] for u in rest["Uploads"]] == ["top"] and "CommonPrefixes" not in rest
    after_a_key = s3.list_multipart_uploads(
        Bucket=bucket, Prefix="folder/", Delimiter="/", KeyMarker="folder/aSubfolder/subFile1"
    )
    assert [u["Key"] for u in after_a_key["Uploads"]] == ["folder/file1"]
    assert "CommonPrefixes" not in after_a_key
    flat = s3.list_multipart_uploads(Bucket=bucket)
    assert [u["Key"] for u in flat["Uploads"]] == keys and "CommonPrefixes" not in flat
    # As AWS: where a next page would start is named even when the listing is complete.
    assert flat["IsTruncated"] is False
    assert (flat["NextKeyMarker"], flat["NextUploadIdMarker"]) == (
        keys[-1],
        flat["Uploads"][-1]["UploadId"],
    )


def test_part_number_limits(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="n")["UploadId"]
    for number in (0, 10001):
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=bucket, Key="n", UploadId=upload, PartNumber=number, Body=b"x")
        assert code(exc) == "InvalidArgument"
    s3.upload_part(Bucket=bucket, Key="n", UploadId=upload, PartNumber=10000, Body=b"x")


def test_abort_discards(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="a")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="a", UploadId=upload, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="a", UploadId=upload)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="a", UploadId=upload, PartNumber=2, Body=b"x")
    assert code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="a", UploadId="not-an-upload")
    assert code(exc) == "NoSuchUpload"


def test_replacing_a_part(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="r")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="r", UploadId=upload, PartNumber=1, Body=b"old")
    etag = s3.upload_part(Bucket=bucket, Key="r", UploadId=upload, PartNumber=1, Body=b"new")[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="r",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key="r")["Body"].read() == b"new"


def test_upload_part_copy_with_range(s3: Any, bucket: str) -> None:
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    p1 = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    p2 = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes={5 * MiB}-{6 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    assert p1 == f'"{hashlib.md5(source[: 5 * MiB]).hexdigest()}"'
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="dst",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]},
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source
    with pytest.raises(ClientError) as exc:
        upload = s3.create_multipart_upload(Bucket=bucket, Key="dst2")["UploadId"]
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst2",
            UploadId=upload,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange=f"bytes=0-{7 * MiB}",
        )
    assert code(exc) == "InvalidArgument"
    error = exc.value.response["Error"]
    assert error["Message"] == f"Range specified is not valid for source object of size: {6 * MiB}"
    assert (error["ArgumentName"], error["ArgumentValue"]) == (
        "x-amz-copy-source-range",
        f"bytes=0-{7 * MiB}",
    )
    with pytest.raises(ClientError) as past:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst2",
            UploadId=upload,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange=f"bytes={7 * MiB}-{8 * MiB}",
        )
    assert code(past) == "InvalidRequest"
    assert past.value.response["Error"]["Message"] == (
        "The specified copy range is invalid for the source object size"
    )


def test_conditional_complete(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="exists", Body=b"x")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="exists")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="exists", UploadId=upload, PartNumber=1, Body=b"y")[
        "ETag"
    ]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="exists",
            UploadId=upload,
            IfNoneMatch="*",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    current = s3.head_object(Bucket=bucket, Key="exists")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="exists",
        UploadId=upload,
        IfMatch=current,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"y"
    # As AWS: the key written since the upload began is a conflict (409) even when the ETag
    # matches; a new upload then completes.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="exists")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="exists", UploadId=upload, PartNumber=1, Body=b"z")[
        "ETag"
    ]
    before = s3.head_object(Bucket=bucket, Key="exists")["ETag"]
    current = s3.put_object(Bucket=bucket, Key="exists", Body=b"w")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    # An ETag that is no longer the key's fails first (412), as on AWS.
    with pytest.raises(ClientError) as stale:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="exists", UploadId=upload, IfMatch=before, MultipartUpload=parts
        )
    assert (status(stale), stale.value.response["Error"]["Code"]) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as conflict:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="exists", UploadId=upload, IfMatch=current, MultipartUpload=parts
        )
    error = conflict.value.response["Error"]
    assert (status(conflict), error["Code"]) == (409, "ConditionalRequestConflict")
    assert (error["Condition"], error["Key"]) == ("If-Match", "exists")
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"w"
    again = s3.create_multipart_upload(Bucket=bucket, Key="exists")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="exists", UploadId=again, PartNumber=1, Body=b"v")[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="exists",
        UploadId=again,
        IfMatch=current,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"v"


def test_if_none_match_complete_after_the_key_was_deleted(s3: Any, bucket: str) -> None:
    """As AWS: the key written during the upload makes If-None-Match fail (412); once it is
    deleted, the completion conflicts (409): start a new upload, which then completes."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload, PartNumber=1, Body=b"y")[
        "ETag"
    ]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")

    def complete(upload_id: str, parts: dict[str, Any]) -> Any:
        return s3.complete_multipart_upload(
            Bucket=bucket, Key="gone", UploadId=upload_id, IfNoneMatch="*", MultipartUpload=parts
        )

    with pytest.raises(ClientError) as exists:
        complete(upload, parts)
    assert (status(exists), exists.value.response["Error"]["Code"]) == (412, "PreconditionFailed")
    s3.delete_object(Bucket=bucket, Key="gone")
    with pytest.raises(ClientError) as conflict:
        complete(upload, parts)
    error = conflict.value.response["Error"]
    assert (status(conflict), error["Code"]) == (409, "ConditionalRequestConflict")
    assert (error["Condition"], error["Key"]) == ("If-None-Match", "gone")
    assert error["Message"] == (  # one line, as AWS's
        "The conditional request cannot succeed due to a conflicting operation against this "
        "resource."
    )
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="gone")
    again = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="gone", UploadId=again, PartNumber=1, Body=b"z")[
        "ETag"
    ]
    complete(again, {"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="gone")["Body"].read() == b"z"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA256", "CRC64NVME"])
def test_multipart_checksums(s3: Any, bucket: str, algorithm: str) -> None:
    body = os.urandom(11 * MiB)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_fileobj(
        io.BytesIO(body),
        bucket,
        f"ck-{algorithm}",
        Config=config,
        ExtraArgs={"ChecksumAlgorithm": algorithm},
    )
    head = s3.head_object(Bucket=bucket, Key=f"ck-{algorithm}", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"')
    assert f"Checksum{algorithm}" in head
    assert s3.get_object(Bucket=bucket, Key=f"ck-{algorithm}")["Body"].read() == body


def test_transfer_manager_roundtrip(s3: Any, bucket: str, tmp_path: Any) -> None:
    body = os.urandom(21 * MiB)
    config = TransferConfig(
        multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4
    )
    s3.upload_fileobj(io.BytesIO(body), bucket, "tm", Config=config)
    target = tmp_path / "down"
    s3.download_file(bucket, "tm", str(target), Config=config)
    assert target.read_bytes() == body


def test_deleting_a_bucket_discards_its_unfinished_uploads(s3: Any) -> None:
    # As AWS: an unfinished upload does not keep a bucket (only objects and versions do).
    s3.create_bucket(Bucket="pending-uploads")
    upload = s3.create_multipart_upload(Bucket="pending-uploads", Key="pending")
    s3.upload_part(
        Bucket="pending-uploads",
        Key="pending",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"x" * 1024,
    )
    s3.delete_bucket(Bucket="pending-uploads")
    with pytest.raises(ClientError) as gone:
        s3.head_bucket(Bucket="pending-uploads")
    assert gone.value.response["Error"]["Code"] == "404"
    s3.create_bucket(Bucket="pending-uploads")  # the name is free, and nothing came back
    assert s3.list_multipart_uploads(Bucket="pending-uploads").get("Uploads", []) == []
    s3.delete_bucket(Bucket="pending-uploads")


def _pages_of_uploads(s3: Any, bucket: str, max_uploads: int) -> Iterator[list[dict[str, Any]]]:
    """ListMultipartUploads page by page, resuming from NextKeyMarker and NextUploadIdMarker."""
    markers: dict[str, str] = {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=max_uploads, **markers)
        uploads = page.get("Uploads", [])
        assert len(uploads) <= max_uploads
        yield uploads
        if not page["IsTruncated"]:
            return
        assert page["NextKeyMarker"] == uploads[-1]["Key"]
        assert page["NextUploadIdMarker"] == uploads[-1]["UploadId"]
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}


def test_paging_uploads_of_one_key_lists_each_once(s3: Any, bucket: str) -> None:
    # Issue 17: 30 uploads of one key paged by 7 listed 40 entries, 17 distinct; the rest,
    # never listed, were never cleaned up and their parts kept counting toward the quota.
    begun = [s3.create_multipart_upload(Bucket=bucket, Key="same")["UploadId"] for _ in range(30)]
    listed = [u["UploadId"] for page in _pages_of_uploads(s3, bucket, 7) for u in page]
    assert listed == begun  # each once, in initiation order
    paginator = s3.get_paginator("list_multipart_uploads")
    pages = paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 7})
    assert [u["UploadId"] for page in pages for u in page.get("Uploads", [])] == begun
    # S3 compat: a key-marker without an upload-id-marker starts after every upload of the key.
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket, KeyMarker="same")
    # A clean-up tool aborts each page before asking for the next: the marker's upload is gone.
    for page in _pages_of_uploads(s3, bucket, 7):
        for upload in page:
            s3.abort_multipart_upload(Bucket=bucket, Key="same", UploadId=upload["UploadId"])
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_an_upload_id_marker_of_another_key_is_refused(s3: Any, bucket: str) -> None:
    """As AWS: the upload-id-marker must be an upload of the key-marker; and a listing that
    names no prefix has no Prefix element."""
    b = s3.create_multipart_upload(Bucket=bucket, Key="test_b")["UploadId"]
    s3.create_multipart_upload(Bucket=bucket, Key="test_c")
    with pytest.raises(ClientError) as refused:
        s3.list_multipart_uploads(Bucket=bucket, KeyMarker="test_c", UploadIdMarker=b)
    error = refused.value.response["Error"]
    assert (status(refused), error["Code"], error["Message"]) == (
        400,
        "InvalidArgument",
        "Invalid uploadId marker",
    )
    assert (error["ArgumentName"], error["ArgumentValue"]) == ("upload-id-marker", b)
    after_b = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="test_b", UploadIdMarker=b)
    assert [u["Key"] for u in after_b["Uploads"]] == ["test_c"]
    assert "Prefix" not in after_b
    assert s3.list_multipart_uploads(Bucket=bucket, Prefix="test_")["Prefix"] == "test_"
